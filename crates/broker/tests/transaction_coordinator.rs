//! The transaction coordinator driven directly, with a manual clock and real partition logs:
//! commits and aborts write markers and move the partitions' last stable offsets, state is
//! replayed from `__transaction_state`, an ending interrupted by a crash is finished at the next
//! start and one whose markers failed by the next retry, a completion lost in a crash is
//! written again, a transaction whose AddPartitionsToTxn record a power cut took is aborted at
//! the next start, overdue transactions are aborted with their producer fenced, a new producer
//! with the same transactional id aborts what the old one left open, and idle transactional ids
//! expire. A commit makes the transaction's records durable before its decision (a
//! transactional produce is answered before its fsync), and a start after a power cut aborts
//! every open transaction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use kafka_protocol::ResponseError;
use runnel_broker::groups::clock::ManualClock;
use runnel_broker::metrics::BrokerMetrics;
use runnel_broker::partition::{Partition, PartitionRef};
use runnel_broker::transactions::coordinator::{CoordinatorError, MarkerTargets, TransactionCoordinator};
use runnel_broker::transactions::state::TxnStatus;
use runnel_broker::transactions::txn::{DEFAULT_MAX_TIMEOUT_MS, TxnError};
use runnel_log::testing::transactional_batch;
use runnel_log::{LogConfig, PartitionLog};

/// Two partitions, "t"-0 and "t"-1, in a temp dir.
struct Targets(HashMap<(String, i32), PartitionRef>);

impl MarkerTargets for Targets {
    fn partition(&self, topic: &str, index: i32) -> Option<PartitionRef> {
        self.0.get(&(topic.to_string(), index)).cloned()
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    targets: Targets,
    metrics: BrokerMetrics,
    next_id: AtomicI64,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = Targets(
        (0..2)
            .map(|index| {
                let (log, _) = PartitionLog::open(&dir.path().join(format!("t-{index}")), LogConfig::default(), false)
                    .expect("open partition");
                (("t".to_string(), index), Arc::new(Partition::new("t", index, log)))
            })
            .collect(),
    );
    Fixture {
        dir,
        clock: Arc::new(ManualClock::new(1_000_000)),
        targets,
        metrics: BrokerMetrics::default(),
        next_id: AtomicI64::new(100),
    }
}

impl Fixture {
    fn open(&self) -> TransactionCoordinator {
        TransactionCoordinator::open(self.dir.path(), false, self.clock.clone(), DEFAULT_MAX_TIMEOUT_MS)
            .expect("open coordinator")
    }

    async fn init(&self, c: &TransactionCoordinator, id: &str) -> (i64, i16) {
        let allocate = || Ok(self.next_id.fetch_add(1, Ordering::SeqCst));
        c.init_producer_id(id, 60_000, None, &allocate, &self.targets, &self.metrics).await.expect("init")
    }

    /// Targets whose "t"-0 refuses writes, as a partition does after a failed fsync.
    fn refusing_targets(&self) -> Targets {
        let (log, _) =
            PartitionLog::open(&self.dir.path().join("broken-0"), LogConfig::default(), false).expect("open");
        let partition = Arc::new(Partition::new("t", 0, log));
        partition.retire();
        Targets(HashMap::from([(tp(0), partition)]))
    }

    /// Cuts the last record off the transaction log, as a power cut takes what was not yet
    /// fsynced (the coordinator closed first).
    fn cut_last_record_off_the_transaction_log(&self) {
        let log = self.dir.path().join("__transaction_state-0").join(format!("{:020}.log", 0));
        let bytes = std::fs::read(&log).expect("read the transaction log");
        let last = runnel_log::batch::BatchWalker::new(&bytes).map(|b| b.expect("valid").0).last().expect("a batch");
        std::fs::OpenOptions::new().write(true).open(&log).expect("open").set_len(last as u64).expect("truncate");
    }

    fn partition(&self, index: i32) -> &PartitionRef {
        &self.targets.0[&("t".to_string(), index)]
    }

