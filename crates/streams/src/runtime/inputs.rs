//! Input partitions and the order a task reads them in.
//!
//! Each assigned partition has a queue of its own (split from the consumer's), so a task that
//! reads several partitions (a join, a merge) takes the record with the smallest timestamp
//! among their heads, as Kafka Streams does: the result does not depend on which partition
//! the consumer happened to fetch first. A task waits while one of its partitions has no
//! record and is not known to be at its end (it may simply not have been fetched yet), up to
//! `max_task_idle`; a partition at its end (librdkafka's end-of-partition event) is not
//! waited for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};

use super::Rebalancer;
use crate::record::RawRecord;
use crate::task::TaskId;

/// One assigned partition.
struct Input {
    queue: PartitionQueue<Rebalancer>,
    /// The topic's name, shared by every record taken from it.
    topic: Arc<str>,
    /// The next record, taken from the queue but not processed yet.
    head: Option<RawRecord>,
    /// Whether the partition's end was reached after the last record taken.
    at_end: bool,
    /// The offset after the last record taken for processing, until it is committed.
    position: Option<i64>,
}

/// Every assigned partition's queue and head.
pub(crate) struct Inputs {
    by_partition: BTreeMap<(String, i32), Input>,
    /// Since when each task has waited for a partition that might have earlier records.
    waiting_since: HashMap<TaskId, Instant>,
    max_task_idle: Duration,
}

impl Inputs {
    pub(crate) fn new(max_task_idle: Duration) -> Self {
        Inputs { by_partition: BTreeMap::new(), waiting_since: HashMap::new(), max_task_idle }
    }

    /// A partition assigned to this instance, with its own queue.
    pub(crate) fn add(&mut self, topic: &str, partition: i32, queue: PartitionQueue<Rebalancer>) {
        let input = Input { queue, topic: topic.into(), head: None, at_end: false, position: None };
        self.by_partition.insert((topic.to_string(), partition), input);
    }

    /// A partition taken away: its unprocessed head is dropped (its offset was not committed).
    pub(crate) fn remove(&mut self, topic: &str, partition: i32) {
        self.by_partition.remove(&(topic.to_string(), partition));
    }

    /// Drops every queue (they hold the consumer; it cannot close while they live).
    pub(crate) fn clear(&mut self) {
        self.by_partition.clear();
        self.waiting_since.clear();
    }

    /// The next record of `task`, whose input partitions are `keys`: the earliest head, once
    /// every partition has a head or is at its end (or the wait ran out). `None`: nothing to
    /// process now.
    pub(crate) fn next_for(&mut self, task: TaskId, keys: &[(String, i32)]) -> Option<RawRecord> {
        let mut present = 0;
        let mut known = 0;
        let mut earliest: Option<(usize, i64)> = None;
        for (index, key) in keys.iter().enumerate() {
            let Some(input) = self.by_partition.get_mut(key) else { continue };
            present += 1;
            if input.head.is_none() {
                match input.queue.poll(Duration::ZERO) {
                    Some(Ok(m)) => {
                        input.head = Some(raw_record(&m, input.topic.clone()));
                        input.at_end = false;
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => input.at_end = true,
                    Some(Err(e)) => tracing::warn!(topic = %key.0, partition = key.1, error = %e, "consumer error"),
                    None => {}
                }
            }
            if let Some(head) = &input.head {
                known += 1;
                if earliest.is_none_or(|(_, t)| head.timestamp < t) {
                    earliest = Some((index, head.timestamp));
                }
            } else if input.at_end {
                known += 1;
            }
        }
        let (index, _) = earliest?;
        if known < present {
            let since = *self.waiting_since.entry(task).or_insert_with(Instant::now);
            if since.elapsed() < self.max_task_idle {
                return None;
            }
        } else {
            self.waiting_since.remove(&task);
        }
        let input = self.by_partition.get_mut(&keys[index])?;
        let record = input.head.take()?;
        input.position = Some(record.offset + 1);
        Some(record)
    }

    /// Where processing stands in each partition since the last commit: (topic, partition,
    /// next offset).
    pub(crate) fn positions(&self) -> Vec<(Arc<str>, i32, i64)> {
        self.by_partition
            .iter()
            .filter_map(|((_, partition), input)| input.position.map(|p| (input.topic.clone(), *partition, p)))
            .collect()
    }

    /// Forgets the positions: committed, or thrown away with the tasks' state.
    pub(crate) fn clear_positions(&mut self) {
        for input in self.by_partition.values_mut() {
            input.position = None;
        }
    }
}

/// A consumed record as the topology takes it.
pub(crate) fn raw_record(m: &BorrowedMessage<'_>, topic: Arc<str>) -> RawRecord {
    let headers = m
        .headers()
        .map(|hs| hs.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    RawRecord {
        topic,
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        timestamp: m.timestamp().to_millis().unwrap_or(0),
        headers,
    }
}
