//! Transactions: Kafka's transaction coordinator, served through FindCoordinator (key type 1),
//! InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and the
//! verification of transactional Produce and TxnOffsetCommit. The partition side (last stable
//! offset, aborted transaction index, read_committed) is in `runnel_log`; offsets pending in a
//! transaction are the group coordinator's.
//!
//! - [`coordinator`]: every transactional id, the log, markers, timeouts, recovery.
//! - [`state`]: one transactional id's state, with Kafka's status codes.
//! - [`records`]: `__transaction_state` records in Kafka's schemas.
//! - [`txn`]: the state machine (InitProducerId, AddPartitionsToTxn, EndTxn, timeouts,
//!   produce verification) as pure functions.

pub mod coordinator;
pub mod records;
pub mod state;
pub mod txn;

/// The internal topic name of the transaction log, as in Kafka.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
