//! Errors of the log crate; the broker maps each to a Kafka error code.

use std::io;

use crate::batch::BatchError;
use crate::producer_state::SequenceError;

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file operation failed; `action` says which, e.g. "append to 000…0.log".
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier fsync or cleanup failed, so what is on disk is unknown: writes are refused.
    #[error("log {0} is offline after an earlier storage failure; restart the broker once the disk is healthy")]
    Poisoned(String),
    /// The batch failed validation.
    #[error("invalid record batch: {0}")]
    Batch(#[from] BatchError),
    /// The batch exceeds `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge {
        /// Batch size.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// The idempotent producer check refused the batch.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// A batch clients may not send (control or transactional batches).
    #[error("invalid record batch: {0}")]
    InvalidRecord(&'static str),
    /// A compacted topic refused records without a key, at these positions in the batch
    /// (Kafka's per-record errors, reported from Produce v8).
    #[error("Compacted topic cannot accept message without key (records {0:?} of the batch)")]
    KeylessRecords(Vec<i32>),
    /// A batch that keeps its own offsets (a mirror topic's copy) starts below the log end.
    #[error("batch offset {offset} is below the log end {log_end}: a mirror topic keeps its source's offsets")]
    BelowLogEnd {
        /// The batch's first offset.
        offset: i64,
        /// Offset after the last record in the log.
        log_end: i64,
    },
    /// The requested offset is outside the log.
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// Requested offset.
        offset: i64,
        /// First offset in the log.
        log_start: i64,
        /// Offset after the last record.
        log_end: i64,
    },
}

impl LogError {
    /// Wraps an I/O error with the action that failed.
    pub fn io(action: impl Into<String>, source: io::Error) -> LogError {
        LogError::Io { action: action.into(), source }
    }
}
