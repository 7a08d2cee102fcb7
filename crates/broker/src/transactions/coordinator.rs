//! The transaction coordinator: every transactional id's state, durable in
//! `__transaction_state` (replayed at start), and the markers that end transactions in their
//! partitions. Decisions are [`super::txn`]'s; this owns the log, the markers and the clock.
//!
//! Durability: a state change is answered only once its record is fsynced, except
//! AddPartitionsToTxn: its record is answered once written, and what it allows waits for it
//! instead (a transactional produce with acks=all, a TxnOffsetCommit, the transaction's end all
//! wait for the log to be durable through it). A partition can still hold data of a transaction
//! whose AddPartitionsToTxn the log lost (a power cut between the partition's fsync and the
//! log's, the data never acknowledged): [`TransactionCoordinator::abort_unrecorded`] ends those
//! at start, as no EndTxn ever would. Ending a
//! transaction records its decision, writes and fsyncs a marker to every partition of it, then
//! records the completion; a crash in between leaves the decision in the log, and
//! [`TransactionCoordinator::finish_pending`] writes the markers again at the next start (a
//! second marker for a transaction already ended in a partition ends nothing).
//!
//! Requests that change one transactional id's state are serialised (`ops`, a lock per id)
//! across their writes and fsyncs; different ids proceed together, and their fsyncs of the
//! log coalesce. The state itself sits behind a short-held lock that produce verification
//! reads.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use runnel_log::control::ControlType;
use runnel_log::{LogConfig, LogError, PartitionLog};

use super::TRANSACTION_STATE_TOPIC;
use super::records::{decode_key, decode_value, encode_key, encode_value};
use super::state::{TxnMetadata, TxnStatus};
use super::txn::{self, EndPlan, Ending, InitPlan, Markers, TxnError};
use crate::groups::clock::Clock;
use crate::internal_log;
use crate::metrics::BrokerMetrics;
use crate::partition::{Partition, PartitionRef};

/// Where markers go: the partitions of the broker's topics, and the group log for offsets
/// committed in a transaction.
pub trait MarkerTargets: Send + Sync {
    /// The partition, if its topic still exists (a deleted one needs no marker).
    fn partition(&self, topic: &str, index: i32) -> Option<PartitionRef>;

    /// Called once every marker of a transaction is written and fsynced.
    fn markers_written(&self, _markers: &Markers) {}
}

impl MarkerTargets for crate::broker::Broker {
    fn partition(&self, topic: &str, index: i32) -> Option<PartitionRef> {
        if topic == crate::groups::OFFSETS_TOPIC && index == 0 {
            return Some(self.groups.log_partition());
        }
        self.topics.get(topic).and_then(|t| t.partition(index).cloned())
    }

    fn markers_written(&self, markers: &Markers) {
        if markers.partitions.iter().any(|(topic, _)| topic == crate::groups::OFFSETS_TOPIC) {
            self.groups.end_transaction(markers.producer_id, markers.kind == ControlType::Commit);
        }
        // read_committed fetches waiting at the last stable offset may now read on.
        self.notify_data_arrived();
    }
}

/// Why a request failed: Kafka's refusal, or the log could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// The state machine refused it.
    #[error("{0:?}")]
    Txn(TxnError),
    /// A write or fsync of the transaction log or of a marker failed.
    #[error(transparent)]
    Storage(#[from] LogError),
    /// A commit could not make its records durable (a partition's fsync failed, which takes
    /// the partition offline until restart): nothing was decided, and the commit cannot succeed.
    #[error("the transaction's records could not be made durable: {0}")]
    RecordsNotDurable(LogError),
    /// No producer id could be allocated.
    #[error("allocate a producer id: {0}")]
    ProducerId(std::io::Error),
}

