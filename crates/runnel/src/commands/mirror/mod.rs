//! `runnel mirror`: copies topics from one Kafka-compatible cluster to another, in one process
//! (an rdkafka consumer on the source, an idempotent producer on the target), as MirrorMaker 2
//! does without a Connect cluster. Modules: `naming` (which topics, and their names on the
//! target), `topics` (creating and growing the copies), `copier` (the records, through
//! librdkafka's producer or, to a single-broker target, `appending_writer`), `offset_map`
//! and `offset_syncs` (exact offset translation), `checkpoints` (group offsets carried over),
//! `heartbeats`, `mm2_records` (MirrorMaker 2's formats), `stats` (what `/metrics` serves).
//! With `--preserve-offsets` (a runnel target) `preserving_copier` writes through
//! `link_writer` and `link_batch` instead, at the source's offsets, and `promote` turns the
//! copies into ordinary topics.
//!
//! Guarantee: at least once. A record's source offset is committed only once the target has
//! acknowledged it, so a mirror killed at any moment resumes with nothing lost; what it copied
//! after its last commit (one second at most) is copied again. `--exactly-once` and
//! `--preserve-offsets` write each record once.

mod acknowledgements;
mod appending_writer;
mod checkpoints;
mod copier;
mod heartbeats;
mod link_batch;
mod link_writer;
mod mm2_properties;
mod mm2_records;
mod naming;
mod offset_map;
mod offset_syncs;
mod preserving_copier;
mod promote;
mod source_reader;
mod stats;
mod status_page;
mod topics;
mod transactions;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use rdkafka::config::ClientConfig;

use crate::commands::wire::{ClientSecurity, Connection};

use checkpoints::{GroupFilter, GroupSync, Translation};
use naming::ReplicationPolicy;
use offset_syncs::SyncLog;
use stats::MirrorStats;
use topics::Cluster;

/// `runnel mirror` options (MirrorMaker 2's names where it has one). Those given here win
/// over a `--config` file's.
#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// What to do instead of mirroring.
    #[command(subcommand)]
    pub action: Option<MirrorAction>,
    /// A MirrorMaker 2 properties file (clusters, <alias>.bootstrap.servers, a flow's
    /// us->eu.enabled, topics, groups, ...): see docs/mirror.md.
    #[arg(long, short = 'c')]
    pub config: Option<std::path::PathBuf>,
    /// The flow of the `--config` file to run (`us->eu`), when it enables several.
    #[arg(long, requires = "config")]
    pub flow: Option<String>,
    /// Bootstrap servers of the cluster to copy from.
    #[arg(long, required_unless_present = "config")]
    pub source: Option<String>,
    /// Bootstrap servers of the cluster to copy to.
    #[arg(long, required_unless_present = "config")]
    pub target: Option<String>,
    /// Source topics to mirror: a regular expression the whole name must match [default with
    /// --config: .*, as MM2].
    #[arg(long, required_unless_present = "config")]
    pub topics: Option<String>,
    /// The source cluster's alias: its topics are named `<alias>.<topic>` on the target
    /// [default: source].
    #[arg(long)]
    pub source_alias: Option<String>,
    /// The target cluster's alias: source topics named `<alias>.<topic>` came from the target
    /// and are never copied back (two mirrors running opposite ways do not loop) [default:
    /// target].
    #[arg(long)]
    pub target_alias: Option<String>,
    /// Keep topic names on the target (one-way migration).
    #[arg(long)]
    pub identity: bool,
    /// Copy each record exactly once: a transactional target producer, with the source offsets
    /// committed in its transactions (readers of the target use read_committed).
    #[arg(long)]
    pub exactly_once: bool,
    /// Keep the source's offsets on the target (a runnel broker): each record at its source
    /// offset, copies read-only until `runnel mirror promote`, group offsets copied as they
    /// are. Nothing is written twice, without transactions.
    #[arg(long, conflicts_with = "exactly_once")]
    pub preserve_offsets: bool,
    /// Consumer groups whose offsets are carried over (MM2's `groups`): a regular expression
    /// the whole name must match, or several separated by commas [default: .*].
    #[arg(long)]
    pub groups: Option<String>,
    /// Groups never carried over (MM2's `groups.exclude`); the mirror's own never are
    /// [default: "console-consumer-.*, connect-.*, __.*"].
    #[arg(long)]
    pub groups_exclude: Option<String>,
    /// How often group offsets are translated, checkpointed and written into idle groups on
    /// the target (MM2's `emit.checkpoints.interval.seconds`) [default: 5].
    #[arg(long)]
    pub checkpoint_secs: Option<f64>,
    /// How often a heartbeat is written (MM2's `emit.heartbeats.interval.seconds`; 0: never)
    /// [default: 1].
    #[arg(long)]
    pub heartbeat_secs: Option<f64>,
    /// How often new or grown source topics are looked for (MM2's
    /// `refresh.topics.interval.seconds`) [default: 5].
    #[arg(long)]
    pub refresh_topics_secs: Option<f64>,
    /// Where `/metrics` is served (`off`: nowhere; port 0: any free port, logged).
    #[arg(long, default_value = "127.0.0.1:9645")]
    pub http_listen: String,
    /// After how long without a record reaching the target, while records wait on the
    /// source, the mirror counts as stalled (`runnel_mirror_stalled`).
    #[arg(long, default_value_t = 30.0)]
    pub stall_secs: f64,
    /// How records reach a translating mirror's target: `auto` writes them itself (pipelined
    /// batches, a fraction of the CPU per record) when the target is a single broker reached
    /// without TLS, as runnel is, and through librdkafka's producer otherwise; `librdkafka`
    /// always through librdkafka. `--exactly-once` always uses librdkafka's transactions.
    #[arg(long, value_enum, default_value_t = TargetWriter::Auto)]
    pub target_writer: TargetWriter,
    /// A librdkafka property for both sides (`-X key=value`), or for one with `source.` or
    /// `target.` in front (`-X target.compression.type=zstd`).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = super::client::parse_key_value)]
    pub properties: Vec<(String, String)>,
}

