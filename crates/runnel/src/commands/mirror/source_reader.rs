//! The source side of a mirror: its consumer (read_committed, offsets stored only for what
//! the target acknowledged) and the statistics that tell where each source partition ends.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::statistics::Statistics;

use super::stats::MirrorStats;

/// The source consumer: in `group`, read_committed, offsets stored by the copier once the
/// target acknowledged their records (`enable.auto.commit` as `config` says).
pub(super) fn source_consumer(
    config: &ClientConfig,
    group: &str,
    stats: Arc<MirrorStats>,
) -> anyhow::Result<BaseConsumer<SourceEnds>> {
    config
        .clone()
        .set("statistics.interval.ms", "1000")
        // librdkafka's default (1 s) leaves a reader that drains its queue faster than the
        // fetcher refills it waiting for the next fetch.
        .set("fetch.queue.backoff.ms", "10")
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        // Aborted records must not become committed ones on the target.
        .set("isolation.level", "read_committed")
        // Offsets are stored only for records the target acknowledged.
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", "1000")
        .create_with_context(SourceEnds { stats })
        .context("create the source consumer")
}

/// The next record the source consumer has, waiting up to `wait` for the first; `None` when
/// there is none (a consumer error is logged: librdkafka retries by itself).
pub(super) fn next_record(consumer: &BaseConsumer<SourceEnds>, wait: Duration) -> Option<BorrowedMessage<'_>> {
    loop {
        match consumer.poll(wait)? {
            Err(KafkaError::PartitionEOF(_)) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "source consumer");
                return None;
            }
            Ok(message) => return Some(message),
        }
    }
}

/// The source consumer's statistics (every second): where each partition ends, for the lag.
pub(super) struct SourceEnds {
    stats: Arc<MirrorStats>,
}

impl ClientContext for SourceEnds {
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            let name: Arc<str> = name.as_str().into();
            for (&id, partition) in &topic.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a read_committed reader
                // reaches the last stable offset, not the high watermark.
                let end = if partition.ls_offset >= 0 { partition.ls_offset } else { partition.hi_offset };
                if id >= 0 && end >= 0 && partition.desired {
                    let position = Some(partition.committed_offset).filter(|o| *o >= 0);
                    self.stats.source_end(&name, id, end, position);
                }
            }
        }
    }
}

impl ConsumerContext for SourceEnds {}
