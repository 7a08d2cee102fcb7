//! What a running instance counts, readable while it works (even mid-restore, when its tasks
//! are busy) and served as Prometheus text.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Counters and gauges of one instance.
#[derive(Debug, Default)]
pub struct StreamsMetrics {
    processed: AtomicU64,
    commits: AtomicU64,
    restored: AtomicU64,
    restore_micros: AtomicU64,
    /// Changelog records a restore in progress has still to read (0 when none runs).
    restore_remaining: AtomicI64,
    late: AtomicU64,
    tasks: AtomicU64,
}

/// A snapshot of [`StreamsMetrics`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Input records processed.
    pub processed: u64,
    /// Commits made.
    pub commits: u64,
    /// Changelog records restored into stores.
    pub restored: u64,
    /// Time spent restoring.
    pub restore_time: Duration,
    /// Records windowed operators dropped as late.
    pub late_records: u64,
    /// Tasks running now.
    pub tasks: u64,
}

impl StreamsMetrics {
    pub(crate) fn processed(&self) {
        self.processed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn restored(&self, records: u64, took: Duration) {
        self.restored.fetch_add(records, Ordering::Relaxed);
        self.restore_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
    pub(crate) fn set_restore_remaining(&self, records: i64) {
        self.restore_remaining.store(records, Ordering::Relaxed);
    }
    pub(crate) fn set_late(&self, records: u64) {
        self.late.store(records, Ordering::Relaxed);
    }
    pub(crate) fn set_tasks(&self, tasks: usize) {
        self.tasks.store(tasks as u64, Ordering::Relaxed);
    }

    /// The values now.
    pub fn snapshot(&self) -> RunStats {
        RunStats {
            processed: self.processed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            restored: self.restored.load(Ordering::Relaxed),
            restore_time: Duration::from_micros(self.restore_micros.load(Ordering::Relaxed)),
            late_records: self.late.load(Ordering::Relaxed),
            tasks: self.tasks.load(Ordering::Relaxed),
        }
    }

    /// Prometheus' text format, each series labelled with the application id.
    pub fn render(&self, application_id: &str) -> String {
        let s = self.snapshot();
        let label = format!("{{application_id=\"{}\"}}", application_id.replace('\\', "\\\\").replace('"', "\\\""));
        let series: [(&str, &str, &str, String); 7] = [
            ("runnel_streams_records_processed_total", "counter", "Input records processed.", s.processed.to_string()),
            (
                "runnel_streams_commits_total",
                "counter",
                "Commits (transactions under exactly-once).",
                s.commits.to_string(),
            ),
            (
                "runnel_streams_restored_records_total",
                "counter",
                "Changelog records restored into stores.",
                s.restored.to_string(),
            ),
            (
                "runnel_streams_restore_seconds_total",
                "counter",
                "Time spent restoring stores.",
                format!("{:.6}", s.restore_time.as_secs_f64()),
            ),
            (
                "runnel_streams_restore_remaining_records",
                "gauge",
                "Changelog records the restore in progress has still to read.",
                self.restore_remaining.load(Ordering::Relaxed).to_string(),
            ),
            (
                "runnel_streams_late_records_dropped_total",
                "counter",
                "Records dropped for arriving after their window's grace.",
                s.late_records.to_string(),
            ),
            ("runnel_streams_tasks", "gauge", "Tasks this instance runs.", s.tasks.to_string()),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in series {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{label} {value}\n"));
        }
        out
    }
}
