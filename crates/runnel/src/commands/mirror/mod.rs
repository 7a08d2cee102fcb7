//! `runnel mirror`: copies topics from one Kafka-compatible cluster to another, in one process
//! (an rdkafka consumer on the source, an idempotent producer on the target), as MirrorMaker 2
//! does without a Connect cluster. Modules: `naming` (which topics, and their names on the
//! target), `topics` (creating and growing the copies), `copier` (the records), `stats` (what
//! `/metrics` serves).
//!
//! Guarantee: at least once. A record's source offset is committed only once the target has
//! acknowledged it, so a mirror killed at any moment resumes with nothing lost; what it copied
//! after its last commit (one second at most) is copied again.

mod copier;
mod naming;
mod stats;
mod topics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rdkafka::config::ClientConfig;

use naming::ReplicationPolicy;
use stats::MirrorStats;
use topics::Cluster;

/// `runnel mirror` options (MirrorMaker 2's names where it has one).
#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// Bootstrap servers of the cluster to copy from.
    #[arg(long)]
    pub source: String,
    /// Bootstrap servers of the cluster to copy to.
    #[arg(long)]
    pub target: String,
    /// Source topics to mirror: a regular expression the whole name must match.
    #[arg(long)]
    pub topics: String,
    /// The source cluster's alias: its topics are named `<alias>.<topic>` on the target.
    #[arg(long, default_value = "source")]
    pub source_alias: String,
    /// The target cluster's alias: source topics named `<alias>.<topic>` came from the target
    /// and are never copied back (two mirrors running opposite ways do not loop).
    #[arg(long, default_value = "target")]
    pub target_alias: String,
    /// Keep topic names on the target (one-way migration).
    #[arg(long)]
    pub identity: bool,
    /// How often new or grown source topics are looked for.
    #[arg(long, default_value_t = 5.0)]
    pub refresh_topics_secs: f64,
    /// Where `/metrics` is served (`off`: nowhere; port 0: any free port, logged).
    #[arg(long, default_value = "127.0.0.1:9645")]
    pub http_listen: String,
    /// After how long without a record reaching the target, while records wait on the
    /// source, the mirror counts as stalled (`runnel_mirror_stalled`).
    #[arg(long, default_value_t = 30.0)]
    pub stall_secs: f64,
    /// A librdkafka property for both sides (`-X key=value`), or for one with `source.` or
    /// `target.` in front (`-X target.compression.type=zstd`).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = super::client::parse_key_value)]
    pub properties: Vec<(String, String)>,
}

impl MirrorArgs {
    /// A client config for one side, with the properties meant for it.
    fn config(&self, side: &str, brokers: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers).set("log_level", "3");
        for (key, value) in &self.properties {
            match key.split_once('.') {
                Some((prefix, rest)) if prefix == side => config.set(rest, value),
                Some((prefix, _)) if prefix == "source" || prefix == "target" => &mut config,
                _ => config.set(key, value),
            };
        }
        config
    }
}

/// Runs `runnel mirror` until Ctrl-C or SIGTERM.
pub fn run(args: MirrorArgs) -> anyhow::Result<()> {
    super::logging::init();
    let policy = ReplicationPolicy::new(&args.source_alias, &args.target_alias, args.identity, &args.topics)?;
    let source_config = args.config("source", &args.source);
    let target_config = args.config("target", &args.target);
    let source = Cluster::connect("source", &source_config, &args.source)?;
    let target = Cluster::connect("target", &target_config, &args.target)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let group = format!("runnel-mirror-{}-{}", policy.source_alias, policy.target_alias);
    let stats = Arc::new(MirrorStats::new(Duration::from_secs_f64(args.stall_secs.max(0.0))));
    if args.http_listen != "off" {
        serve_metrics(&args.http_listen, stats.clone(), policy.source_alias.clone(), policy.target_alias.clone())?;
    }
    let mut copier = copier::Copier::new(&source_config, &target_config, &group, stats)?;
    let stop = super::stop_signal::stop_on_signal();
    let refresh = Duration::from_secs_f64(args.refresh_topics_secs.max(0.1));
    let mut last_refresh: Option<Instant> = None;
    tracing::info!(source = %args.source, target = %args.target, topics = %args.topics, group, "mirror running");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if last_refresh.is_none_or(|at| at.elapsed() >= refresh) {
            let first = last_refresh.is_none();
            last_refresh = Some(Instant::now());
            match topics::sync(&policy, &source, &target, &runtime) {
                Ok(mirrored) => copier.follow(&mirrored)?,
                // At start a cluster that does not answer is a mistake to report; later it is
                // an outage to ride out (the clients reconnect, records wait in the queues).
                Err(e) if first => return Err(e.context("keep the target's topics in step")),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "topics not refreshed; trying again"),
            }
        }
        copier.step()?;
    }
    copier.finish()?;
    tracing::info!(
        copied = copier.copied(),
        "mirror stopped; every copied record acknowledged and its offset committed"
    );
    Ok(())
}

/// Serves `/metrics` on `listen` from a thread of its own; the address is logged.
fn serve_metrics(listen: &str, stats: Arc<MirrorStats>, source: String, target: String) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(listen).with_context(|| {
        format!("listen on {listen} for /metrics (another mirror there? pass --http-listen off or another address)")
    })?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "mirror metrics at http://{address}/metrics");
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return tracing::error!(error = %e, "no runtime for /metrics"),
        };
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let text = stats.render(&source, &target);
                    async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
                }),
            );
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "/metrics stopped; mirroring goes on");
                    }
                }
                Err(e) => tracing::error!(error = %e, "/metrics not served; mirroring goes on"),
            }
        });
    });
    Ok(())
}
