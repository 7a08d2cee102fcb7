//! Exactly-once mirroring (`--exactly-once`): the target producer is transactional, and the
//! source offsets the mirror has copied up to are committed in the same transactions, to the
//! mirror's group on the target (keyed by the copies' names, since the source's topics need
//! not exist there). A transaction's records and its offsets become visible together, so a
//! mirror killed at any moment resumes exactly after the last committed transaction and a
//! `read_committed` reader of the target sees every record once.
//!
//! The source is read by assignment, not by a group on the source: where each partition starts
//! is what the target's group says.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::{Offset, TopicPartitionList};

use super::topics::Mirrored;
use crate::commands::client::TIMEOUT;

/// How long a transaction stays open while records flow.
const TRANSACTION_EVERY: Duration = Duration::from_millis(100);

/// The transactions' bookkeeping: what is committed and what the open one holds.
pub struct Transactions {
    offsets: BaseConsumer,
    metadata: ConsumerGroupMetadata,
    /// Whether a transaction is open, and since when.
    open_since: Option<Instant>,
    /// Per source partition, the next source offset as of the last commit.
    committed: HashMap<(Arc<str>, i32), i64>,
    /// Per source partition, the next source offset after what the open transaction holds.
    pending: HashMap<(Arc<str>, i32), i64>,
    /// Source partitions being read.
    assigned: HashSet<(String, i32)>,
}

impl Transactions {
    /// The bookkeeping for a mirror whose group on the target is `group`.
    pub fn new(target: &ClientConfig, group: &str) -> anyhow::Result<Transactions> {
        let offsets: BaseConsumer = target
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .context("create the target offsets reader")?;
        let metadata = offsets.group_metadata().ok_or_else(|| anyhow!("no group metadata for {group}"))?;
        Ok(Transactions {
            offsets,
            metadata,
            open_since: None,
            committed: HashMap::new(),
            pending: HashMap::new(),
            assigned: HashSet::new(),
        })
    }

    /// The source partitions of `mirrored` not read yet, each at the offset committed for its
    /// copy in an earlier transaction, or at the beginning.
    pub fn new_partitions(&mut self, mirrored: &[Mirrored]) -> anyhow::Result<TopicPartitionList> {
        let mut copies = TopicPartitionList::new();
        for m in mirrored {
            for partition in 0..m.partitions {
                if !self.assigned.contains(&(m.source.clone(), partition)) {
                    copies.add_partition(&m.target, partition);
                }
            }
        }
        let mut start = TopicPartitionList::new();
        if copies.count() == 0 {
            return Ok(start);
        }
        let committed = self
            .offsets
            .committed_offsets(copies, TIMEOUT)
            .map_err(|e| anyhow!("read the mirror's committed offsets on the target: {e}"))?;
        for m in mirrored {
            for partition in 0..m.partitions {
                if !self.assigned.insert((m.source.clone(), partition)) {
                    continue;
                }
                let at = committed
                    .find_partition(&m.target, partition)
                    .and_then(|e| e.offset().to_raw())
                    .filter(|o| *o >= 0);
                if let Some(at) = at {
                    self.committed.insert((Arc::from(m.source.as_str()), partition), at);
                }
                start.add_partition_offset(&m.source, partition, at.map_or(Offset::Beginning, Offset::Offset))?;
            }
        }
        Ok(start)
    }

    /// The group metadata transactions commit offsets for.
    pub fn metadata(&self) -> &ConsumerGroupMetadata {
        &self.metadata
    }

    /// Whether a transaction is open.
    pub fn is_open(&self) -> bool {
        self.open_since.is_some()
    }

    /// A transaction was begun.
    pub fn opened(&mut self) {
        self.open_since = Some(Instant::now());
    }

    /// Whether the open transaction has run long enough to commit.
    pub fn due(&self) -> bool {
        self.open_since.is_some_and(|since| since.elapsed() >= TRANSACTION_EVERY)
    }

    /// The open transaction holds the source record at `offset`.
    pub fn copied(&mut self, topic: &Arc<str>, partition: i32, offset: i64) {
        self.pending.insert((topic.clone(), partition), offset + 1);
    }

    /// The offsets to commit with the open transaction, under the copies' names.
    pub fn offsets(&self, copy_of: impl Fn(&str) -> Option<Arc<str>>) -> anyhow::Result<TopicPartitionList> {
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &self.pending {
            if let Some(copy) = copy_of(topic) {
                offsets.add_partition_offset(&copy, *partition, Offset::Offset(*next))?;
            }
        }
        Ok(offsets)
    }

    /// The open transaction committed.
    pub fn committed(&mut self) {
        self.committed.extend(self.pending.drain());
        self.open_since = None;
    }

    /// The open transaction aborted: where its partitions must be read again from.
    pub fn aborted(&mut self) -> anyhow::Result<TopicPartitionList> {
        let mut rewind = TopicPartitionList::new();
        for ((topic, partition), _) in self.pending.drain() {
            let at = self.committed.get(&(topic.clone(), partition)).map_or(Offset::Beginning, |o| Offset::Offset(*o));
            rewind.add_partition_offset(&topic, partition, at)?;
        }
        self.open_since = None;
        Ok(rewind)
    }
}
