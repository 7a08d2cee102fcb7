//! Kafka's transaction state machine for one transactional id, as pure functions: each takes
//! the current metadata and a request and returns what to record and which markers to write,
//! or Kafka's refusal. The coordinator owns the log, the markers and the clock.
//!
//! Ending a transaction is always three steps, so a crash at any point can be finished by
//! replaying the log: record the decision (`Prepare*`), write a marker to every partition of
//! the transaction, record the completion (`Complete*`).

use kafka_protocol::ResponseError;
use runnel_log::control::ControlType;

use super::state::{TxnMetadata, TxnStatus};

/// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask for.
pub const DEFAULT_MAX_TIMEOUT_MS: i32 = 900_000;

/// `transactional.id.expiration.ms`: how long a transactional id may stay idle before it is
/// forgotten (Kafka's default, 7 days).
pub const DEFAULT_ID_EXPIRATION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// A refusal, with Kafka's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnError {
    /// The timeout is not positive or above `transaction.max.timeout.ms`.
    InvalidTransactionTimeout,
    /// The transactional id is unknown, or belongs to another producer id.
    InvalidProducerIdMapping,
    /// The epoch is not the current one: a newer producer with this transactional id exists.
    ProducerFenced,
    /// A previous decision is still being written; retry.
    ConcurrentTransactions,
    /// The request does not fit the state (EndTxn with no transaction open, say).
    InvalidTxnState,
}

impl TxnError {
    /// Kafka's error. `fenced_code_supported` is false for request versions older than
    /// KIP-588, which answer a fenced producer with INVALID_PRODUCER_EPOCH.
    pub fn response_error(self, fenced_code_supported: bool) -> ResponseError {
        match self {
            TxnError::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
            TxnError::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
            TxnError::ProducerFenced if fenced_code_supported => ResponseError::ProducerFenced,
            TxnError::ProducerFenced => ResponseError::InvalidProducerEpoch,
            TxnError::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
            TxnError::InvalidTxnState => ResponseError::InvalidTxnState,
        }
    }
}

/// Markers that end a transaction in each of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markers {
    /// The producer whose transaction ends.
    pub producer_id: i64,
    /// The epoch the markers carry (bumped when the producer is being fenced).
    pub producer_epoch: i16,
    /// Commit or abort.
    pub kind: ControlType,
    /// Every partition of the transaction.
    pub partitions: Vec<(String, i32)>,
}

/// How a transaction ends: record `prepare`, write `markers`, record `complete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The decision, recorded first.
    pub prepare: TxnMetadata,
    /// The markers, written next.
    pub markers: Markers,
    /// The completion, recorded last.
    pub complete: TxnMetadata,
}

/// What InitProducerId for a transactional id must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitPlan {
    /// Record `next` and answer with its producer id and epoch; when `needs_new_id`, allocate
    /// a producer id first and put it in `next`.
    Ready {
        /// The metadata to record (status Empty).
        next: TxnMetadata,
        /// Whether a new producer id must be allocated (a new transactional id, or an epoch
        /// that can grow no more).
        needs_new_id: bool,
    },
    /// A transaction is open: end it first with an abort that fences its producer, then plan
    /// again from the completed state.
    AbortFirst(Ending),
    /// Nothing to record: answer with the producer id and epoch as they are (a retry of an
    /// InitProducerId that already bumped the epoch).
    Unchanged,
}

/// What EndTxn must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndPlan {
    /// End the open transaction.
    End(Ending),
    /// The same ending already completed (a retried EndTxn): answer success.
    AlreadyDone,
}

/// The next epoch, or `None` when the epoch is exhausted and a new producer id is needed.
fn next_epoch(epoch: i16) -> Option<i16> {
    (epoch < i16::MAX - 1).then_some(epoch + 1)
}

