//! Prometheus metrics: counters and histograms the request path updates with atomics only, and
//! everything else (offsets, lag, sizes, groups, the process) computed at scrape time from
//! state the broker already holds. Names are the ones existing dashboards use: Kafka's JMX
//! names as the Prometheus JMX exporter writes them (`kafka_server_brokertopicmetrics_*`,
//! `kafka_log_log_size`), kafka_exporter's (`kafka_topic_*`, `kafka_consumergroup_*`),
//! kafka-lag-exporter's time lag, and `runnel_*` where Kafka has no Prometheus-friendly name.
//!
//! - [`histogram`]: the lock-free histogram; [`topic`]: per-topic counters.
//! - [`collector`]: the broker's scrape; [`cluster`]: topic and group metrics from any source
//!   (the broker, or `runnel monitor` for another cluster); [`families`]: encoding helpers.
//! - [`process`]: process and disk figures from `/proc` and statvfs.

pub mod cluster;
pub mod collector;
pub mod families;
pub mod histogram;
pub mod process;
pub mod topic;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use histogram::{AtomicHistogram, BATCH_BOUNDS, LATENCY_BOUNDS};

/// API keys tracked (every key Kafka defines is below this).
const API_KEYS: usize = 128;

/// One API's requests.
#[derive(Debug)]
pub struct ApiStats {
    /// Requests answered (or, for acks=0 produce, handled).
    pub count: AtomicU64,
    /// From the frame's arrival to its response being ready.
    pub latency: AtomicHistogram,
}

/// The broker's request-path metrics.
#[derive(Debug)]
pub struct BrokerMetrics {
    /// Per API key.
    requests: Vec<ApiStats>,
    /// Duration of each log fsync made for acks=all produces and offset commits.
    pub fsync_seconds: AtomicHistogram,
    /// Records each of those fsyncs made durable: how many produces shared it (group commit).
    pub group_commit_records: AtomicHistogram,
    /// Connections open now.
    pub connections: AtomicI64,
    /// Connections accepted since start.
    pub connections_accepted: AtomicU64,
    /// Connections closed at once for being over `max.connections.per.ip` or `max.connections`.
    pub connections_refused: AtomicU64,
    /// SASL authentications refused since start.
    pub failed_authentications: AtomicU64,
    /// SASL re-authentications (KIP-368) completed since start.
    pub successful_reauthentications: AtomicU64,
    /// Produce partitions refused for topics the broker does not have.
    pub failed_produce_unknown_topic: AtomicU64,
    /// Fetch partitions answered with an error for topics the broker does not have.
    pub failed_fetch_unknown_topic: AtomicU64,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        BrokerMetrics {
            requests: (0..API_KEYS)
                .map(|_| ApiStats { count: AtomicU64::new(0), latency: AtomicHistogram::new(&LATENCY_BOUNDS) })
                .collect(),
            fsync_seconds: AtomicHistogram::new(&LATENCY_BOUNDS),
            group_commit_records: AtomicHistogram::new(&BATCH_BOUNDS),
            connections: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            failed_authentications: AtomicU64::new(0),
            successful_reauthentications: AtomicU64::new(0),
            failed_produce_unknown_topic: AtomicU64::new(0),
            failed_fetch_unknown_topic: AtomicU64::new(0),
        }
    }
}

impl BrokerMetrics {
    /// Counts one request of `api_key` that took `elapsed`.
    pub fn observe_request(&self, api_key: i16, elapsed: Duration) {
        if let Some(stats) = usize::try_from(api_key).ok().and_then(|key| self.requests.get(key)) {
            stats.count.fetch_add(1, Ordering::Relaxed);
            stats.latency.observe_duration(elapsed);
        }
    }

    /// Counts one fsync that made `records` records durable in `elapsed`.
    pub fn observe_fsync(&self, elapsed: Duration, records: u64) {
        self.fsync_seconds.observe_duration(elapsed);
        self.group_commit_records.observe(records as f64);
    }

    /// The stats of API key `api_key`, if it is tracked.
    pub fn api(&self, api_key: i16) -> Option<&ApiStats> {
        usize::try_from(api_key).ok().and_then(|key| self.requests.get(key))
    }
}
