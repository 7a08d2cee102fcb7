//! Group coordinator settings, under Kafka's `server.properties` names.

/// How the coordinator times members and keeps offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members. Kafka's shipped `server.properties` sets 0 for a single node; so do we.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`: shorter session timeouts are refused.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: longer session timeouts are refused.
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.minutes`, in ms: how long an empty group's offsets are kept.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`: the longest commit metadata string accepted.
    pub max_metadata_bytes: usize,
    /// At startup the group log is rewritten with only its live records when it holds more
    /// than this many records and more than twice the live ones (runnel's stand-in for the
    /// log cleaner Kafka runs on `__consumer_offsets`).
    pub compact_after_records: u64,
    /// `offsets.topic.segment.bytes`: the group log's segment size; the log cleaner compacts
    /// its closed segments while the broker runs.
    pub segment_bytes: u64,
    /// `group.consumer.session.timeout.ms`: how long a KIP-848 consumer group member may go
    /// without a heartbeat (the broker decides it, not the client).
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: how often KIP-848 members heartbeat.
    pub consumer_heartbeat_interval_ms: i32,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            max_metadata_bytes: 4096,
            compact_after_records: 100_000,
            segment_bytes: 100 * 1024 * 1024,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
        }
    }
}