fn checked(current: Option<&TxnMetadata>, producer_id: i64, epoch: i16) -> Result<&TxnMetadata, TxnError> {
    let m = current.filter(|m| m.status != TxnStatus::Dead).ok_or(TxnError::InvalidProducerIdMapping)?;
    if m.producer_id != producer_id {
        return Err(TxnError::InvalidProducerIdMapping);
    }
    if m.producer_epoch != epoch {
        return Err(TxnError::ProducerFenced);
    }
    Ok(m)
}

/// The ending of `m`'s open transaction with `kind` at `epoch`.
fn ending(m: &TxnMetadata, kind: ControlType, epoch: i16, now_ms: i64) -> Ending {
    let prepare_status = if kind == ControlType::Commit { TxnStatus::PrepareCommit } else { TxnStatus::PrepareAbort };
    let complete_status =
        if kind == ControlType::Commit { TxnStatus::CompleteCommit } else { TxnStatus::CompleteAbort };
    let prepare = TxnMetadata { producer_epoch: epoch, status: prepare_status, last_update_ms: now_ms, ..m.clone() };
    let markers = Markers {
        producer_id: m.producer_id,
        producer_epoch: epoch,
        kind,
        partitions: m.partitions.iter().cloned().collect(),
    };
    let complete =
        TxnMetadata { status: complete_status, partitions: Default::default(), start_ms: -1, ..prepare.clone() };
    Ending { prepare, markers, complete }
}

/// InitProducerId with a transactional id whose metadata is `current`. `expected` is the
/// (producer id, epoch) a producer re-initialising sends (KIP-360).
pub fn init_producer_id(
    current: Option<&TxnMetadata>,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    now_ms: i64,
    max_timeout_ms: i32,
) -> Result<InitPlan, TxnError> {
    if timeout_ms <= 0 || timeout_ms > max_timeout_ms {
        return Err(TxnError::InvalidTransactionTimeout);
    }
    let fresh = |producer_id: i64, epoch: i16| TxnMetadata {
        producer_id,
        producer_epoch: epoch,
        timeout_ms,
        status: TxnStatus::Empty,
        partitions: Default::default(),
        last_update_ms: now_ms,
        start_ms: -1,
    };
    let Some(m) = current.filter(|m| m.status != TxnStatus::Dead) else {
        return Ok(InitPlan::Ready { next: fresh(-1, 0), needs_new_id: true });
    };
    if m.status.is_preparing() {
        return Err(TxnError::ConcurrentTransactions);
    }
    if let Some((producer_id, epoch)) = expected {
        if producer_id != m.producer_id {
            return Err(TxnError::ProducerFenced);
        }
        if epoch != m.producer_epoch {
            // A retry whose first attempt already bumped the epoch is answered as it stands.
            return if m.status == TxnStatus::Empty && epoch.checked_add(1) == Some(m.producer_epoch) {
                Ok(InitPlan::Unchanged)
            } else {
                Err(TxnError::ProducerFenced)
            };
        }
    }
    if m.status == TxnStatus::Ongoing {
        let fence_epoch = next_epoch(m.producer_epoch).unwrap_or(m.producer_epoch);
        return Ok(InitPlan::AbortFirst(ending(m, ControlType::Abort, fence_epoch, now_ms)));
    }
    Ok(match next_epoch(m.producer_epoch) {
        Some(epoch) => InitPlan::Ready { next: fresh(m.producer_id, epoch), needs_new_id: false },
        None => InitPlan::Ready { next: fresh(-1, 0), needs_new_id: true },
    })
}

/// AddPartitionsToTxn: the metadata to record, or `None` when every partition is already in
/// the open transaction. Whether the partitions exist is the caller's check.
pub fn add_partitions(
    current: Option<&TxnMetadata>,
    producer_id: i64,
    epoch: i16,
    partitions: &[(String, i32)],
    now_ms: i64,
) -> Result<Option<TxnMetadata>, TxnError> {
    let m = checked(current, producer_id, epoch)?;
    if m.status.is_preparing() {
        return Err(TxnError::ConcurrentTransactions);
    }
    if m.status == TxnStatus::Ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
        return Ok(None);
    }
    let mut next = m.clone();
    if m.status != TxnStatus::Ongoing {
        next.status = TxnStatus::Ongoing;
        next.start_ms = now_ms;
        next.partitions.clear();
    }
    next.partitions.extend(partitions.iter().cloned());
    next.last_update_ms = now_ms;
    Ok(Some(next))
}

