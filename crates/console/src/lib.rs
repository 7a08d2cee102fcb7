//! runnel's console: topics, groups, charts of rates and lag over time, and alerts, on the
//! HTTP listener beside `/metrics`. One set of pages over two sources ([`source::Source`]): the
//! broker in-process for `runnel serve`, any Kafka cluster through the protocol for `runnel
//! monitor`.
//!
//! Every `console.sample.interval.ms` the console takes a snapshot of the cluster, keeps a
//! [`sample::Sample`] of it in [`history`] (memory and a log on disk, so it survives restarts),
//! evaluates the [`alerts`] rules over that history, and posts what fired or resolved to the
//! [`webhook`]. The [`pages`] render the newest snapshot and the history.

pub mod alerts;
pub mod broker_source;
pub mod history;
pub mod pages;
pub mod sample;
pub mod settings;
pub mod source;
pub mod webhook;

use std::sync::{Arc, Mutex, MutexGuard};

use alerts::{Alerts, Transition};
use history::{History, HistoryLog};
use sample::Sample;
use settings::ConsoleSettings;
use source::{Snapshot, Source};
use webhook::Webhook;

/// The console: its source, settings, history and alert state.
pub struct Console {
    source: Arc<dyn Source>,
    settings: ConsoleSettings,
    log: HistoryLog,
    webhook: Option<Webhook>,
    external_url: String,
    state: Mutex<State>,
    /// Set by [`Console::stop`]; held while a sample is written, so none is written after.
    stopped: Mutex<bool>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").field("source", &self.source.describe()).finish_non_exhaustive()
    }
}

/// What changes as the console runs.
#[derive(Debug)]
pub struct State {
    /// Samples, oldest first.
    pub history: History,
    /// Pending, firing and resolved alerts.
    pub alerts: Alerts,
    /// The newest snapshot and when it was taken.
    pub latest: Option<(i64, Snapshot)>,
    /// Why the newest read of the cluster failed, if it did.
    pub last_error: Option<String>,
    /// How long the newest sample took to read the cluster.
    pub last_sample_took: std::time::Duration,
}

impl Console {
    /// A console over `source`, keeping history in `log` (loaded by [`Console::run`] before
    /// its first sample). `external_url` is where it is served, for links in webhook
    /// notifications. Must be called within a Tokio runtime when a webhook is set.
    pub fn open(
        source: Arc<dyn Source>,
        log: HistoryLog,
        settings: ConsoleSettings,
        external_url: String,
    ) -> Arc<Console> {
        let history = History::new(settings.retention.as_millis() as i64, settings.max_bytes);
        let webhook = settings.webhook.clone().map(Webhook::start);
        Arc::new(Console {
            source,
            settings,
            log,
            webhook,
            external_url,
            state: Mutex::new(State {
                history,
                alerts: Alerts::default(),
                latest: None,
                last_error: None,
                last_sample_took: std::time::Duration::ZERO,
            }),
            stopped: Mutex::new(false),
        })
    }

    /// Reads the history kept in the log into memory. Blocking; a history that cannot be read
    /// is logged and left behind (new samples are still kept).
    pub fn load_history(&self) {
        let started = std::time::Instant::now();
        let mut history = History::new(self.settings.retention.as_millis() as i64, self.settings.max_bytes);
        let count = match self.log.load(|sample| history.push(sample)) {
            Ok(count) => count,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot read the console history; starting without it");
                return;
            }
        };
        let mut state = self.state();
        // Samples taken while loading (none when called from `run`) come after.
        for sample in state.history.samples() {
            history.push(sample.clone());
        }
        state.history = history;
        let took_ms = started.elapsed().as_millis() as u64;
        tracing::info!(samples = count, kept = state.history.len(), took_ms, "console history loaded");
    }

    /// The settings in force.
    pub fn settings(&self) -> &ConsoleSettings {
        &self.settings
    }

    /// What is watched, for titles.
    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// The changing state, locked.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the history, then samples the cluster every `console.sample.interval.ms`, forever.
    pub async fn run(self: Arc<Self>) {
        let console = self.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || console.load_history()).await {
            tracing::error!(error = %e, "loading the console history failed");
        }
        let mut ticks = tokio::time::interval(self.settings.sample_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let console = self.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || console.sample_now(now_ms())).await {
                tracing::error!(error = %e, "a console sample failed");
            }
        }
    }

    /// Stops writing history: once this returns, no sample is being written or will be (the
    /// broker can close its logs).
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }

    /// Takes one sample at `now`: reads the cluster, records history, evaluates the alerts and
    /// sends what fired or resolved. Blocking.
    pub fn sample_now(&self, now: i64) {
        let started = std::time::Instant::now();
        let (sample, snapshot, error) = match self.source.snapshot() {
            Ok(snapshot) => (Sample::of(&snapshot, now), Some(snapshot), None),
            Err(e) => (Sample::down(now), None, Some(format!("{e:#}"))),
        };
        let stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        if *stopped {
            return;
        }
        if let Err(e) = self.log.append(&sample) {
            tracing::warn!(error = %e, "cannot store a console sample; it is kept in memory only");
        }
        drop(stopped);
        let transitions = {
            let mut state = self.state();
            state.history.push(sample);
            if let Some(snapshot) = snapshot {
                state.latest = Some((now, snapshot));
            }
            state.last_error = error;
            state.last_sample_took = started.elapsed();
            let State { history, alerts, .. } = &mut *state;
            alerts.evaluate(history, &self.settings)
        };
        for Transition(alert) in transitions {
            tracing::info!(alert = alert.name(), status = alert.status(), summary = %alert.summary, "alert");
            if let Some(webhook) = &self.webhook {
                webhook.send(webhook::payload(&alert, &self.external_url));
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
