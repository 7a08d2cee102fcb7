//! A progress bar on stderr for long runs, drawn only when stderr is a terminal, so scripts
//! and `--output json` see clean output.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows a shared counter against a total number of records or a time limit.
pub struct Progress {
    bar: ProgressBar,
    done: Arc<AtomicU64>,
    stop: Arc<AtomicU64>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts a bar for `what` that follows `done` up to `total` records, or over `limit`.
    pub fn start(what: &str, total: Option<u64>, limit: Option<Duration>, done: Arc<AtomicU64>) -> Progress {
        let length = total.unwrap_or_else(|| limit.map_or(0, |l| l.as_millis() as u64));
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{prefix} [{bar:30}] {pos}/{len} records ({per_sec}, eta {eta})"
        } else {
            "{prefix} [{bar:30}] {msg}"
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar.set_prefix(what.to_string());
        let stop = Arc::new(AtomicU64::new(0));
        let ticker = {
            let (bar, done, stop) = (bar.clone(), done.clone(), stop.clone());
            let started = std::time::Instant::now();
            std::thread::spawn(move || {
                while stop.load(Ordering::Relaxed) == 0 {
                    let n = done.load(Ordering::Relaxed);
                    if total.is_some() {
                        bar.set_position(n);
                    } else {
                        bar.set_position(started.elapsed().as_millis() as u64);
                        bar.set_message(format!("{n} records"));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Progress { bar, done, stop, ticker: Some(ticker) }
    }

    /// The shared counter.
    pub fn counter(&self) -> &Arc<AtomicU64> {
        &self.done
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(1, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.bar.finish_and_clear();
    }
}