/// AddPartitionsToTxn's verify-only form (v4+, KIP-890, sent by a partition leader before it
/// appends a transactional batch): for each partition, whether the open transaction added it.
pub fn verify_partitions(
    current: Option<&TxnMetadata>,
    producer_id: i64,
    epoch: i16,
    partitions: &[(String, i32)],
) -> Result<Vec<bool>, TxnError> {
    let m = checked(current, producer_id, epoch)?;
    if m.status.is_preparing() {
        return Err(TxnError::ConcurrentTransactions);
    }
    Ok(partitions.iter().map(|p| m.status == TxnStatus::Ongoing && m.partitions.contains(p)).collect())
}

/// EndTxn: commit (`commit`) or abort the open transaction.
pub fn end_txn(
    current: Option<&TxnMetadata>,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    now_ms: i64,
) -> Result<EndPlan, TxnError> {
    let m = checked(current, producer_id, epoch)?;
    let kind = if commit { ControlType::Commit } else { ControlType::Abort };
    match (m.status, commit) {
        (TxnStatus::Ongoing, _) => Ok(EndPlan::End(ending(m, kind, m.producer_epoch, now_ms))),
        (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => Ok(EndPlan::AlreadyDone),
        (status, _) if status.is_preparing() => Err(TxnError::ConcurrentTransactions),
        _ => Err(TxnError::InvalidTxnState),
    }
}

/// The rest of an ending a restart interrupted: the markers and completion of a decided
/// transaction (`m` in a Prepare status, as the log left it).
pub fn resume(m: &TxnMetadata, now_ms: i64) -> Ending {
    let kind = if m.status == TxnStatus::PrepareCommit { ControlType::Commit } else { ControlType::Abort };
    Ending { prepare: m.clone(), ..ending(m, kind, m.producer_epoch, now_ms) }
}

/// The abort of a transaction open longer than its timeout, fencing its producer (the epoch
/// is bumped, so the producer's next request is refused and it must re-initialise).
pub fn expire(m: &TxnMetadata, now_ms: i64) -> Option<Ending> {
    if now_ms - m.start_ms > i64::from(m.timeout_ms) { abort_open(m, now_ms) } else { None }
}

/// The broker's own abort of `m`'s open transaction, fencing its producer as a timeout does;
/// `None` when no transaction is open.
pub fn abort_open(m: &TxnMetadata, now_ms: i64) -> Option<Ending> {
    (m.status == TxnStatus::Ongoing)
        .then(|| ending(m, ControlType::Abort, next_epoch(m.producer_epoch).unwrap_or(m.producer_epoch), now_ms))
}

/// Whether `m`'s transactional id has been idle (no transaction open or ending) for longer than
/// `expiration_ms`, and so is to be forgotten.
pub fn id_expired(m: &TxnMetadata, now_ms: i64, expiration_ms: i64) -> bool {
    let idle = matches!(m.status, TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort);
    idle && now_ms - m.last_update_ms > expiration_ms
}

/// Whether a transactional batch of `producer_id` at `epoch` may be written to `partition`:
/// only into an open transaction that added it (KIP-890's verification).
pub fn verify_produce(m: &TxnMetadata, epoch: i16, partition: &(String, i32)) -> Result<(), ResponseError> {
    if epoch < m.producer_epoch {
        return Err(ResponseError::InvalidProducerEpoch);
    }
    if epoch != m.producer_epoch || m.status != TxnStatus::Ongoing || !m.partitions.contains(partition) {
        return Err(ResponseError::InvalidTxnState);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i32 = DEFAULT_MAX_TIMEOUT_MS;

    fn ready(plan: InitPlan) -> (TxnMetadata, bool) {
        match plan {
            InitPlan::Ready { next, needs_new_id } => (next, needs_new_id),
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    fn tp(topic: &str, partition: i32) -> (String, i32) {
        (topic.to_string(), partition)
    }

    /// A transactional id with producer id 7 at epoch 0, after InitProducerId.
    fn initialised() -> TxnMetadata {
        let (mut m, needs_new_id) = ready(init_producer_id(None, 60_000, None, 1_000, MAX).expect("init"));
        assert!(needs_new_id);
        m.producer_id = 7;
        m
    }

    #[test]
    fn timeouts_outside_the_allowed_range_are_refused() {
        for timeout in [0, -1, MAX + 1] {
            assert_eq!(init_producer_id(None, timeout, None, 0, MAX), Err(TxnError::InvalidTransactionTimeout));
        }
    }

    #[test]
    fn a_transaction_opens_with_its_first_partitions_and_commits_in_three_steps() {
        let m = initialised();
        assert_eq!((m.status, m.producer_epoch, m.start_ms), (TxnStatus::Empty, 0, -1));
        let open = add_partitions(Some(&m), 7, 0, &[tp("a", 0), tp("b", 1)], 2_000).expect("add").expect("changed");
        assert_eq!((open.status, open.start_ms, open.partitions.len()), (TxnStatus::Ongoing, 2_000, 2));
        assert_eq!(add_partitions(Some(&open), 7, 0, &[tp("a", 0)], 2_100), Ok(None), "already added");
        let more = add_partitions(Some(&open), 7, 0, &[tp("c", 0)], 2_200).expect("add").expect("changed");
        assert_eq!((more.start_ms, more.partitions.len()), (2_000, 3), "the start stays");
        assert_eq!(verify_produce(&more, 0, &tp("c", 0)), Ok(()));
        assert_eq!(verify_produce(&more, 0, &tp("d", 0)), Err(ResponseError::InvalidTxnState), "not added");

        let EndPlan::End(ending) = end_txn(Some(&more), 7, 0, true, 3_000).expect("end") else {
            panic!("expected an ending")
        };
        assert_eq!(ending.prepare.status, TxnStatus::PrepareCommit);
        assert_eq!(ending.markers.kind, ControlType::Commit);
        assert_eq!(ending.markers.partitions, vec![tp("a", 0), tp("b", 1), tp("c", 0)]);
        assert_eq!((ending.complete.status, ending.complete.partitions.len()), (TxnStatus::CompleteCommit, 0));
        assert_eq!(end_txn(Some(&ending.prepare), 7, 0, true, 3_001), Err(TxnError::ConcurrentTransactions));
        assert_eq!(end_txn(Some(&ending.complete), 7, 0, true, 3_002), Ok(EndPlan::AlreadyDone), "a retry");
        assert_eq!(end_txn(Some(&ending.complete), 7, 0, false, 3_003), Err(TxnError::InvalidTxnState));
        assert_eq!(verify_produce(&ending.complete, 0, &tp("a", 0)), Err(ResponseError::InvalidTxnState));
        // The next transaction starts afresh.
        let next = add_partitions(Some(&ending.complete), 7, 0, &[tp("z", 0)], 4_000).expect("add").expect("changed");
        assert_eq!((next.start_ms, next.partitions.len()), (4_000, 1));
    }

    #[test]
    fn requests_from_other_producers_and_older_epochs_are_refused_with_kafkas_errors() {
        let m = initialised();
        assert_eq!(add_partitions(None, 7, 0, &[tp("a", 0)], 0), Err(TxnError::InvalidProducerIdMapping));
        assert_eq!(add_partitions(Some(&m), 8, 0, &[tp("a", 0)], 0), Err(TxnError::InvalidProducerIdMapping));
        let (bumped, _) = ready(init_producer_id(Some(&m), 60_000, None, 0, MAX).expect("init"));
        assert_eq!((bumped.producer_id, bumped.producer_epoch), (7, 1));
        assert_eq!(add_partitions(Some(&bumped), 7, 0, &[tp("a", 0)], 0), Err(TxnError::ProducerFenced));
        assert_eq!(end_txn(Some(&bumped), 7, 1, true, 0), Err(TxnError::InvalidTxnState), "nothing open");
        assert_eq!(TxnError::ProducerFenced.response_error(false), ResponseError::InvalidProducerEpoch);
        assert_eq!(TxnError::ProducerFenced.response_error(true), ResponseError::ProducerFenced);
    }

    #[test]
    fn a_new_producer_with_the_same_id_aborts_the_open_transaction_and_fences_the_old_one() {
        let open = add_partitions(Some(&initialised()), 7, 0, &[tp("a", 0)], 1_000).expect("add").expect("changed");
        let InitPlan::AbortFirst(ending) = init_producer_id(Some(&open), 60_000, None, 2_000, MAX).expect("init")
        else {
            panic!("expected the open transaction to be aborted first")
        };
        assert_eq!((ending.prepare.status, ending.prepare.producer_epoch), (TxnStatus::PrepareAbort, 1));
        assert_eq!((ending.markers.kind, ending.markers.producer_epoch), (ControlType::Abort, 1));
        let (next, needs_new_id) =
            ready(init_producer_id(Some(&ending.complete), 60_000, None, 2_001, MAX).expect("init"));
        assert_eq!((next.producer_id, next.producer_epoch, needs_new_id), (7, 2, false));
        assert_eq!(end_txn(Some(&next), 7, 0, true, 2_002), Err(TxnError::ProducerFenced), "the old producer");
    }

    #[test]
    fn kip_360_reinitialisation_checks_the_producer_and_tolerates_a_retry() {
        let m = initialised();
        let (bumped, _) = ready(init_producer_id(Some(&m), 60_000, Some((7, 0)), 0, MAX).expect("init"));
        assert_eq!(bumped.producer_epoch, 1);
        assert_eq!(init_producer_id(Some(&bumped), 60_000, Some((7, 0)), 0, MAX), Ok(InitPlan::Unchanged));
        assert_eq!(init_producer_id(Some(&bumped), 60_000, Some((8, 1)), 0, MAX), Err(TxnError::ProducerFenced));
        assert_eq!(init_producer_id(Some(&bumped), 60_000, Some((7, 5)), 0, MAX), Err(TxnError::ProducerFenced));
    }

    #[test]
    fn an_exhausted_epoch_takes_a_new_producer_id() {
        let m = TxnMetadata { producer_epoch: i16::MAX - 1, ..initialised() };
        let (next, needs_new_id) = ready(init_producer_id(Some(&m), 60_000, None, 0, MAX).expect("init"));
        assert!(needs_new_id);
        assert_eq!(next.producer_epoch, 0);
    }

    #[test]
    fn a_transaction_open_past_its_timeout_is_aborted_with_a_bumped_epoch() {
        let open = add_partitions(Some(&initialised()), 7, 0, &[tp("a", 0)], 1_000).expect("add").expect("changed");
        assert_eq!(expire(&open, 61_000), None, "exactly at the timeout");
        let ending = expire(&open, 61_001).expect("overdue");
        assert_eq!((ending.markers.kind, ending.markers.producer_epoch), (ControlType::Abort, 1));
        assert_eq!(ending.complete.status, TxnStatus::CompleteAbort);
        assert_eq!(expire(&ending.complete, 1_000_000), None);
        assert_eq!(add_partitions(Some(&ending.complete), 7, 0, &[tp("a", 0)], 0), Err(TxnError::ProducerFenced));
        assert_eq!(verify_produce(&open, 0, &tp("a", 0)), Ok(()));
        assert_eq!(
            verify_produce(&TxnMetadata { producer_epoch: 1, ..open }, 0, &tp("a", 0)),
            Err(ResponseError::InvalidProducerEpoch)
        );
    }
}
