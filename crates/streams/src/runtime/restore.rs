//! Restoring a task's stores from their changelog partitions, with progress in the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::config::{ClientKind, StreamsConfig};
use super::metrics::StreamsMetrics;
use crate::StreamsError;
use crate::task::Task;

/// How long a restore may see no record before it gives up.
const STALL_LIMIT: Duration = Duration::from_secs(120);
/// How often a long restore logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Reads changelogs: a consumer outside any group, reading committed data only under
/// exactly-once (so aborted state never comes back).
pub(crate) struct Restorer {
    consumer: BaseConsumer<QuietEof>,
    metrics: Arc<StreamsMetrics>,
}

/// Keeps the end-of-partition events a restore waits for out of the error log.
struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        super::log_client_error(error, reason);
    }
}

impl ConsumerContext for QuietEof {}

/// What a restore did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Restored {
    /// Changelog records applied.
    pub records: u64,
    /// How long it took.
    pub elapsed: Duration,
}

impl Restorer {
    pub(crate) fn new(config: &StreamsConfig, metrics: Arc<StreamsMetrics>) -> Result<Self, StreamsError> {
        let isolation = if config.exactly_once() { "read_committed" } else { "read_uncommitted" };
        let group = format!("{}-restore", config.application_id);
        let consumer = config
            .client(
                ClientKind::Consumer,
                &[
                    ("group.id", &group),
                    ("enable.auto.commit", "false"),
                    ("enable.partition.eof", "true"),
                    ("isolation.level", isolation),
                    // At the end the broker answers at once rather than long-polling: the
                    // end is what a restore waits for.
                    ("fetch.wait.max.ms", "10"),
                    ("fetch.queue.backoff.ms", "10"),
                ],
            )
            .create_with_context(QuietEof)
            .map_err(|e| StreamsError::kafka("create the restore consumer", e))?;
        Ok(Restorer { consumer, metrics })
    }

    /// The end (high watermark) of a changelog partition.
    pub(crate) fn end_offset(&self, changelog: &str, partition: i32) -> Result<i64, StreamsError> {
        self.consumer
            .fetch_watermarks(changelog, partition, Duration::from_secs(30))
            .map(|(_, high)| high)
            .map_err(|e| StreamsError::kafka(format!("read the end of {changelog}-{partition}"), e))
    }

    /// Fills every store of `task` from its changelog up to the end: from the offset in
    /// `checkpoint` when the store is current up to it, otherwise from the start into an
    /// emptied store.
    pub(crate) fn restore(&self, task: &mut Task, checkpoint: &HashMap<String, i64>) -> Result<Restored, StreamsError> {
        let started = Instant::now();
        let mut total = 0;
        let partition = task.id.partition;
        for (store, changelog) in task.changelogs() {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&changelog, partition, Duration::from_secs(30))
                .map_err(|e| StreamsError::kafka(format!("read the end of {changelog}-{partition}"), e))?;
            let start = match checkpoint.get(&store) {
                Some(&offset) if (low..=high).contains(&offset) => offset,
                checkpointed => {
                    if let Some(offset) = checkpointed {
                        tracing::info!(task = %task.id, store, offset, low, high, "checkpoint outside the changelog; restoring from the start");
                    }
                    task.ctx.clear_store(&store);
                    low
                }
            };
            if checkpoint.contains_key(&store) && start > low {
                tracing::info!(task = %task.id, store, records = high - start, "local state current up to offset {start}");
            }
            if high <= start {
                continue;
            }
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&changelog, partition, Offset::Offset(start))
                .map_err(|e| StreamsError::kafka("assign a changelog", e))?;
            self.consumer.assign(&assignment).map_err(|e| StreamsError::kafka(format!("assign {changelog}"), e))?;
            let (mut applied, mut last_record, mut last_report) = (0u64, Instant::now(), Instant::now());
            tracing::info!(task = %task.id, store, records = high - start, from = start, "restoring a store from its changelog");
            loop {
                match self.consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        task.ctx.restore(&store, m.key().unwrap_or_default().to_vec(), m.payload().map(<[u8]>::to_vec));
                        applied += 1;
                        last_record = Instant::now();
                        if applied % 1024 == 0 {
                            self.metrics.set_restore_remaining((high - start - applied as i64).max(0));
                        }
                        if m.offset() + 1 >= high {
                            break;
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => break,
                    Some(Err(e)) => {
                        return Err(StreamsError::kafka(format!("restore from {changelog}-{partition}"), e));
                    }
                    None if last_record.elapsed() > STALL_LIMIT => {
                        return Err(StreamsError::Config(format!(
                            "restoring store {store} read nothing from {changelog}-{partition} for {} s",
                            STALL_LIMIT.as_secs()
                        )));
                    }
                    None => {}
                }
                if last_report.elapsed() >= PROGRESS_EVERY {
                    last_report = Instant::now();
                    let percent = 100 * applied / (high - start).max(1) as u64;
                    tracing::info!(task = %task.id, store, applied, total = high - start, "restoring: {percent}%");
                }
            }
            self.metrics.set_restore_remaining(0);
            self.consumer.unassign().map_err(|e| StreamsError::kafka("unassign a changelog", e))?;
            total += applied;
        }
        let restored = Restored { records: total, elapsed: started.elapsed() };
        if total > 0 {
            tracing::info!(task = %task.id, records = total, ms = restored.elapsed.as_millis() as u64, "restored the task's state");
        }
        Ok(restored)
    }
}
