//! Transactions: the groundwork of Kafka's transaction coordinator. What is here today is its
//! state and its durable records; the coordinator that serves InitProducerId with a
//! transactional id, AddPartitionsToTxn and EndTxn builds on them (the partition side, last
//! stable offset and aborted-transaction index, is in `runnel_log`).
//!
//! - [`state`]: one transactional id's state, with Kafka's status codes.
//! - [`records`]: `__transaction_state` records in Kafka's schemas.
//! - [`txn`]: the state machine (InitProducerId, AddPartitionsToTxn, EndTxn, timeouts,
//!   produce verification) as pure functions.

pub mod records;
pub mod state;
pub mod txn;

/// The internal topic name of the transaction log, as in Kafka.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