    /// Writes `count` records of the producer's transaction into partition `index`, as the
    /// log would take them once produce verification passed.
    fn produce(&self, c: &TransactionCoordinator, (pid, epoch): (i64, i16), index: i32, sequence: i32) {
        c.verify_produce(pid, epoch, "t", index).expect("the partition was added");
        self.partition(index).append_verified(&transactional_batch(2, 0, (pid, epoch, sequence)), 0).expect("append");
    }
}

fn tp(index: i32) -> (String, i32) {
    ("t".to_string(), index)
}

fn control_batches(partition: &Partition) -> usize {
    partition.read(0, usize::MAX, true).expect("read").records.map_or(0, |bytes| {
        runnel_log::batch::BatchWalker::new(&bytes).filter(|b| b.as_ref().expect("valid").1.is_control()).count()
    })
}

#[tokio::test]
async fn a_commit_writes_markers_moves_the_stable_offsets_and_is_replayed() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    assert_eq!(producer, (100, 0));
    c.add_partitions("tx", 100, 0, &[tp(0), tp(1)]).await.expect("add");
    f.produce(&c, producer, 0, 0);
    f.produce(&c, producer, 1, 0);
    assert_eq!((f.partition(0).last_stable_offset(), f.partition(1).last_stable_offset()), (0, 0));
    c.end_txn("tx", 100, 0, true, &f.targets, &f.metrics).await.expect("commit");
    assert_eq!((f.partition(0).last_stable_offset(), f.partition(1).last_stable_offset()), (3, 3));
    assert_eq!(control_batches(f.partition(0)), 1);
    assert_eq!(c.describe("tx").expect("known").status, TxnStatus::CompleteCommit);
    // A retried EndTxn succeeds without another marker.
    c.end_txn("tx", 100, 0, true, &f.targets, &f.metrics).await.expect("retry");
    assert_eq!(control_batches(f.partition(0)), 1);
    assert_eq!(c.verify_produce(100, 0, "t", 0), Err(ResponseError::InvalidTxnState), "nothing open");
    drop(c);

    let c = f.open();
    let replayed = c.describe("tx").expect("replayed");
    assert_eq!((replayed.producer_id, replayed.producer_epoch, replayed.status), (100, 0, TxnStatus::CompleteCommit));
    assert_eq!(f.init(&c, "tx").await, (100, 1), "a restarted producer gets the next epoch");
}

#[tokio::test]
async fn an_abort_indexes_the_transaction_and_errors_are_kafkas() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    c.add_partitions("tx", 100, 0, &[tp(0)]).await.expect("add");
    f.produce(&c, producer, 0, 0);
    assert_eq!(c.verify_produce(100, 0, "t", 1), Err(ResponseError::InvalidTxnState), "partition 1 not added");
    c.end_txn("tx", 100, 0, false, &f.targets, &f.metrics).await.expect("abort");
    let located = f.partition(0).locate(0, 1 << 20, true, true).expect("locate");
    assert_eq!(located.aborted, Some(vec![(100, 0)]));
    assert_eq!(located.last_stable_offset, 3);

    let refused = |r: Result<(), CoordinatorError>| match r {
        Err(CoordinatorError::Txn(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refused(c.end_txn("tx", 100, 0, true, &f.targets, &f.metrics).await),
        TxnError::InvalidTxnState,
        "commit after abort"
    );
    assert_eq!(refused(c.add_partitions("nope", 100, 0, &[tp(0)]).await), TxnError::InvalidProducerIdMapping);
    assert_eq!(refused(c.add_partitions("tx", 101, 0, &[tp(0)]).await), TxnError::InvalidProducerIdMapping);
    assert_eq!(refused(c.add_partitions("tx", 100, 3, &[tp(0)]).await), TxnError::ProducerFenced);
    let allocate = || Ok(1);
    let timeout = c.init_producer_id("tx", DEFAULT_MAX_TIMEOUT_MS + 1, None, &allocate, &f.targets, &f.metrics).await;
    assert!(matches!(timeout, Err(CoordinatorError::Txn(TxnError::InvalidTransactionTimeout))));
}

#[tokio::test]
async fn a_new_producer_with_the_same_transactional_id_aborts_the_open_transaction() {
    let f = fixture();
    let c = f.open();
    let old = f.init(&c, "tx").await;
    c.add_partitions("tx", 100, 0, &[tp(1)]).await.expect("add");
    f.produce(&c, old, 1, 0);
    let new = f.init(&c, "tx").await;
    assert_eq!(new, (100, 2), "the abort fenced epoch 0 with epoch 1; the new producer has 2");
    assert_eq!(f.partition(1).last_stable_offset(), 3, "the old transaction is aborted");
    assert_eq!(f.partition(1).locate(0, 1 << 20, true, true).expect("locate").aborted, Some(vec![(100, 0)]));
    assert!(matches!(
        c.end_txn("tx", 100, 0, true, &f.targets, &f.metrics).await,
        Err(CoordinatorError::Txn(TxnError::ProducerFenced))
    ));
}

#[tokio::test]
async fn an_overdue_transaction_is_aborted_and_its_producer_fenced() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    c.add_partitions("tx", 100, 0, &[tp(0)]).await.expect("add");
    f.produce(&c, producer, 0, 0);
    f.clock.advance(60_000);
    assert_eq!(c.abort_expired(&f.targets, &f.metrics).await, 0, "not past the timeout yet");
    f.clock.advance(1);
    assert_eq!(c.abort_expired(&f.targets, &f.metrics).await, 1);
    assert_eq!(f.partition(0).last_stable_offset(), 3);
    assert_eq!(c.verify_produce(100, 0, "t", 0), Err(ResponseError::InvalidProducerEpoch));
    let m = c.describe("tx").expect("known");
    assert_eq!((m.status, m.producer_epoch), (TxnStatus::CompleteAbort, 1));
}

