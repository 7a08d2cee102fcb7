//! Per-topic counters of the request path, Kafka's BrokerTopicMetrics: kept on the topic, so
//! counting is an atomic add on a pointer the handler already holds.

use std::sync::atomic::{AtomicU64, Ordering};

/// What produce and fetch did to one topic.
#[derive(Debug, Default)]
pub struct TopicMetrics {
    /// Records appended (not batches, and not idempotent retries).
    pub messages_in: AtomicU64,
    /// Record-batch bytes appended.
    pub bytes_in: AtomicU64,
    /// Record bytes sent to consumers.
    pub bytes_out: AtomicU64,
    /// Produce requests with a partition of this topic refused.
    pub failed_produce: AtomicU64,
    /// Fetch requests with a partition of this topic answered with an error.
    pub failed_fetch: AtomicU64,
}

impl TopicMetrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The five counters, in the order of [`COUNTERS`].
    pub fn values(&self) -> [u64; 5] {
        [&self.messages_in, &self.bytes_in, &self.bytes_out, &self.failed_produce, &self.failed_fetch]
            .map(|c| c.load(Ordering::Relaxed))
    }
}

/// The counters' Kafka names (after `kafka_server_brokertopicmetrics_`) and help texts.
pub const COUNTERS: [(&str, &str); 5] = [
    ("messagesin", "Records appended, by topic (no label: all topics)"),
    ("bytesin", "Record-batch bytes appended, by topic"),
    ("bytesout", "Record bytes sent to consumers, by topic"),
    ("failedproducerequests", "Produce partitions refused, by topic"),
    ("failedfetchrequests", "Fetch partitions answered with an error, by topic"),
];
