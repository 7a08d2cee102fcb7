//! A bench result: throughput and latency percentiles from an HDR histogram, printed as a
//! table or serialized as JSON.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::BenchArgs;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Records measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

impl Latency {
    /// Summarises a histogram of microseconds; `None` when it is empty.
    pub fn from_micros(histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Latency {
            count: histogram.len(),
            mean: histogram.mean() / 1000.0,
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        })
    }
}

/// A histogram for latencies from 1 µs to 10 min at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// What a bench measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `produce`, `consume` or `e2e`.
    pub bench: &'static str,
    /// Bootstrap servers.
    pub brokers: String,
    /// Topic.
    pub topic: String,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Value size in bytes.
    pub record_size: usize,
    /// Producer acks (produce and e2e).
    pub acks: Option<String>,
    /// Producer compression (produce and e2e).
    pub compression: Option<String>,
    /// Records per transaction (produce, when transactional).
    pub transaction_records: Option<u64>,
    /// Records between flushes (produce, when it flushes).
    pub flush_records: Option<u64>,
    /// Consumer isolation level (consume).
    pub isolation: Option<String>,
    /// Producer or consumer clients.
    pub clients: u32,
    /// Records moved.
    pub records: u64,
    /// Value bytes moved.
    pub bytes: u64,
    /// Records that failed (produce).
    pub errors: u64,
    /// Wall time of the measured part.
    pub elapsed_s: f64,
    /// Records per second.
    pub records_per_s: f64,
    /// Value megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    /// Acknowledgement latency (produce) or produce-to-consume latency (e2e).
    pub latency_ms: Option<Latency>,
}

impl Report {
    /// A report of `records` moved in `elapsed`.
    pub fn new(bench: &'static str, args: &BenchArgs, records: u64, elapsed: Duration) -> Report {
        let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
        let bytes = records * args.record_size as u64;
        let producing = bench != "consume";
        Report {
            bench,
            brokers: args.brokers.clone(),
            topic: args.topic.clone(),
            partitions: args.partitions,
            record_size: args.record_size,
            acks: producing.then(|| args.acks.clone()),
            compression: producing.then(|| args.compression.clone()),
            transaction_records: (bench == "produce" && args.transaction_records > 0)
                .then_some(args.transaction_records),
            flush_records: (bench == "produce" && args.flush_records > 0).then_some(args.flush_records),
            isolation: (!producing).then(|| args.isolation.clone()),
            clients: match bench {
                "produce" => args.producers,
                "consume" => args.consumers,
                _ => 1,
            },
            records,
            bytes,
            errors: 0,
            elapsed_s: seconds,
            records_per_s: records as f64 / seconds,
            mb_per_s: bytes as f64 / seconds / 1e6,
            latency_ms: None,
        }
    }

    /// The report as an aligned two-column table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("bench", self.bench.to_string()),
            ("topic", format!("{} ({} partitions)", self.topic, self.partitions)),
            ("records", format!("{} of {} B", self.records, self.record_size)),
        ];
        if let Some(acks) = &self.acks {
            rows.push(("acks", acks.clone()));
        }
        if let Some(compression) = &self.compression {
            rows.push(("compression", compression.clone()));
        }
        if let Some(records) = self.transaction_records {
            rows.push(("transactions", format!("{records} records each")));
        }
        if let Some(records) = self.flush_records {
            rows.push(("flushes", format!("every {records} records")));
        }
        if let Some(isolation) = &self.isolation {
            rows.push(("isolation", isolation.clone()));
        }
        rows.push(("clients", self.clients.to_string()));
        rows.push(("elapsed", format!("{:.2} s", self.elapsed_s)));
        rows.push(("throughput", format!("{:.0} records/s, {:.1} MB/s", self.records_per_s, self.mb_per_s)));
        if self.errors > 0 {
            rows.push(("errors", self.errors.to_string()));
        }
        if let Some(l) = &self.latency_ms {
            let what = if self.bench == "e2e" { "latency (e2e)" } else { "latency (ack)" };
            rows.push((
                what,
                format!("p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms", l.p50, l.p99, l.p999, l.max),
            ));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            let _ = writeln!(out, "{key:<width$}  {value}");
        }
        out
    }
}