#[tokio::test]
async fn an_ending_interrupted_by_a_crash_is_finished_at_the_next_start() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    c.add_partitions("tx", 100, 0, &[tp(0)]).await.expect("add");
    f.produce(&c, producer, 0, 0);
    // The marker cannot be written: the decision is recorded, the ending stops there.
    let broken = f.refusing_targets();
    assert!(matches!(c.end_txn("tx", 100, 0, true, &broken, &f.metrics).await, Err(CoordinatorError::Storage(_))));
    assert_eq!(c.describe("tx").expect("known").status, TxnStatus::PrepareCommit);
    drop(c);

    let c = f.open();
    assert_eq!(c.describe("tx").expect("replayed").status, TxnStatus::PrepareCommit);
    assert_eq!(c.finish_pending(&f.targets, &f.metrics).await.expect("finish"), 1);
    assert_eq!(c.describe("tx").expect("known").status, TxnStatus::CompleteCommit);
    assert_eq!(f.partition(0).last_stable_offset(), 3, "the commit marker is written");
    assert_eq!(f.partition(0).locate(0, 1 << 20, true, true).expect("locate").aborted, Some(vec![]));
}

#[tokio::test]
async fn an_idle_transactional_id_expires_with_a_tombstone_and_an_open_one_does_not() {
    let f = fixture();
    let c = f.open();
    let week = runnel_broker::transactions::txn::DEFAULT_ID_EXPIRATION_MS;
    let idle = f.init(&c, "idle").await;
    c.add_partitions("idle", idle.0, idle.1, &[tp(0)]).await.expect("add");
    c.end_txn("idle", idle.0, idle.1, true, &f.targets, &f.metrics).await.expect("commit");
    let open = f.init(&c, "open").await;
    c.add_partitions("open", open.0, open.1, &[tp(1)]).await.expect("add");
    f.clock.advance(week);
    assert_eq!(c.remove_expired_ids(week, &f.metrics).await.expect("remove"), 0, "not idle longer than a week yet");
    f.clock.advance(1);
    assert_eq!(c.remove_expired_ids(week, &f.metrics).await.expect("remove"), 1);
    assert!(c.describe("idle").is_none(), "forgotten");
    assert_eq!(c.describe("open").expect("kept").status, TxnStatus::Ongoing, "an open transaction is not idle");
    assert_eq!(c.verify_produce(idle.0, idle.1, "t", 0), Err(ResponseError::InvalidProducerIdMapping));
    drop(c);

    // The tombstone is replayed; the id comes back afresh, with a new producer id.
    let c = f.open();
    assert!(c.describe("idle").is_none(), "still forgotten after a restart");
    assert_eq!(c.list().len(), 1);
    let again = f.init(&c, "idle").await;
    assert_eq!(again.1, 0, "a new producer id starts at epoch 0");
    assert_ne!(again.0, idle.0);
}

#[tokio::test]
async fn an_ending_whose_markers_failed_is_finished_by_the_next_retry() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    c.add_partitions("tx", producer.0, producer.1, &[tp(0)]).await.expect("add");
    f.produce(&c, producer, 0, 0);
    // The marker's partition refuses writes (as after a failed fsync): EndTxn fails after
    // its decision is durable.
    let failing = f.refusing_targets();
    let result = c.end_txn("tx", producer.0, producer.1, true, &failing, &f.metrics).await;
    assert!(matches!(result, Err(CoordinatorError::Storage(_))), "{result:?}");
    assert_eq!(c.describe("tx").expect("known").status, TxnStatus::PrepareCommit);
    assert!(matches!(
        c.add_partitions("tx", producer.0, producer.1, &[tp(0)]).await,
        Err(CoordinatorError::Txn(TxnError::ConcurrentTransactions))
    ));
    assert_eq!(f.partition(0).last_stable_offset(), 0, "still held back");

    // The retry (the transaction timer's) writes the markers once the partition takes them.
    assert_eq!(c.finish_pending(&f.targets, &f.metrics).await.expect("finish"), 1);
    assert_eq!(c.describe("tx").expect("known").status, TxnStatus::CompleteCommit);
    assert_eq!(f.partition(0).last_stable_offset(), 3);
    c.end_txn("tx", producer.0, producer.1, true, &f.targets, &f.metrics).await.expect("the client's retry succeeds");
    assert_eq!(c.finish_pending(&f.targets, &f.metrics).await.expect("nothing left"), 0);
}

