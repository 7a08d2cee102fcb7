//! Kafka error codes for runnel's internal errors, in one place so every handler answers the
//! same failure with the same code.

use kafka_protocol::ResponseError;
use runnel_log::LogError;
use runnel_log::batch::BatchError;
use runnel_log::producer_state::SequenceError;

use crate::topics::TopicError;

/// The Kafka error code for a log failure.
pub fn for_log_error(error: &LogError) -> i16 {
    let e = match error {
        LogError::Io { .. } | LogError::Poisoned(_) => ResponseError::KafkaStorageError,
        LogError::Batch(BatchError::UnsupportedMagic(_)) => ResponseError::UnsupportedForMessageFormat,
        LogError::Batch(BatchError::TrailingBytes { .. }) => ResponseError::InvalidRecord,
        LogError::Batch(_) => ResponseError::CorruptMessage,
        LogError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::Sequence(SequenceError::InvalidProducerEpoch { .. }) => ResponseError::InvalidProducerEpoch,
        LogError::Sequence(SequenceError::OutOfOrderSequence { .. }) => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidRecord(_) | LogError::KeylessRecords(_) | LogError::BelowLogEnd { .. } => {
            ResponseError::InvalidRecord
        }
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
    };
    e.code()
}

/// The Kafka error code for a topic admin failure.
pub fn for_topic_error(error: &TopicError) -> i16 {
    let e = match error {
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::PolicyViolation(_) => ResponseError::PolicyViolation,
        TopicError::Storage(_) => ResponseError::KafkaStorageError,
    };
    e.code()
}
