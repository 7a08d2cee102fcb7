//! `runnel monitor`: the topic, group and lag metrics of any Kafka cluster (Apache Kafka,
//! Redpanda, runnel) on `/metrics`, with the names and numbers `runnel serve` reports for
//! itself, and the same console at `/` (history kept in a local directory), so dashboards,
//! alerts and the console go with users who outgrow one node. Everything is read through the
//! Kafka protocol (rdkafka); the time lag of a group is read from the timestamp of the record at
//! its committed offset, as the broker does.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use runnel_broker::groups::consumer_protocol::assignment_partitions;
use runnel_broker::metrics::cluster::{ClusterState, GroupOffset, PartitionState, to_text};
use runnel_broker::metrics::collector::CONTENT_TYPE;
use runnel_broker::partition::Partition;
use runnel_console::Console;
use runnel_console::history::{HISTORY_TOPIC, HistoryLog};
use runnel_console::settings::{ConsoleSettings, check_webhook};
use runnel_console::source::{GroupInfo, MemberInfo, Snapshot, Source};

use super::client::{ClientArgs, TIMEOUT};

/// How long a scrape waits for the records whose timestamps give the time lags.
const TIME_LAG_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a scrape waits for the cluster's metadata: an answer (503) comes before
/// Prometheus's default scrape timeout of 10 s.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `runnel monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Address of the HTTP listener serving /metrics and the console; port 0 picks a free port.
    #[arg(long, env = "RUNNEL_MONITOR_LISTEN", default_value = "127.0.0.1:9645")]
    http_listen: SocketAddr,
    /// Directory of the console's history (created if missing); one monitor per directory.
    #[arg(long, env = "RUNNEL_MONITOR_HISTORY_DIR", default_value = "runnel-monitor-history")]
    history_dir: PathBuf,
    /// A properties file with `console.*` settings (sample interval, history retention, alert
    /// windows), the names `runnel serve` reads from server.properties.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Where the console posts firing and resolved alerts, as Alertmanager's webhook JSON.
    #[arg(long, env = "RUNNEL_ALERT_WEBHOOK")]
    alert_webhook: Option<String>,
}

/// Serves `/metrics` and the console for the cluster at `--brokers` until Ctrl-C or SIGTERM.
pub fn run(args: MonitorArgs, client: &ClientArgs) -> anyhow::Result<()> {
    super::logging::init();
    let mut settings = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("read config file {}", path.display()))?;
            let console: BTreeMap<String, String> = runnel_broker::config::parse_properties(&text)
                .into_iter()
                .filter(|(k, _)| k.starts_with("console."))
                .collect();
            ConsoleSettings::from_properties(&console).map_err(anyhow::Error::msg)?
        }
        None => ConsoleSettings::default(),
    };
    if let Some(url) = &args.alert_webhook {
        settings.webhook = Some(check_webhook(url).map_err(anyhow::Error::msg)?);
    }
    let history = local_history(&args.history_dir, &settings)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.http_listen)
            .await
            .with_context(|| format!("listen on {}; pick another address with --http-listen", args.http_listen))?;
        let bound = listener.local_addr()?;
        let source = Arc::new(ClusterSource(client.clone()));
        let console = Console::open(source.clone(), history.log.clone(), settings, format!("http://{bound}"));
        tokio::spawn(console.clone().run());
        println!("runnel monitor listening on http://{bound} (brokers {})", client.brokers);
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(source)
            .merge(runnel_console::pages::router(console.clone()));
        axum::serve(listener, app).with_graceful_shutdown(super::serve::shutdown_signal()).await?;
        console.stop();
        history.close()
    })
}

/// The console's history on local disk: a log like a partition's, locked against a second
/// monitor, with the console's retention.
struct LocalHistory {
    log: HistoryLog,
    partition: Arc<Partition>,
    /// Held (locked) while the monitor runs.
    _lock: std::fs::File,
}

impl LocalHistory {
    fn close(&self) -> anyhow::Result<()> {
        self.partition.close().context("close the console history")
    }
}

/// Opens (creating) the history directory.
fn local_history(dir: &Path, settings: &ConsoleSettings) -> anyhow::Result<LocalHistory> {
    std::fs::create_dir_all(dir).with_context(|| format!("create the history directory {}", dir.display()))?;
    let lock_path = dir.join(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("open {}", lock_path.display()))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|_| {
        anyhow::anyhow!("{} is in use by another runnel monitor; stop it or pass another --history-dir", dir.display())
    })?;
    let retention_ms = settings.retention.as_millis() as i64;
    let config = runnel_log::LogConfig {
        retention_ms,
        retention_bytes: settings.max_bytes as i64,
        segment_ms: (retention_ms / 24).max(1),
        segment_bytes: (settings.max_bytes / 16).clamp(1 << 20, 1 << 30),
        ..runnel_log::LogConfig::default()
    };
    let log_dir = dir.join(format!("{HISTORY_TOPIC}-0"));
    std::fs::create_dir_all(&log_dir).with_context(|| format!("create {}", log_dir.display()))?;
    let (log, _) = runnel_log::PartitionLog::open(&log_dir, config, false)
        .with_context(|| format!("open the console history in {}", log_dir.display()))?;
    let partition = Arc::new(Partition::new(HISTORY_TOPIC, 0, log));
    Ok(LocalHistory { log: HistoryLog::new(partition.clone()), partition, _lock: lock })
}

/// The cluster at `--brokers`, read through rdkafka.
#[derive(Debug)]
struct ClusterSource(ClientArgs);