#[tokio::test]
async fn a_completion_lost_in_a_crash_is_written_again_with_a_harmless_second_marker() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    c.add_partitions("tx", producer.0, producer.1, &[tp(0)]).await.expect("add");
    f.produce(&c, producer, 0, 0);
    c.end_txn("tx", producer.0, producer.1, true, &f.targets, &f.metrics).await.expect("commit");
    drop(c);
    // EndTxn does not wait for the completion record's fsync: cut it off the log, as a power
    // loss could.
    f.cut_last_record_off_the_transaction_log();

    let c = f.open();
    assert_eq!(c.describe("tx").expect("replayed").status, TxnStatus::PrepareCommit);
    assert_eq!(c.finish_pending(&f.targets, &f.metrics).await.expect("finish"), 1);
    assert_eq!(c.describe("tx").expect("known").status, TxnStatus::CompleteCommit);
    assert_eq!(control_batches(f.partition(0)), 2, "the marker written again");
    let located = f.partition(0).locate(0, 1 << 20, true, true).expect("locate");
    assert_eq!((located.last_stable_offset, located.aborted), (4, Some(vec![])), "committed, nothing held back");
}

#[tokio::test]
async fn a_transaction_whose_added_partition_a_power_cut_took_from_the_log_is_aborted_at_start() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    // "t"-1 added, its record made durable (as a TxnOffsetCommit waits for), and written to.
    c.add_partitions("tx", producer.0, producer.1, &[tp(1)]).await.expect("add");
    let log_end = || c.log().offsets().1;
    assert!(c.log().flushed_offset() < log_end(), "answered before the record's fsync");
    c.sync_added_partitions(&f.metrics).await.expect("the transaction log's fsync");
    assert_eq!(c.log().flushed_offset(), log_end(), "durable once waited for");
    f.produce(&c, producer, 1, 0);
    // "t"-0 added (answered before its record's fsync) and written to, the data reaching the
    // disk but never acknowledged ...
    c.add_partitions("tx", producer.0, producer.1, &[tp(0)]).await.expect("add");
    assert!(c.log().flushed_offset() < log_end());
    f.produce(&c, producer, 0, 0);
    f.partition(0).flush_to(2, &f.metrics).await.expect("the partition's fsync");
    drop(c);
    // ... when a power cut takes the record, never fsynced, off the transaction log.
    f.cut_last_record_off_the_transaction_log();

    let c = f.open();
    let replayed = c.describe("tx").expect("replayed");
    assert_eq!(replayed.status, TxnStatus::Ongoing);
    assert!(replayed.partitions.contains(&tp(1)) && !replayed.partitions.contains(&tp(0)), "{replayed:?}");
    assert_eq!(f.partition(0).last_stable_offset(), 0, "held back by a transaction no EndTxn would end");

    let partitions = vec![f.partition(0).clone(), f.partition(1).clone()];
    assert_eq!(c.abort_unrecorded(&partitions, &f.targets, &f.metrics).await.expect("sweep"), 1);
    let located = f.partition(0).locate(0, 1 << 20, true, true).expect("locate");
    assert_eq!(located.last_stable_offset, 3, "aborted: the stable offset passes the marker");
    let aborted = located.aborted.expect("an aborted list");
    assert_eq!(aborted.iter().map(|a| a.0).collect::<Vec<_>>(), [producer.0], "its records are dropped");
    assert_eq!(f.partition(1).last_stable_offset(), 0, "the recorded transaction stays open for its producer");

    // The producer's transaction goes on in the partition the log recorded, and commits.
    c.end_txn("tx", producer.0, producer.1, true, &f.targets, &f.metrics).await.expect("commit");
    assert_eq!(f.partition(1).last_stable_offset(), 3);
    assert_eq!(c.abort_unrecorded(&partitions, &f.targets, &f.metrics).await.expect("sweep"), 0, "nothing left");
}

/// Targets that note, each time the coordinator asks for a partition, how much of it is durable.
struct WatchedTargets<'a> {
    inner: &'a Targets,
    flushed_when_asked: Mutex<Vec<i64>>,
}

