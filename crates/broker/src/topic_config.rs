//! Topic-level configs: which Kafka names runnel accepts, what they do, and how they map onto
//! a partition's [`LogConfig`].
//!
//! Effective: `retention.ms`, `retention.bytes`, `segment.bytes`, `segment.ms`,
//! `max.message.bytes`, `message.timestamp.type`, `index.interval.bytes`, `compression.type`
//! (batches are recompressed to the topic's codec before they are stored), `cleanup.policy`
//! (`compact` keeps every record: compaction may lag arbitrarily in Kafka too, and here it
//! never runs). The other Kafka topic configs are accepted and stored so that tools that set
//! them keep working, and have no effect on a single node. Unknown names are refused, as Kafka does.

use std::collections::BTreeMap;

use runnel_log::LogConfig;

use crate::recompress::{compression_type_name, parse_compression_type};

/// Kafka topic configs accepted and stored without effect on a single node.
const STORED_ONLY: &[&str] = &[
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.storage.enable",
    "segment.index.bytes",
    "segment.jitter.ms",
    "unclean.leader.election.enable",
];

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
    if let Some(v) = get("index.interval.bytes") {
        config.index_interval_bytes = v as u64;
    }
    if let Some(codec) = overrides.get("compression.type").and_then(|v| parse_compression_type(v)) {
        config.compression = codec;
    }
    if let Some(v) = overrides.get("message.timestamp.type") {
        config.log_append_time = v == "LogAppendTime";
    }
    if overrides.get("cleanup.policy").is_some_and(|p| !p.split(',').any(|p| p.trim() == "delete")) {
        // Compacted topics keep records until compaction, which runnel does not run.
        config.retention_ms = -1;
        config.retention_bytes = -1;
    }
    config
}

/// Where a reported config value comes from, as DescribeConfigs' `config_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    Topic = 1,
    /// Set in the broker's properties.
    StaticBroker = 4,
    /// Nobody set it.
    Default = 5,
}

/// One reported config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedConfig {
    /// Kafka name.
    pub name: String,
    /// Effective value.
    pub value: String,
    /// Where it comes from.
    pub source: ConfigSource,
}

/// The effective configs of a topic, as DescribeConfigs and CreateTopics report them.
/// `broker_properties` tells which defaults came from the broker's file.
pub fn describe(
    defaults: &LogConfig,
    broker_properties: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> Vec<ReportedConfig> {
    let effective = defaults;
    let timestamp_type = if effective.log_append_time { "LogAppendTime" } else { "CreateTime" };
    let base: Vec<(&str, &[&str], String)> = vec![
        ("cleanup.policy", &["log.cleanup.policy"], "delete".to_string()),
        ("compression.type", &["compression.type"], compression_type_name(effective.compression).to_string()),
        ("index.interval.bytes", &["log.index.interval.bytes"], effective.index_interval_bytes.to_string()),
        ("max.message.bytes", &["message.max.bytes"], effective.max_message_bytes.to_string()),
        ("message.timestamp.type", &["log.message.timestamp.type"], timestamp_type.to_string()),
        ("min.insync.replicas", &["min.insync.replicas"], "1".to_string()),
        ("retention.bytes", &["log.retention.bytes"], effective.retention_bytes.to_string()),
        (
            "retention.ms",
            &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
            effective.retention_ms.to_string(),
        ),
        ("segment.bytes", &["log.segment.bytes"], effective.segment_bytes.to_string()),
        ("segment.ms", &["log.roll.ms", "log.roll.hours"], effective.segment_ms.to_string()),
    ];
    let mut out: Vec<ReportedConfig> = base
        .into_iter()
        .map(|(name, broker_names, default)| match overrides.get(name) {
            Some(value) => ReportedConfig { name: name.to_string(), value: value.clone(), source: ConfigSource::Topic },
            None => {
                let source = if broker_names.iter().any(|b| broker_properties.contains_key(*b)) {
                    ConfigSource::StaticBroker
                } else {
                    ConfigSource::Default
                };
                ReportedConfig { name: name.to_string(), value: default, source }
            }
        })
        .collect();
    for (name, value) in overrides {
        if !out.iter().any(|c| &c.name == name) {
            out.push(ReportedConfig { name: name.clone(), value: value.clone(), source: ConfigSource::Topic });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
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

    #[test]
    fn described_configs_say_where_each_value_comes_from() {
        let overrides = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        let broker = BTreeMap::from([("log.segment.bytes".to_string(), "1000".to_string())]);
        let described = describe(&LogConfig::default(), &broker, &overrides);
        let find = |n: &str| described.iter().find(|c| c.name == n).expect("present").clone();
        assert_eq!(find("retention.ms").source, ConfigSource::Topic);
        assert_eq!(find("retention.ms").value, "5");
        assert_eq!(find("segment.bytes").source, ConfigSource::StaticBroker);
        assert_eq!(find("retention.bytes").source, ConfigSource::Default);
    }
}