impl CoordinatorError {
    /// Kafka's error code. `fenced_code_supported`: the request version knows PRODUCER_FENCED
    /// (KIP-588). A log that cannot be written is NOT_COORDINATOR, as Kafka answers when its
    /// transaction log append fails: the client looks the coordinator up again and retries. A
    /// commit whose records cannot be made durable is KAFKA_STORAGE_ERROR, not retriable: a
    /// retry would fail the same way until the broker restarts, so the producer is told at once
    /// (librdkafka makes it an abortable error, Kafka's Java producer a fatal one).
    pub fn code(&self, fenced_code_supported: bool) -> i16 {
        match self {
            CoordinatorError::Txn(e) => e.response_error(fenced_code_supported).code(),
            CoordinatorError::Storage(_) => kafka_protocol::ResponseError::NotCoordinator.code(),
            CoordinatorError::RecordsNotDurable(_) => kafka_protocol::ResponseError::KafkaStorageError.code(),
            CoordinatorError::ProducerId(_) => kafka_protocol::ResponseError::KafkaStorageError.code(),
        }
    }
}

impl From<TxnError> for CoordinatorError {
    fn from(e: TxnError) -> Self {
        CoordinatorError::Txn(e)
    }
}

/// Settings of the transaction log: never deleted by time or size (Kafka compacts it).
fn log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 100 * 1024 * 1024,
        retention_ms: -1,
        retention_bytes: -1,
        compact: true,
        ..LogConfig::default()
    }
}

#[derive(Debug, Default)]
struct State {
    txns: HashMap<String, TxnMetadata>,
    /// Producer id to transactional id, for produce verification.
    by_producer: HashMap<i64, String>,
}

impl State {
    fn set(&mut self, id: &str, m: TxnMetadata) {
        if let Some(old) = self.txns.get(id)
            && old.producer_id != m.producer_id
        {
            self.by_producer.remove(&old.producer_id);
        }
        self.by_producer.insert(m.producer_id, id.to_string());
        self.txns.insert(id.to_string(), m);
    }
}

/// One id's turn to change its state. When it ends, the id's lock leaves the map unless
/// another request waits on it, so the map holds only ids in use (a stream of requests for
/// unknown ids leaves nothing behind).
struct IdTurn<'a> {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    ops: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    id: String,
}

impl Drop for IdTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        if ops.get(&self.id).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            ops.remove(&self.id);
        }
    }
}

/// The coordinator.
#[derive(Debug)]
pub struct TransactionCoordinator {
    state: Mutex<State>,
    ops: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    log: Partition,
    /// The log's offset after the last AddPartitionsToTxn record, answered before its fsync.
    added_through: AtomicI64,
    clock: Arc<dyn Clock>,
    max_timeout_ms: i32,
}