/// Who writes a translating mirror's records to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetWriter {
    /// The mirror itself when the target is one broker without TLS; librdkafka otherwise.
    Auto,
    /// librdkafka's producer, always.
    Librdkafka,
}

/// `runnel mirror` actions besides mirroring.
#[derive(Debug, Clone, Subcommand)]
pub enum MirrorAction {
    /// Make mirror topics on a runnel target ordinary topics (failover): producers may write
    /// them, no mirror may, and their offsets stay the source's.
    Promote(promote::PromoteArgs),
}

/// The settings a mirror runs with: flags, then the `--config` file, then defaults.
#[derive(Debug, Clone)]
struct Settings {
    source: String,
    target: String,
    topics: String,
    source_alias: String,
    target_alias: String,
    identity: bool,
    exactly_once: bool,
    preserve_offsets: bool,
    groups: String,
    groups_exclude: String,
    checkpoint_secs: f64,
    heartbeat_secs: f64,
    refresh_topics_secs: f64,
    /// The file's client properties first, so that `-X` wins.
    properties: Vec<(String, String)>,
}

impl MirrorArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => mm2_properties::read(path, self.flow.as_deref())?,
            None => mm2_properties::FlowSettings::default(),
        };
        let bootstrap = |flag: &Option<String>, file: Option<String>, side: &str, alias: &str| {
            flag.clone().or(file).ok_or_else(|| {
                anyhow::anyhow!("no bootstrap servers for the {side}: pass --{side}, or set {alias}.bootstrap.servers")
            })
        };
        let source = bootstrap(&self.source, file.source, "source", &file.source_alias)?;
        let target = bootstrap(&self.target, file.target, "target", &file.target_alias)?;
        let named =
            |alias: &str, fallback: &str| if alias.is_empty() { fallback.to_string() } else { alias.to_string() };
        let mut properties = file.properties;
        properties.extend(self.properties.iter().cloned());
        Ok(Settings {
            source,
            target,
            // Without a file clap requires --topics; a file without `topics` means all, as MM2.
            topics: self.topics.clone().or(file.topics).unwrap_or_else(|| ".*".to_string()),
            source_alias: self.source_alias.clone().unwrap_or_else(|| named(&file.source_alias, "source")),
            target_alias: self.target_alias.clone().unwrap_or_else(|| named(&file.target_alias, "target")),
            identity: self.identity || file.identity,
            exactly_once: self.exactly_once || file.exactly_once,
            preserve_offsets: self.preserve_offsets,
            groups: self.groups.clone().or(file.groups).unwrap_or_else(|| ".*".to_string()),
            groups_exclude: self
                .groups_exclude
                .clone()
                .or(file.groups_exclude)
                .unwrap_or_else(|| "console-consumer-.*, connect-.*, __.*".to_string()),
            checkpoint_secs: self.checkpoint_secs.or(file.checkpoint_secs).unwrap_or(5.0),
            heartbeat_secs: self.heartbeat_secs.or(file.heartbeat_secs).unwrap_or(1.0),
            refresh_topics_secs: self.refresh_topics_secs.or(file.refresh_topics_secs).unwrap_or(5.0),
            properties,
        })
    }
}

