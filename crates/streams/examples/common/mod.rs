//! What the examples share: cluster arguments, logging, and stopping on Ctrl-C or SIGTERM.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use runnel_streams::runtime::{Guarantee, StreamsConfig};

/// Where the cluster is and how to process.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// Bootstrap servers of runnel or any Kafka cluster.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The application id: the consumer group and the prefix of internal topics. Instances
    /// with the same id share the work.
    #[arg(long)]
    pub application_id: String,
    /// Exactly-once processing (transactions; read_committed input) instead of at-least-once.
    #[arg(long)]
    pub exactly_once: bool,
    /// How often progress is committed (default: 30000 at-least-once, 100 exactly-once).
    #[arg(long)]
    pub commit_interval_ms: Option<u64>,
    /// Keep state stores on disk here (bounded memory; a restart restores only what the
    /// changelogs gained since the last clean stop or commit) instead of in memory.
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
    /// Any librdkafka property for every client, as key=value (repeatable).
    #[arg(short = 'X', value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{text:?} is not key=value"))
}

impl AppArgs {
    /// The streams configuration these arguments describe.
    pub fn config(&self) -> StreamsConfig {
        let guarantee = if self.exactly_once { Guarantee::ExactlyOnce } else { Guarantee::AtLeastOnce };
        let mut config = StreamsConfig::new(&self.brokers, &self.application_id, guarantee);
        if let Some(ms) = self.commit_interval_ms {
            config.commit_interval = Duration::from_millis(ms);
        }
        config.state_dir = self.state_dir.clone();
        for (k, v) in &self.properties {
            config = config.set(k, v);
        }
        config
    }
}

/// Logs to stderr at `RUNNEL_LOG` (default info, with the disk stores' own logs at warn).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNNEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// A flag set on Ctrl-C or SIGTERM, so the application commits and leaves its group.
pub fn stop_on_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a signal runtime");
        runtime.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        flag.store(true, Ordering::Relaxed);
    });
    stop
}