impl TransactionCoordinator {
    /// Opens (recovering if needed) the transaction log under `data_dir` and replays it.
    pub fn open(
        data_dir: &Path,
        clean_shutdown: bool,
        clock: Arc<dyn Clock>,
        max_timeout_ms: i32,
    ) -> Result<TransactionCoordinator, LogError> {
        let dir = data_dir.join(format!("{TRANSACTION_STATE_TOPIC}-0"));
        let (log, _) = PartitionLog::open(&dir, log_config(), clean_shutdown)?;
        let log = Partition::new(TRANSACTION_STATE_TOPIC, 0, log);
        let mut state = State::default();
        internal_log::read(&log, i64::MAX, "transaction", |stored| {
            let (offset, value) = (stored.offset, stored.value);
            let id = match decode_key(stored.key) {
                Ok(id) => id,
                Err(e) => return tracing::warn!(offset, error = %e, "skipping a transaction log record"),
            };
            match value.map(decode_value) {
                None => {
                    if let Some(old) = state.txns.remove(&id) {
                        state.by_producer.remove(&old.producer_id);
                    }
                }
                Some(Ok(m)) => state.set(&id, m),
                Some(Err(e)) => tracing::warn!(offset, error = %e, "skipping a transaction log record"),
            }
        })?;
        Ok(TransactionCoordinator {
            state: Mutex::new(state),
            ops: Mutex::new(HashMap::new()),
            log,
            added_through: AtomicI64::new(0),
            clock,
            max_timeout_ms,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the right to change `id`'s state, held until the guard drops.
    async fn serialise(&self, id: &str) -> IdTurn<'_> {
        let op = {
            let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            ops.entry(id.to_string()).or_default().clone()
        };
        IdTurn { guard: Some(op.lock_owned().await), ops: &self.ops, id: id.to_string() }
    }

    /// The transaction log, for shutdown.
    pub fn log(&self) -> &Partition {
        &self.log
    }

    /// A transactional id's state.
    pub fn describe(&self, transactional_id: &str) -> Option<TxnMetadata> {
        self.lock().txns.get(transactional_id).cloned()
    }

    /// Every transactional id with its state, sorted by id.
    pub fn list(&self) -> Vec<(String, TxnMetadata)> {
        let mut all: Vec<(String, TxnMetadata)> =
            self.lock().txns.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Appends `m` for `id`, fsyncs it, and makes it the current state.
    async fn record(&self, id: &str, m: TxnMetadata, metrics: &BrokerMetrics) -> Result<(), LogError> {
        let next = self.append(id, Some(&m))?;
        self.log.flush_to(next, metrics).await?;
        self.lock().set(id, m);
        Ok(())
    }

    /// Appends `m` for `id`, or a tombstone for `None`; returns the offset after it.
    fn append(&self, id: &str, m: Option<&TxnMetadata>) -> Result<i64, LogError> {
        internal_log::append(&self.log, &[(encode_key(id), m.map(encode_value))], self.clock.now_ms(), "transaction")
    }

    /// Records a transaction's completion without waiting for its fsync: its markers are
    /// durable already, and if the completion is lost in a crash the log still holds the
    /// decision, from which the next start writes the markers again (a second marker ends
    /// nothing) and records it. The next fsync of the log, the id's next change or anyone's,
    /// makes it durable.
    fn record_completion(&self, id: &str, m: TxnMetadata) -> Result<(), LogError> {
        self.append(id, Some(&m))?;
        self.lock().set(id, m);
        Ok(())
    }

    /// Writes and fsyncs a marker in every partition of `markers`.
    async fn write_markers(
        &self,
        markers: &Markers,
        targets: &dyn MarkerTargets,
        metrics: &BrokerMetrics,
    ) -> Result<(), LogError> {
        let mut written = Vec::with_capacity(markers.partitions.len());
        for (topic, index) in &markers.partitions {
            let Some(partition) = targets.partition(topic, *index) else { continue };
            let next = partition.write_marker(
                markers.producer_id,
                markers.producer_epoch,
                markers.kind,
                0,
                self.clock.now_ms(),
            )?;
            written.push((partition, next));
        }
        // One fsync per partition, all at once rather than one after another.
        let flushes = written.iter().map(|(partition, next)| partition.flush_to(*next, metrics));
        futures::future::try_join_all(flushes).await?;
        targets.markers_written(markers);
        Ok(())
    }

    /// Records the decision, writes the markers, records the completion. A commit first makes
    /// the transaction's records durable (a transactional produce is answered before its
    /// fsync): once the decision is on disk, so is everything it commits.
    async fn end(
        &self,
        id: &str,
        ending: Ending,
        targets: &dyn MarkerTargets,
        metrics: &BrokerMetrics,
    ) -> Result<(), CoordinatorError> {
        if ending.markers.kind == ControlType::Commit {
            sync_data(&ending.markers, targets, metrics).await.map_err(CoordinatorError::RecordsNotDurable)?;
        }
        self.record(id, ending.prepare, metrics).await?;
        self.write_markers(&ending.markers, targets, metrics).await?;
        Ok(self.record_completion(id, ending.complete)?)
    }

    /// InitProducerId with a transactional id: its producer id and a new epoch, after aborting
    /// (and so fencing) any transaction its previous producer left open. `allocate` gives a
    /// new producer id.
    pub async fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        allocate: &(dyn Fn() -> std::io::Result<i64> + Sync),
        targets: &dyn MarkerTargets,
        metrics: &BrokerMetrics,
    ) -> Result<(i64, i16), CoordinatorError> {
        let _op = self.serialise(id).await;
        loop {
            let current = self.describe(id);
            let plan = txn::init_producer_id(
                current.as_ref(),
                timeout_ms,
                expected,
                self.clock.now_ms(),
                self.max_timeout_ms,
            )?;
            match plan {
                InitPlan::AbortFirst(ending) => self.end(id, ending, targets, metrics).await?,
                InitPlan::Unchanged => {
                    let m = current.expect("Unchanged comes from a known id");
                    return Ok((m.producer_id, m.producer_epoch));
                }
                InitPlan::Ready { mut next, needs_new_id } => {
                    if needs_new_id {
                        next.producer_id = allocate().map_err(CoordinatorError::ProducerId)?;
                    }
                    let answer = (next.producer_id, next.producer_epoch);
                    self.record(id, next, metrics).await?;
                    return Ok(answer);
                }
            }
        }
    }

    /// AddPartitionsToTxn (the partitions are known to exist): recorded, and answered before
    /// the record's fsync. The commit's decision, fsynced after it, makes it durable; a
    /// TxnOffsetCommit waits for it ([`Self::sync_added_partitions`]).
    pub async fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), CoordinatorError> {
        let _op = self.serialise(id).await;
        let current = self.describe(id);
        if let Some(next) = txn::add_partitions(current.as_ref(), producer_id, epoch, partitions, self.clock.now_ms())?
        {
            let through = self.append(id, Some(&next))?;
            // Raised before the state shows the partitions: whoever sees them added waits for
            // this record.
            self.added_through.fetch_max(through, Ordering::AcqRel);
            self.lock().set(id, next);
        }
        Ok(())
    }

    /// Waits until every AddPartitionsToTxn answered so far is durable: what a TxnOffsetCommit
    /// waits for besides its own fsync.
    pub async fn sync_added_partitions(&self, metrics: &BrokerMetrics) -> Result<(), LogError> {
        match self.added_through.load(Ordering::Acquire) {
            0 => Ok(()),
            through => self.log.flush_to(through, metrics).await,
        }
    }

    /// Aborts, at start, every transaction open in a partition that the log does not record
    /// as open there: its AddPartitionsToTxn was answered and its data written, but a power cut
    /// took the record before it reached the disk (nothing of it was committed, as a commit
    /// waits for the record). No EndTxn would ever end it, and the partition's last stable
    /// offset would stay behind it for good. Returns how many it aborted.
    pub async fn abort_unrecorded(
        &self,
        partitions: &[PartitionRef],
        targets: &dyn MarkerTargets,
        metrics: &BrokerMetrics,
    ) -> Result<usize, LogError> {
        let mut aborted = 0;
        for partition in partitions {
            let open: Vec<(i64, i16)> = partition
                .active_producers()
                .into_iter()
                .filter(|p| p.txn_start_offset >= 0)
                .map(|p| (p.producer_id, p.epoch))
                .collect();
            for (producer_id, epoch) in open {
                let place = (partition.topic().to_string(), partition.index());
                let recorded = {
                    let state = self.lock();
                    let m = state.by_producer.get(&producer_id).and_then(|id| state.txns.get(id));
                    match m {
                        Some(m) if m.status == TxnStatus::Ongoing && m.partitions.contains(&place) => None,
                        Some(m) if m.status.is_preparing() && m.partitions.contains(&place) => None,
                        Some(m) => Some(m.producer_epoch.max(epoch)),
                        None => Some(epoch),
                    }
                };
                let Some(marker_epoch) = recorded else { continue };
                let next =
                    partition.write_marker(producer_id, marker_epoch, ControlType::Abort, 0, self.clock.now_ms())?;
                partition.flush_to(next, metrics).await?;
                let markers = Markers {
                    producer_id,
                    producer_epoch: marker_epoch,
                    kind: ControlType::Abort,
                    partitions: vec![place],
                };
                targets.markers_written(&markers);
                tracing::warn!(
                    topic = %partition.topic(),
                    partition = partition.index(),
                    producer_id,
                    "aborted a transaction the transaction log does not record (its record was lost before reaching the disk)"
                );
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// AddPartitionsToTxn's verify-only form: for each partition, whether the producer's open
    /// transaction has it. It reads the state and writes nothing.
    pub fn verify_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<bool>, CoordinatorError> {
        Ok(txn::verify_partitions(self.describe(id).as_ref(), producer_id, epoch, partitions)?)
    }

    /// EndTxn: commits or aborts the open transaction in every partition it added.
    pub async fn end_txn(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        targets: &dyn MarkerTargets,
        metrics: &BrokerMetrics,
    ) -> Result<(), CoordinatorError> {
        let _op = self.serialise(id).await;
        let current = self.describe(id);
        match txn::end_txn(current.as_ref(), producer_id, epoch, commit, self.clock.now_ms())? {
            EndPlan::End(ending) => Ok(self.end(id, ending, targets, metrics).await?),
            EndPlan::AlreadyDone => Ok(()),
        }
    }

    /// Aborts every transaction open longer than its timeout, fencing its producer; returns
    /// how many. The broker calls it periodically.
    pub async fn abort_expired(&self, targets: &dyn MarkerTargets, metrics: &BrokerMetrics) -> usize {
        self.abort_where(txn::expire, "a transaction open past its timeout", targets, metrics).await
    }

    /// Aborts every open transaction, fencing its producers; returns how many. Called at start
    /// when the machine may have lost what the previous run did not fsync: a transactional
    /// produce is acknowledged before its fsync, so an open transaction may have lost records
    /// its producer counts as written, and must not commit.
    pub async fn abort_open_after_power_loss(&self, targets: &dyn MarkerTargets, metrics: &BrokerMetrics) -> usize {
        let why = "a transaction open when the machine stopped (records not yet fsynced may be lost)";
        self.abort_where(txn::abort_open, why, targets, metrics).await
    }

    /// Aborts each transaction `plan` ends (given its state and the time), logging `what` it
    /// ended; returns how many.
    async fn abort_where(
        &self,
        plan: fn(&TxnMetadata, i64) -> Option<Ending>,
        what: &str,
        targets: &dyn MarkerTargets,
        metrics: &BrokerMetrics,
    ) -> usize {
        let now = self.clock.now_ms();
        let chosen: Vec<String> =
            self.lock().txns.iter().filter(|(_, m)| plan(m, now).is_some()).map(|(id, _)| id.clone()).collect();
        let mut aborted = 0;
        for id in chosen {
            let _op = self.serialise(&id).await;
            // Looked at again under the id's lock: its producer may have ended it meanwhile.
            let Some(ending) = self.describe(&id).and_then(|m| plan(&m, self.clock.now_ms())) else {
                continue;
            };
            match self.end(&id, ending, targets, metrics).await {
                Ok(()) => {
                    tracing::info!(transactional_id = %id, "aborted {what}");
                    aborted += 1;
                }
                Err(e) => tracing::error!(transactional_id = %id, error = %e, "could not abort {what}"),
            }
        }
        aborted
    }

    /// Forgets transactional ids idle for longer than `expiration_ms`
    /// (`transactional.id.expiration.ms`): a tombstone in the log, fsynced, then gone from
    /// memory, as Kafka does. A producer coming back with the id starts afresh with a new
    /// producer id. Returns how many were removed.
    pub async fn remove_expired_ids(&self, expiration_ms: i64, metrics: &BrokerMetrics) -> Result<usize, LogError> {
        let now = self.clock.now_ms();
        let idle: Vec<String> = self
            .lock()
            .txns
            .iter()
            .filter(|(_, m)| txn::id_expired(m, now, expiration_ms))
            .map(|(id, _)| id.clone())
            .collect();
        let mut removed = 0;
        for id in idle {
            let _op = self.serialise(&id).await;
            // Looked at again under the id's lock: its producer may have come back meanwhile.
            if !self.describe(&id).is_some_and(|m| txn::id_expired(&m, self.clock.now_ms(), expiration_ms)) {
                continue;
            }
            let next = self.append(&id, None)?;
            self.log.flush_to(next, metrics).await?;
            let mut state = self.lock();
            if let Some(old) = state.txns.remove(&id) {
                state.by_producer.remove(&old.producer_id);
            }
            removed += 1;
        }
        Ok(removed)
    }

    /// Finishes the endings left half done: every decided transaction gets its markers and
    /// its completion. Called at start, after the topics are open (a crash interrupted them),
    /// and on the transaction timer (a marker write failed, on a full disk say: EndTxn
    /// answered with a retriable error, and its retries get CONCURRENT_TRANSACTIONS until
    /// this succeeds). Returns how many it finished.
    pub async fn finish_pending(
        &self,
        targets: &dyn MarkerTargets,
        metrics: &BrokerMetrics,
    ) -> Result<usize, LogError> {
        let pending: Vec<String> =
            self.lock().txns.iter().filter(|(_, m)| m.status.is_preparing()).map(|(id, _)| id.clone()).collect();
        let mut finished = 0;
        for id in &pending {
            let _op = self.serialise(id).await;
            // Looked at again under the id's lock: an ending in progress may have finished it.
            let Some(prepared) = self.describe(id).filter(|m| m.status.is_preparing()) else { continue };
            let ending = txn::resume(&prepared, self.clock.now_ms());
            self.write_markers(&ending.markers, targets, metrics).await?;
            self.record(id, ending.complete, metrics).await?;
            tracing::info!(transactional_id = %id, "finished a transaction ending left half done");
            finished += 1;
        }
        Ok(finished)
    }

    /// Whether a transactional batch of `producer_id` at `epoch` may be appended to
    /// `(topic, partition)`: only into an open transaction that added that partition.
    pub fn verify_produce(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), kafka_protocol::ResponseError> {
        let state = self.lock();
        let m = state
            .by_producer
            .get(&producer_id)
            .and_then(|id| state.txns.get(id))
            .ok_or(kafka_protocol::ResponseError::InvalidProducerIdMapping)?;
        txn::verify_produce(m, epoch, &(topic.to_string(), partition))
    }
}

/// Fsyncs every partition of `markers` through what it holds now, all at once: the records
/// of a transaction about to commit (its producer waited for their acknowledgements, so they
/// are written).
async fn sync_data(markers: &Markers, targets: &dyn MarkerTargets, metrics: &BrokerMetrics) -> Result<(), LogError> {
    let partitions: Vec<_> =
        markers.partitions.iter().filter_map(|(topic, index)| targets.partition(topic, *index)).collect();
    let flushes = partitions.iter().map(|partition| partition.flush_to(partition.offsets().1, metrics));
    futures::future::try_join_all(flushes).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::clock::ManualClock;

    #[tokio::test]
    async fn requests_leave_no_lock_behind_for_ids_not_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(0));
        let c = TransactionCoordinator::open(dir.path(), false, clock, txn::DEFAULT_MAX_TIMEOUT_MS).expect("open");
        for i in 0..100 {
            let refused = c.add_partitions(&format!("unknown-{i}"), 1, 0, &[("t".into(), 0)]).await;
            assert!(matches!(refused, Err(CoordinatorError::Txn(TxnError::InvalidProducerIdMapping))));
        }
        assert!(c.ops.lock().expect("ops").is_empty(), "no lock kept for ids nobody is changing");
    }
}
