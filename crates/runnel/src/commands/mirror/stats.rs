//! What the mirror has done, per source partition, served on `/metrics` in Prometheus' text
//! format: records and bytes copied, replication lag in records and in seconds, and a
//! no-progress gauge that shows a stalled mirror (records waiting on the source while nothing
//! reaches the target).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One source partition's figures.
#[derive(Debug, Default, Clone)]
struct PartitionStats {
    copied: u64,
    bytes: u64,
    /// The last offset the target acknowledged (-1: none yet).
    acked_offset: i64,
    /// That record's timestamp (ms).
    acked_timestamp_ms: i64,
    /// The source's end, as the consumer last saw it.
    high_watermark: i64,
}

/// One source partition as the status page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionView {
    /// Source topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Records copied.
    pub copied: u64,
    /// Their key and value bytes.
    pub bytes: u64,
    /// Records on the source not yet on the target.
    pub waiting: i64,
    /// While records wait, the age of the last record copied.
    pub behind_seconds: f64,
}

/// The mirror's figures, shared by the copier and the HTTP listener.
#[derive(Debug)]
pub struct MirrorStats {
    partitions: Mutex<BTreeMap<(Arc<str>, i32), PartitionStats>>,
    last_progress: Mutex<Instant>,
    stall_after: Duration,
    checkpoints: AtomicU64,
    group_offsets: AtomicU64,
    /// How long the last heartbeat took from the source's log to the target's (ms; -1: none).
    heartbeat_latency_ms: AtomicI64,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl MirrorStats {
    /// Figures for a mirror that counts as stalled after `stall_after` without progress.
    pub fn new(stall_after: Duration) -> Self {
        MirrorStats {
            partitions: Mutex::new(BTreeMap::new()),
            last_progress: Mutex::new(Instant::now()),
            stall_after,
            checkpoints: AtomicU64::new(0),
            group_offsets: AtomicU64::new(0),
            heartbeat_latency_ms: AtomicI64::new(-1),
        }
    }

    /// A group's translated offset was written to the checkpoints topic.
    pub fn checkpoint_written(&self) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }

    /// `count` partitions' offsets were committed into a group on the target.
    pub fn group_offsets_written(&self, count: u64) {
        self.group_offsets.fetch_add(count, Ordering::Relaxed);
    }

    fn partitions(&self) -> std::sync::MutexGuard<'_, BTreeMap<(Arc<str>, i32), PartitionStats>> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The target acknowledged `records` records of `topic`-`partition` up to `offset`, the
    /// last stamped `timestamp_ms` (`bytes` of keys and values).
    pub fn acknowledged_records(
        &self,
        topic: &Arc<str>,
        partition: i32,
        offset: i64,
        timestamp_ms: i64,
        records: u64,
        bytes: u64,
    ) {
        let mut partitions = self.partitions();
        let stats = partitions
            .entry((topic.clone(), partition))
            .or_insert_with(|| PartitionStats { acked_offset: -1, ..PartitionStats::default() });
        stats.copied += records;
        stats.bytes += bytes;
        if offset > stats.acked_offset {
            stats.acked_offset = offset;
            stats.acked_timestamp_ms = timestamp_ms;
        }
        *self.last_progress.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        if &**topic == super::mm2_records::HEARTBEATS_TOPIC {
            self.heartbeat_latency_ms.store((now_ms() - timestamp_ms).max(0), Ordering::Relaxed);
        }
    }

    /// The source's end of `topic`-`partition` and the offset the mirror reads next there
    /// (its committed position when it has copied nothing yet).
    pub fn source_end(&self, topic: &Arc<str>, partition: i32, high_watermark: i64, position: Option<i64>) {
        let mut partitions = self.partitions();
        let stats = partitions
            .entry((topic.clone(), partition))
            .or_insert_with(|| PartitionStats { acked_offset: -1, ..PartitionStats::default() });
        stats.high_watermark = high_watermark;
        if stats.acked_offset < 0
            && let Some(position) = position.filter(|p| *p > 0)
        {
            stats.acked_offset = position - 1;
        }
    }

    /// Records waiting on the source, over every partition.
    pub fn lag(&self) -> i64 {
        self.partitions().values().map(|s| (s.high_watermark - s.acked_offset - 1).max(0)).sum()
    }

    /// Whether records wait on the source while nothing has reached the target for a while.
    pub fn stalled(&self) -> bool {
        self.lag() > 0 && self.last_progress.lock().unwrap_or_else(|p| p.into_inner()).elapsed() >= self.stall_after
    }

    /// Per source partition: topic, partition, records copied, bytes, records waiting and how
    /// far behind in seconds, for the status page.
    pub fn partitions_view(&self) -> Vec<PartitionView> {
        let now = now_ms();
        self.partitions()
            .iter()
            .map(|((topic, partition), s)| {
                let waiting = (s.high_watermark - s.acked_offset - 1).max(0);
                let behind_ms =
                    if waiting > 0 && s.acked_offset >= 0 { (now - s.acked_timestamp_ms).max(0) } else { 0 };
                PartitionView {
                    topic: topic.to_string(),
                    partition: *partition,
                    copied: s.copied,
                    bytes: s.bytes,
                    waiting,
                    behind_seconds: behind_ms as f64 / 1000.0,
                }
            })
            .collect()
    }