impl Source for ClusterSource {
    fn describe(&self) -> String {
        format!("Kafka cluster at {}", self.0.brokers)
    }

    fn snapshot(&self) -> anyhow::Result<Snapshot> {
        snapshot(&self.0)
    }
}

async fn metrics(State(source): State<Arc<ClusterSource>>) -> Response {
    match tokio::task::spawn_blocking(move || snapshot(&source.0)).await {
        Ok(Ok(snapshot)) => match to_text(snapshot.cluster) {
            Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encode metrics: {e}\n")).into_response(),
        },
        // The cluster did not answer: Prometheus records the scrape as failed.
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics task failed: {e}\n")).into_response(),
    }
}

/// Reads the cluster's topics, groups (with members) and committed offsets.
fn snapshot(client: &ClientArgs) -> anyhow::Result<Snapshot> {
    let consumer = client.consumer()?;
    let metadata = consumer.fetch_metadata(None, METADATA_TIMEOUT).map_err(|e| client.unreachable(e))?;
    let mut state = ClusterState::default();
    let mut all = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| !t.name().starts_with("__")) {
        for p in topic.partitions() {
            let (oldest, end) =
                consumer.fetch_watermarks(topic.name(), p.id(), TIMEOUT).map_err(|e| client.unreachable(e))?;
            state.partitions.push(PartitionState {
                topic: topic.name().to_string(),
                partition: p.id(),
                oldest,
                end,
                size_bytes: None,
            });
            all.add_partition(topic.name(), p.id());
        }
    }
    let ends: HashMap<(String, i32), i64> =
        state.partitions.iter().map(|p| ((p.topic.clone(), p.partition), p.end)).collect();
    let groups = consumer.fetch_group_list(None, TIMEOUT).map_err(|e| client.unreachable(e))?;
    let mut behind = Vec::new();
    let mut infos = Vec::new();
    for group in groups.groups() {
        state.groups.push((group.name().to_string(), group.members().len() as i64));
        infos.push(GroupInfo {
            id: group.name().to_string(),
            state: group.state().to_string(),
            members: group
                .members()
                .iter()
                .map(|m| MemberInfo {
                    member_id: m.id().to_string(),
                    client_id: m.client_id().to_string(),
                    host: m.client_host().to_string(),
                    assignment: m.assignment().map(assignment_partitions).unwrap_or_default(),
                })
                .collect(),
        });
        let reader: BaseConsumer = client
            .config()
            .set("group.id", group.name())
            .set("enable.auto.commit", "false")
            .create()
            .with_context(|| format!("create a client for {}", client.brokers))?;
        let committed = reader.committed_offsets(all.clone(), TIMEOUT).map_err(|e| client.unreachable(e))?;
        for e in committed.elements() {
            let Some(offset) = e.offset().to_raw().filter(|o| *o >= 0) else { continue };
            if ends.get(&(e.topic().to_string(), e.partition())).is_some_and(|end| offset < *end) {
                behind.push(state.offsets.len());
            }
            state.offsets.push(GroupOffset {
                group: group.name().to_string(),
                topic: e.topic().to_string(),
                partition: e.partition(),
                committed: offset,
                time_lag_seconds: 0.0,
            });
        }
    }
    let wanted: Vec<(String, i32, i64)> =
        behind.iter().map(|&i| &state.offsets[i]).map(|o| (o.topic.clone(), o.partition, o.committed)).collect();
    let timestamps = record_timestamps(client, &wanted)?;
    let now = now_ms();
    for i in behind {
        let o = &mut state.offsets[i];
        if let Some(timestamp) = timestamps.get(&(o.topic.clone(), o.partition, o.committed)) {
            o.time_lag_seconds = (now - timestamp).max(0) as f64 / 1000.0;
        }
    }
    Ok(Snapshot { cluster: state, groups: infos, broker: None })
}

/// The timestamps of the records at these (topic, partition, offset)s, read with one consumer
/// that reads each partition from that offset; records not read in time are left out.
fn record_timestamps(
    client: &ClientArgs,
    wanted: &[(String, i32, i64)],
) -> anyhow::Result<BTreeMap<(String, i32, i64), i64>> {
    let mut found = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    // One read per (topic, partition): the smallest offset wanted there comes first.
    let mut starts: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (topic, partition, offset) in wanted {
        let start = starts.entry((topic.clone(), *partition)).or_insert(*offset);
        *start = (*start).min(*offset);
    }
    let reader = client.consumer()?;
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in &starts {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset)).context("assign a partition")?;
    }
    reader.assign(&list).context("assign partitions to read timestamps")?;
    let mut open: BTreeMap<(String, i32), Vec<i64>> = BTreeMap::new();
    for (topic, partition, offset) in wanted {
        open.entry((topic.clone(), *partition)).or_default().push(*offset);
    }
    let deadline = Instant::now() + TIME_LAG_READ_TIMEOUT;
    while !open.is_empty() && Instant::now() < deadline {
        let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) else { continue };
        let key = (message.topic().to_string(), message.partition());
        let Some(offsets) = open.get_mut(&key) else { continue };
        let Some(timestamp) = message.timestamp().to_millis() else { continue };
        offsets.retain(|&offset| {
            let reached = message.offset() >= offset;
            if reached {
                found.insert((key.0.clone(), key.1, offset), timestamp);
            }
            !reached
        });
        if offsets.is_empty() {
            open.remove(&key);
        }
    }
    Ok(found)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
