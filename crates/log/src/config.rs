//! Per-partition log settings, named after the Kafka topic configs they implement.

/// Settings of one partition's log. Defaults are Kafka's.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment beyond this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll a non-empty segment older than this, so time retention can apply.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the partition is larger; -1 is unbounded.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest record batch accepted.
    pub max_message_bytes: usize,
    /// `index.interval.bytes`: log bytes between two offset index entries.
    pub index_interval_bytes: u64,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps batches with its own clock.
    pub log_append_time: bool,
    /// `compression.type`: the codec batches are stored with (Kafka's attribute numbers, 0 for
    /// none), which the broker recompresses to before appending; `None` keeps the producer's.
    pub compression: Option<i16>,
    /// `cleanup.policy` with `compact`: the cleaner keeps the last record of each key.
    pub compact: bool,
    /// A produced batch with a keyless record is refused, as on a compacted topic (not set for
    /// runnel's own logs, whose records always have keys: no batch is decoded to check).
    pub refuse_keyless: bool,
    /// `delete.retention.ms`: how long a tombstone outlives its batch's timestamp.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: the share of dirty bytes that triggers a cleaning pass.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are not cleaned.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: dirty data older than this is cleaned whatever the ratio.
    pub max_compaction_lag_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1024 * 1024 + 12,
            index_interval_bytes: 4096,
            log_append_time: false,
            compression: None,
            compact: false,
            refuse_keyless: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}