    /// Checkpoints written, group offsets written, and the last heartbeat's latency (seconds).
    pub fn groups_and_heartbeat(&self) -> (u64, u64, Option<f64>) {
        let latency = self.heartbeat_latency_ms.load(Ordering::Relaxed);
        (
            self.checkpoints.load(Ordering::Relaxed),
            self.group_offsets.load(Ordering::Relaxed),
            (latency >= 0).then(|| latency as f64 / 1000.0),
        )
    }

    /// The stall time.
    pub fn stall_after(&self) -> Duration {
        self.stall_after
    }

    /// Every figure in Prometheus' text format.
    pub fn render(&self, source_alias: &str, target_alias: &str) -> String {
        let partitions = self.partitions().clone();
        let now = now_ms();
        let mut out = String::new();
        let labels = |topic: &str, partition: i32| {
            format!("source=\"{source_alias}\",target=\"{target_alias}\",topic=\"{topic}\",partition=\"{partition}\"")
        };
        let mut family = |name: &str, kind: &str, help: &str, value: &dyn Fn(&PartitionStats) -> String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((topic, partition), stats) in &partitions {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(topic, *partition), value(stats));
            }
        };
        family("runnel_mirror_records_total", "counter", "Records the target acknowledged.", &|s| s.copied.to_string());
        family("runnel_mirror_bytes_total", "counter", "Key and value bytes the target acknowledged.", &|s| {
            s.bytes.to_string()
        });
        family("runnel_mirror_lag_records", "gauge", "Records on the source not yet on the target.", &|s| {
            (s.high_watermark - s.acked_offset - 1).max(0).to_string()
        });
        family(
            "runnel_mirror_lag_seconds",
            "gauge",
            "How far behind the copy is: the age of the last record copied, while records wait (0 when none do).",
            &|s| {
                let waiting = s.high_watermark - s.acked_offset - 1 > 0;
                let age = if waiting && s.acked_offset >= 0 { (now - s.acked_timestamp_ms).max(0) } else { 0 };
                format!("{:.3}", age as f64 / 1000.0)
            },
        );
        let flow = format!("source=\"{source_alias}\",target=\"{target_alias}\"");
        let _ = writeln!(
            out,
            "# HELP runnel_mirror_checkpoints_total Group offsets translated and written to the checkpoints topic.\n\
             # TYPE runnel_mirror_checkpoints_total counter\nrunnel_mirror_checkpoints_total{{{flow}}} {}",
            self.checkpoints.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP runnel_mirror_group_offsets_written_total Partition offsets committed into groups on the target.\n\
             # TYPE runnel_mirror_group_offsets_written_total counter\nrunnel_mirror_group_offsets_written_total{{{flow}}} {}",
            self.group_offsets.load(Ordering::Relaxed)
        );
        let latency = self.heartbeat_latency_ms.load(Ordering::Relaxed);
        if latency >= 0 {
            let _ = writeln!(
                out,
                "# HELP runnel_mirror_heartbeat_latency_seconds From the last heartbeat's write on the source to its copy's acknowledgement on the target.\n\
                 # TYPE runnel_mirror_heartbeat_latency_seconds gauge\nrunnel_mirror_heartbeat_latency_seconds{{{flow}}} {:.3}",
                latency as f64 / 1000.0
            );
        }
        let stalled = u8::from(self.stalled());
        let _ = writeln!(
            out,
            "# HELP runnel_mirror_stalled 1 when records wait on the source and none reached the target for the stall time.\n\
             # TYPE runnel_mirror_stalled gauge\nrunnel_mirror_stalled{{source=\"{source_alias}\",target=\"{target_alias}\"}} {stalled}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_what_waits_and_a_mirror_without_progress_is_stalled() {
        let stats = MirrorStats::new(Duration::ZERO);
        let topic: Arc<str> = "orders".into();
        stats.source_end(&topic, 0, 10, Some(0));
        assert_eq!(stats.lag(), 10);
        for offset in 0..4 {
            stats.acknowledged_records(&topic, 0, offset, now_ms(), 1, 100);
        }
        assert_eq!(stats.lag(), 6);
        assert!(stats.stalled(), "records wait and the stall time (zero) has passed");
        let text = stats.render("us", "eu");
        assert!(
            text.contains(
                "runnel_mirror_records_total{source=\"us\",target=\"eu\",topic=\"orders\",partition=\"0\"} 4"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "runnel_mirror_bytes_total{source=\"us\",target=\"eu\",topic=\"orders\",partition=\"0\"} 400"
            )
        );
        assert!(
            text.contains("runnel_mirror_lag_records{source=\"us\",target=\"eu\",topic=\"orders\",partition=\"0\"} 6")
        );
        assert!(text.contains("runnel_mirror_stalled{source=\"us\",target=\"eu\"} 1"));
        // A restarted mirror starts from its committed position, not from offset 0.
        let resumed = MirrorStats::new(Duration::from_secs(60));
        resumed.source_end(&topic, 0, 10, Some(10));
        assert_eq!(resumed.lag(), 0);
        assert!(!resumed.stalled());
    }
}
