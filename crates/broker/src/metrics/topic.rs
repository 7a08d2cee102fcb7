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

    /// The five counters, with their Kafka names, in the order they are encoded.
    pub fn values(&self) -> [(&'static str, u64); 5] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("messagesin", get(&self.messages_in)),
            ("bytesin", get(&self.bytes_in)),
            ("bytesout", get(&self.bytes_out)),
            ("failedproducerequests", get(&self.failed_produce)),
            ("failedfetchrequests", get(&self.failed_fetch)),
        ]
    }
}
