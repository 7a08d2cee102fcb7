//! The library's one error type.

/// Why a topology could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// A record's key or value could not be decoded with the source's serde.
    #[error("decode {what} of a record from {topic}-{partition} at offset {offset}: {reason}")]
    Deserialize {
        /// `key` or `value`.
        what: &'static str,
        /// The topic read.
        topic: String,
        /// Its partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// What the serde said.
        reason: String,
    },
    /// The topology is not valid (a topic read twice, co-partitioning broken, ...).
    #[error("invalid topology: {0}")]
    Topology(String),
    /// The Kafka client failed.
    #[error("{context}: {source}")]
    Kafka {
        /// What was being done, as verb + object.
        context: String,
        /// The client's error.
        source: rdkafka::error::KafkaError,
    },
    /// The producer was fenced by a newer instance with the same transactional id, or the
    /// group moved on: this instance must stop (its tasks run elsewhere).
    #[error("fenced: {0}")]
    Fenced(String),
    /// The application is configured wrongly.
    #[error("configuration: {0}")]
    Config(String),
    /// The local state directory failed (open, write, fsync) or a disk store lost a write.
    #[error("state: {0}")]
    State(String),
    /// A test driver call referred to something the topology does not have.
    #[error("{0}")]
    Driver(String),
}

impl StreamsError {
    /// Wraps a client error with what was being done.
    pub(crate) fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        StreamsError::Kafka { context: context.into(), source }
    }
}