impl MarkerTargets for WatchedTargets<'_> {
    fn partition(&self, topic: &str, index: i32) -> Option<PartitionRef> {
        let partition = self.inner.partition(topic, index)?;
        self.flushed_when_asked.lock().unwrap().push(partition.flushed_offset());
        Some(partition)
    }
}

#[tokio::test]
async fn a_commit_makes_the_transactions_records_durable_before_it_records_its_decision() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    c.add_partitions("tx", producer.0, producer.1, &[tp(0)]).await.expect("add");
    // Written and not fsynced, as a transactional produce is answered.
    f.produce(&c, producer, 0, 0);
    assert_eq!(f.partition(0).flushed_offset(), 0);
    let watched = WatchedTargets { inner: &f.targets, flushed_when_asked: Mutex::new(vec![]) };
    c.end_txn("tx", producer.0, producer.1, true, &watched, &f.metrics).await.expect("commit");
    // Asked first to fsync the records, then, the decision recorded, for the marker: by then
    // the records were durable.
    assert_eq!(*watched.flushed_when_asked.lock().unwrap(), [0, 2]);
    assert_eq!(f.partition(0).last_stable_offset(), 3);

    // An abort commits nothing, and fsyncs only its markers.
    c.add_partitions("tx", producer.0, producer.1, &[tp(1)]).await.expect("add");
    f.produce(&c, producer, 1, 0);
    let watched = WatchedTargets { inner: &f.targets, flushed_when_asked: Mutex::new(vec![]) };
    c.end_txn("tx", producer.0, producer.1, false, &watched, &f.metrics).await.expect("abort");
    assert_eq!(*watched.flushed_when_asked.lock().unwrap(), [0]);
}

#[tokio::test]
async fn a_commit_whose_records_cannot_be_fsynced_records_no_decision() {
    let f = fixture();
    let c = f.open();
    let producer = f.init(&c, "tx").await;
    c.add_partitions("tx", producer.0, producer.1, &[tp(0)]).await.expect("add");
    f.produce(&c, producer, 0, 0);
    // The partition refuses writes and fsyncs, as after a failed fsync.
    f.partition(0).retire();
    let result = c.end_txn("tx", producer.0, producer.1, true, &f.targets, &f.metrics).await;
    let Err(error @ CoordinatorError::RecordsNotDurable(_)) = result else { panic!("{result:?}") };
    // Not retriable: a retry would fail the same way until the broker restarts.
    assert_eq!(error.code(true), ResponseError::KafkaStorageError.code());
    assert_eq!(c.describe("tx").expect("known").status, TxnStatus::Ongoing, "nothing decided");
    drop(c);
    assert_eq!(f.open().describe("tx").expect("replayed").status, TxnStatus::Ongoing, "nor in the log");
}

#[tokio::test]
async fn a_start_after_a_power_cut_aborts_every_open_transaction_and_fences_its_producer() {
    let f = fixture();
    let c = f.open();
    let open = f.init(&c, "open").await;
    c.add_partitions("open", open.0, open.1, &[tp(0)]).await.expect("add");
    f.produce(&c, open, 0, 0);
    let committed = f.init(&c, "committed").await;
    c.add_partitions("committed", committed.0, committed.1, &[tp(1)]).await.expect("add");
    f.produce(&c, committed, 1, 0);
    c.end_txn("committed", committed.0, committed.1, true, &f.targets, &f.metrics).await.expect("commit");
    let idle = f.init(&c, "idle").await;
    drop(c);

    let c = f.open();
    assert_eq!(c.abort_open_after_power_loss(&f.targets, &f.metrics).await, 1);
    let m = c.describe("open").expect("known");
    assert_eq!((m.status, m.producer_epoch), (TxnStatus::CompleteAbort, open.1 + 1), "aborted, its producer fenced");
    assert_eq!(c.verify_produce(open.0, open.1, "t", 0), Err(ResponseError::InvalidProducerEpoch));
    let located = f.partition(0).locate(0, 1 << 20, true, true).expect("locate");
    assert_eq!(located.last_stable_offset, 3, "the stable offset passes the abort marker");
    assert_eq!(c.describe("committed").expect("known").status, TxnStatus::CompleteCommit);
    assert_eq!(f.partition(1).last_stable_offset(), 3, "a committed transaction stays committed");
    let m = c.describe("idle").expect("known");
    assert_eq!((m.status, m.producer_epoch), (TxnStatus::Empty, idle.1), "no transaction open: untouched");
}