impl Settings {
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

/// The copier a mirror runs: at the target's own offsets (translated), or at the source's.
enum Copying {
    Translated(copier::Copier),
    Preserved(preserving_copier::PreservingCopier),
}

impl Copying {
    fn follow(&mut self, mirrored: &[topics::Mirrored]) -> anyhow::Result<()> {
        match self {
            Copying::Translated(c) => c.follow(mirrored),
            Copying::Preserved(c) => c.follow(mirrored),
        }
    }

    fn step(&mut self) -> anyhow::Result<()> {
        match self {
            Copying::Translated(c) => c.step(),
            Copying::Preserved(c) => c.step(),
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        match self {
            Copying::Translated(c) => c.finish(),
            Copying::Preserved(c) => c.finish(),
        }
    }

    fn copied(&self) -> u64 {
        match self {
            Copying::Translated(c) => c.copied(),
            Copying::Preserved(c) => c.copied(),
        }
    }
}

/// The target, when the mirror can write to it itself: a single broker (so that it leads every
/// partition) reached over PLAINTEXT or SASL_PLAINTEXT. `None` sends the records through
/// librdkafka, which follows leaders across a cluster.
fn direct_target(config: &ClientConfig, brokers: &str) -> anyhow::Result<Option<copier::DirectTarget>> {
    let properties: Vec<(String, String)> =
        config.config_map().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let security = ClientSecurity::from_properties(&properties)?;
    let compression = link_batch::compression_named(config.get("compression.type"))?;
    let mut connection = Connection::bootstrap_with(brokers, "runnel-mirror", &security)
        .with_context(|| format!("connect to the target at {brokers}"))?;
    let brokers_in_cluster = connection.metadata(None)?.nodes.len();
    let writer = if brokers_in_cluster != 1 {
        format!("librdkafka's producer (the target has {brokers_in_cluster} brokers)")
    } else if connection.into_stream().is_err() {
        "librdkafka's producer (the target is reached over TLS)".to_string()
    } else {
        tracing::info!("writing to the target with the mirror's own pipelined batches (a single broker)");
        return Ok(Some(copier::DirectTarget { brokers: brokers.to_string(), security, compression }));
    };
    tracing::info!("writing to the target through {writer}");
    Ok(None)
}

/// Runs `runnel mirror` until Ctrl-C or SIGTERM.
pub fn run(cli: MirrorArgs) -> anyhow::Result<()> {
    if let Some(MirrorAction::Promote(args)) = cli.action {
        return promote::run(args);
    }
    super::logging::init();
    let args = cli.settings()?;
    let policy = ReplicationPolicy::new(&args.source_alias, &args.target_alias, args.identity, &args.topics)?;
    let filter = GroupFilter::new(&args.groups, &args.groups_exclude)?;
    let source_config = args.config("source", &args.source);
    let target_config = args.config("target", &args.target);
    let source = Cluster::connect("source", &source_config, &args.source)?;
    let target = Cluster::connect("target", &target_config, &args.target)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let group = format!("runnel-mirror-{}-{}", policy.source_alias, policy.target_alias);
    let stats = Arc::new(MirrorStats::new(Duration::from_secs_f64(cli.stall_secs.max(0.0))));
    if cli.http_listen != "off" {
        serve_metrics(&cli.http_listen, stats.clone(), policy.source_alias.clone(), policy.target_alias.clone())?;
    }
    // The mirror's own topics, with MirrorMaker 2's names and places.
    let checkpoints_topic = mm2_records::checkpoints_topic(&policy.source_alias);
    topics::ensure_topic(&target, &runtime, &checkpoints_topic, &[("cleanup.policy", "compact")])
        .context("keep the checkpoints on the target")?;
    // An offset-preserving mirror's link is named after its source.
    let link = args.preserve_offsets.then(|| policy.source_alias.clone());
    let (mut copier, translation) = match &link {
        Some(link) => {
            let copier = preserving_copier::PreservingCopier::new(
                &source_config,
                &target_config,
                &args.target,
                &group,
                link,
                stats.clone(),
            )?;
            (Copying::Preserved(copier), Translation::Preserved)
        }
        None => {
            let syncs_topic = mm2_records::offset_syncs_topic(&policy.target_alias);
            let week = "604800000";
            topics::ensure_topic(
                &source,
                &runtime,
                &syncs_topic,
                &[("cleanup.policy", "delete"), ("retention.ms", week)],
            )
            .context("keep the offset syncs on the source")?;
            let syncs = SyncLog::open(&source_config, &syncs_topic)?;
            let maps = syncs.maps();
            let direct = match cli.target_writer {
                TargetWriter::Auto if !args.exactly_once => direct_target(&target_config, &args.target)?,
                TargetWriter::Auto => {
                    tracing::info!("writing to the target through librdkafka's transactional producer");
                    None
                }
                TargetWriter::Librdkafka => {
                    tracing::info!("writing to the target through librdkafka's producer (--target-writer)");
                    None
                }
            };
            let copier = copier::Copier::new(
                &source_config,
                &target_config,
                &group,
                stats.clone(),
                syncs,
                args.exactly_once,
                direct,
            )?;
            (Copying::Translated(copier), Translation::Syncs(maps))
        }
    };
    let stop = super::stop_signal::stop_on_signal();
    let mirrored = Arc::new(Mutex::new(Vec::new()));
    let group_sync = GroupSync::new(
        &source_config,
        &target_config,
        filter,
        translation,
        mirrored.clone(),
        stats.clone(),
        checkpoints_topic,
    )?;
    let checkpoint_every = Duration::from_secs_f64(args.checkpoint_secs.max(0.1));
    let mut helpers = vec![std::thread::spawn({
        let stop = stop.clone();
        move || group_sync.run(checkpoint_every, stop)
    })];
    if args.heartbeat_secs > 0.0 {
        topics::ensure_topic(&source, &runtime, mm2_records::HEARTBEATS_TOPIC, &[("cleanup.policy", "compact")])
            .context("keep the heartbeats on the source")?;
        let every = Duration::from_secs_f64(args.heartbeat_secs);
        let (config, source_alias, target_alias, stop) =
            (source_config.clone(), policy.source_alias.clone(), policy.target_alias.clone(), stop.clone());
        helpers.push(std::thread::spawn(move || {
            if let Err(e) = heartbeats::run(&config, &source_alias, &target_alias, every, stop) {
                tracing::error!(error = format!("{e:#}"), "no heartbeats; mirroring goes on");
            }
        }));
    }
    let refresh = Duration::from_secs_f64(args.refresh_topics_secs.max(0.1));
    let mut last_refresh: Option<Instant> = None;
    tracing::info!(source = %args.source, target = %args.target, topics = %args.topics, group, "mirror running");
    let outcome = (|| -> anyhow::Result<()> {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if last_refresh.is_none_or(|at| at.elapsed() >= refresh) {
                let first = last_refresh.is_none();
                last_refresh = Some(Instant::now());
                match topics::sync(&policy, &source, &target, &runtime, link.as_deref()) {
                    Ok(now) => {
                        copier.follow(&now)?;
                        *mirrored.lock().unwrap_or_else(|p| p.into_inner()) = now;
                    }
                    // At start a cluster that does not answer is a mistake to report; later it
                    // is an outage to ride out (the clients reconnect, records wait in queues).
                    Err(e) if first => return Err(e.context("keep the target's topics in step")),
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "topics not refreshed; trying again"),
                }
            }
            copier.step()?;
        }
        copier.finish()
    })();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for helper in helpers {
        let _ = helper.join();
    }
    outcome?;
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
    tracing::info!(%address, "mirror status at http://{address}/ and metrics at http://{address}/metrics");
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return tracing::error!(error = %e, "no runtime for /metrics"),
        };
        runtime.block_on(async move {
            let page_stats = stats.clone();
            let (page_source, page_target) = (source.clone(), target.clone());
            let app = axum::Router::new()
                .route(
                    "/metrics",
                    axum::routing::get(move || {
                        let text = stats.render(&source, &target);
                        async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
                    }),
                )
                .route(
                    "/",
                    axum::routing::get(move || {
                        let page = status_page::render(&page_stats, &page_source, &page_target);
                        async move { axum::response::Html(page) }
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
