//! One transactional id's state, with Kafka's names and status codes.

use std::collections::BTreeSet;

/// Where a transactional id is in its life, as Kafka's `TransactionState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    /// A producer id is assigned; no transaction open.
    Empty,
    /// A transaction is open: partitions were added.
    Ongoing,
    /// EndTxn(commit) was decided; markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing was decided; markers are being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
    /// Forgotten (expired transactional id).
    Dead,
    /// An epoch bump is aborting the open transaction of a producer being fenced.
    PrepareEpochFence,
}

impl TxnStatus {
    /// Kafka's status byte in `__transaction_state`.
    pub fn code(self) -> i8 {
        match self {
            TxnStatus::Empty => 0,
            TxnStatus::Ongoing => 1,
            TxnStatus::PrepareCommit => 2,
            TxnStatus::PrepareAbort => 3,
            TxnStatus::CompleteCommit => 4,
            TxnStatus::CompleteAbort => 5,
            TxnStatus::Dead => 6,
            TxnStatus::PrepareEpochFence => 7,
        }
    }

    /// The status of a status byte.
    pub fn from_code(code: i8) -> Option<TxnStatus> {
        Some(match code {
            0 => TxnStatus::Empty,
            1 => TxnStatus::Ongoing,
            2 => TxnStatus::PrepareCommit,
            3 => TxnStatus::PrepareAbort,
            4 => TxnStatus::CompleteCommit,
            5 => TxnStatus::CompleteAbort,
            6 => TxnStatus::Dead,
            7 => TxnStatus::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions report.
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Whether a decision is made and its markers are still to be written.
    pub fn is_preparing(self) -> bool {
        matches!(self, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence)
    }
}

/// What the coordinator keeps of one transactional id (Kafka's `TransactionMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The producer id given to this transactional id.
    pub producer_id: i64,
    /// Its current epoch: requests with an older one are from a fenced producer.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    /// Where it is.
    pub status: TxnStatus,
    /// Partitions in the open (or ending) transaction, as (topic, partition).
    pub partitions: BTreeSet<(String, i32)>,
    /// When the metadata last changed (ms since the epoch).
    pub last_update_ms: i64,
    /// When the open transaction started, -1 when none is.
    pub start_ms: i64,
}
