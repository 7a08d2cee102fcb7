//! Topic-level configs: which Kafka names runnel accepts, what they do, and how they map onto
//! a partition's [`LogConfig`].
//!
//! Effective: `retention.ms`, `retention.bytes`, `segment.bytes`, `segment.ms`,
//! `max.message.bytes`, `message.timestamp.type`, `index.interval.bytes`, `compression.type`
//! (batches are recompressed to the topic's codec before they are stored), `cleanup.policy`
//! (`compact` refuses keyless records and runs the cleaner, see `runnel_log::cleaner`),
//! `delete.retention.ms`, `min.cleanable.dirty.ratio`, `min.compaction.lag.ms` and
//! `max.compaction.lag.ms`; runnel's own [`MIRROR_LINK`] marks a mirror topic. The other Kafka topic configs are accepted and stored so that tools that set
//! them keep working, and have no effect on a single node. Unknown names are refused, as Kafka does.

use std::collections::BTreeMap;

use runnel_log::LogConfig;

use crate::recompress::parse_compression_type;

/// Kafka topic configs accepted and stored without effect on a single node.
const STORED_ONLY: &[&str] = &[
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.storage.enable",
    "segment.index.bytes",
    "segment.jitter.ms",
    "unclean.leader.election.enable",
];

/// The topic config that makes a topic a mirror topic: its value names the link (the source
/// cluster's alias) whose mirror alone may write it, at the source's offsets. Ordinary
/// producers are refused until `runnel mirror promote` deletes it.
pub const MIRROR_LINK: &str = "runnel.mirror.link";

/// The `client.id` prefix a mirror writes with, followed by its link's name.
pub const MIRROR_CLIENT_PREFIX: &str = "runnel-mirror-link:";

/// A rejected topic config, answered with INVALID_CONFIG and this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTopicConfig(pub String);

fn integer(name: &str, value: &str, min: i64) -> Result<i64, InvalidTopicConfig> {
    match value.trim().parse::<i64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(InvalidTopicConfig(format!(
            "Invalid value {value} for configuration {name}: must be an integer >= {min}"
        ))),
    }
}

/// Checks one `name=value` pair.
pub fn validate(name: &str, value: &str) -> Result<(), InvalidTopicConfig> {
    match name {
        "retention.ms" | "retention.bytes" => integer(name, value, -1).map(drop),
        "delete.retention.ms" | "min.compaction.lag.ms" => integer(name, value, 0).map(drop),
        "max.compaction.lag.ms" => integer(name, value, 1).map(drop),
        "min.cleanable.dirty.ratio" => match value.trim().parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(()),
            _ => Err(InvalidTopicConfig(format!(
                "Invalid value {value} for configuration {name}: must be a number between 0 and 1"
            ))),
        },
        "segment.bytes" => integer(name, value, 14).map(drop),
        "segment.ms" => integer(name, value, 1).map(drop),
        "max.message.bytes" | "index.interval.bytes" => integer(name, value, 0).map(drop),
        "message.timestamp.type" => match value {
            "CreateTime" | "LogAppendTime" => Ok(()),
            _ => Err(InvalidTopicConfig(format!(
                "Invalid value {value} for configuration {name}: expected CreateTime or LogAppendTime"
            ))),
        },
        "cleanup.policy" => {
            if value.split(',').map(str::trim).all(|p| p == "delete" || p == "compact") {
                Ok(())
            } else {
                Err(InvalidTopicConfig(format!(
                    "Invalid value {value} for configuration {name}: expected delete, compact or both"
                )))
            }
        }
        "compression.type" => match parse_compression_type(value) {
            Some(_) => Ok(()),
            None => Err(InvalidTopicConfig(format!(
                "Invalid value {value} for configuration {name}: expected one of uncompressed, zstd, lz4, snappy, \
                 gzip, producer"
            ))),
        },
        MIRROR_LINK if value.trim().is_empty() => Err(InvalidTopicConfig(format!(
            "Invalid value {value} for configuration {name}: the name of the mirror link (its source's alias)"
        ))),
        MIRROR_LINK => Ok(()),
        _ if STORED_ONLY.contains(&name) => Ok(()),
        _ => Err(InvalidTopicConfig(format!("Unknown topic config name: {name}"))),
    }
}

/// The log settings of a topic: broker defaults with the topic's overrides applied.
/// Overrides are validated when set, so a value that does not parse keeps the default.
pub fn log_config(defaults: &LogConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let mut config = defaults.clone();
    let get = |name: &str| overrides.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(v) = get("retention.ms") {
        config.retention_ms = v;
    }
    if let Some(v) = get("retention.bytes") {
        config.retention_bytes = v;
    }
    if let Some(v) = get("segment.bytes") {
        config.segment_bytes = v as u64;
    }
    if let Some(v) = get("segment.ms") {
        config.segment_ms = v;
    }
    if let Some(v) = get("max.message.bytes") {
        config.max_message_bytes = v as usize;
    }
    if let Some(v) = get("delete.retention.ms") {
        config.delete_retention_ms = v;
    }
    if let Some(v) = get("min.compaction.lag.ms") {
        config.min_compaction_lag_ms = v;
    }
    if let Some(v) = get("max.compaction.lag.ms") {
        config.max_compaction_lag_ms = v;
    }
    if let Some(v) = overrides.get("min.cleanable.dirty.ratio").and_then(|v| v.trim().parse::<f64>().ok()) {
        config.min_cleanable_dirty_ratio = v;
    }
    if let Some(v) = get("index.interval.bytes") {
        config.index_interval_bytes = v as u64;
    }
    if let Some(codec) = overrides.get("compression.type").and_then(|v| parse_compression_type(v)) {
        config.compression = codec;
    }
    if let Some(v) = overrides.get("message.timestamp.type") {
        config.log_append_time = v == "LogAppendTime";
    }
    config.refuse_keyless =
        overrides.get("cleanup.policy").is_some_and(|p| p.split(',').any(|p| p.trim() == "compact"));
    config.compact = config.refuse_keyless;
    if overrides.get("cleanup.policy").is_some_and(|p| !p.split(',').any(|p| p.trim() == "delete")) {
        // Without `delete`, only compaction removes records, as in Kafka.
        config.retention_ms = -1;
        config.retention_bytes = -1;
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_the_log_config_and_unknown_names_are_refused() {
        let overrides: BTreeMap<String, String> =
            [("retention.ms", "1000"), ("segment.bytes", "4096"), ("message.timestamp.type", "LogAppendTime")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let config = log_config(&LogConfig::default(), &overrides);
        assert_eq!(config.retention_ms, 1000);
        assert_eq!(config.segment_bytes, 4096);
        assert!(config.log_append_time);
        assert_eq!(validate("retention.ms", "-1"), Ok(()));
        assert!(validate("retention.ms", "soon").is_err());
        assert_eq!(
            validate("no.such.config", "1"),
            Err(InvalidTopicConfig("Unknown topic config name: no.such.config".into()))
        );
        assert_eq!(validate("min.insync.replicas", "2"), Ok(()));
    }
}
