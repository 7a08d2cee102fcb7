//! Dynamic broker configs: the log defaults an operator changes at runtime (AlterConfigs and
//! IncrementalAlterConfigs on the BROKER resource), kept in `dynamic-broker-configs.json`.
//!
//! Two scopes, as in Kafka: the cluster-wide default (resource name `""`) and this broker (its
//! node id). This broker's value wins over the cluster default, which wins over
//! `server.properties`, which wins over Kafka's default. Every dynamic config is the broker-wide
//! default of a topic config (`log.retention.ms` of `retention.ms`), so a change reaches every
//! topic that does not override it, at once.

use std::collections::BTreeMap;
use std::path::Path;

use runnel_log::durable_file::write_atomically;
use serde::{Deserialize, Serialize};

use crate::topic_config;

/// The file in the data directory.
pub const FILE_NAME: &str = "dynamic-broker-configs.json";

/// Broker configs that can change at runtime, each with the topic config it is the default of
/// (Kafka's synonyms).
pub const DYNAMIC: &[(&str, &str)] = &[
    ("compression.type", "compression.type"),
    ("log.cleanup.policy", "cleanup.policy"),
    ("log.index.interval.bytes", "index.interval.bytes"),
    ("log.message.timestamp.type", "message.timestamp.type"),
    ("log.retention.bytes", "retention.bytes"),
    ("log.retention.ms", "retention.ms"),
    ("log.roll.ms", "segment.ms"),
    ("log.segment.bytes", "segment.bytes"),
    ("message.max.bytes", "max.message.bytes"),
];

/// Kafka's other dynamic broker configs: accepted, checked for their type and stored (and
/// reported by DescribeConfigs) so that tools which set them keep working. Of these, the log
/// cleaner's backoff, key-map size and read rate take effect at its next round (see
/// `log_cleaner`); the others have no effect on a single node: its threads, security and
/// connection limits are set at start.
pub const STORED_ONLY: &[&str] = &[
    "background.threads",
    "log.cleaner.backoff.ms",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.threads",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.size.max.bytes",
    "log.preallocate",
    "log.roll.jitter.ms",
    "log.segment.delete.delay.ms",
    "max.connection.creation.rate",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "metric.reporters",
    "min.insync.replicas",
    "num.io.threads",
    "num.network.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "producer.id.expiration.ms",
    "sasl.enabled.mechanisms",
    "sasl.jaas.config",
    "sasl.kerberos.kinit.cmd",
    "sasl.kerberos.min.time.before.relogin",
    "sasl.kerberos.principal.to.local.rules",
    "sasl.kerberos.service.name",
    "sasl.kerberos.ticket.renew.jitter",
    "sasl.kerberos.ticket.renew.window.factor",
    "sasl.login.refresh.buffer.seconds",
    "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.window.factor",
    "sasl.login.refresh.window.jitter",
    "ssl.cipher.suites",
    "ssl.enabled.protocols",
    "ssl.key.password",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.type",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.type",
    "unclean.leader.election.enable",
];

/// Checks the type of a stored-only config's value, as Kafka's config definitions do.
fn check_stored_only(name: &str, value: &str) -> Result<(), DynamicConfigError> {
    let invalid = |expected: &str| {
        Err(DynamicConfigError::Invalid(format!("Invalid value {value} for configuration {name}: expected {expected}")))
    };
    let integer = [".ms", ".bytes", ".threads", ".messages", ".size", ".seconds", ".relogin", ".fetchers"];
    let fraction = [".ratio", ".factor", ".jitter", ".rate", ".per.second"];
    if fraction.iter().any(|s| name.ends_with(s)) {
        if value.trim().parse::<f64>().map_or(true, |v| v.is_nan() || v < 0.0) {
            return invalid("a number >= 0");
        }
    } else if name == "max.connections" || name == "max.connections.per.ip" || integer.iter().any(|s| name.ends_with(s))
    {
        if value.trim().parse::<i64>().is_err() {
            return invalid("an integer");
        }
    } else if (name == "log.preallocate" || name == "unclean.leader.election.enable")
        && !matches!(value, "true" | "false")
    {
        return invalid("true or false");
    }
    Ok(())
}

/// The topic config a dynamic broker config is the default of.
pub fn topic_synonym(broker_name: &str) -> Option<&'static str> {
    DYNAMIC.iter().find(|(b, _)| *b == broker_name).map(|(_, t)| *t)
}

/// The dynamic broker config that is the default of a topic config.
pub fn broker_synonym(topic_name: &str) -> Option<&'static str> {
    DYNAMIC.iter().find(|(_, t)| *t == topic_name).map(|(b, _)| *b)
}

/// Which of the two dynamic scopes a change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every broker of the cluster (resource name `""`).
    ClusterDefault,
    /// This broker (resource name: its node id).
    Broker,
}

/// Why a dynamic broker config change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DynamicConfigError {
    /// Not a config that changes at runtime (INVALID_REQUEST, as Kafka).
    #[error("Cannot update these configs dynamically: {0}")]
    NotDynamic(String),
    /// A value that does not parse or is out of range (INVALID_CONFIG).
    #[error("{0}")]
    Invalid(String),
    /// The change could not be made durable (KAFKA_STORAGE_ERROR).
    #[error("{0}")]
    Storage(String),
}

/// What `server.properties` sets for topics that a [`runnel_log::LogConfig`] cannot carry
/// (`log.cleanup.policy`), under its topic config name.
pub fn static_topic_defaults(properties: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    properties
        .get("log.cleanup.policy")
        .map(|policy| ("cleanup.policy".to_string(), policy.clone()))
        .into_iter()
        .collect()
}

/// Checks one `name=value` pair for a dynamic broker config.
pub fn validate(name: &str, value: &str) -> Result<(), DynamicConfigError> {
    if STORED_ONLY.contains(&name) {
        return check_stored_only(name, value);
    }
    let topic_name = topic_synonym(name).ok_or_else(|| DynamicConfigError::NotDynamic(name.to_string()))?;
    topic_config::validate(topic_name, value).map_err(|e| {
        DynamicConfigError::Invalid(
            e.0.replace(&format!("configuration {topic_name}"), &format!("configuration {name}")),
        )
    })
}

/// The dynamic broker configs of both scopes, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicBrokerConfigs {
    /// Set for every broker (resource name `""`).
    #[serde(default)]
    pub cluster_default: BTreeMap<String, String>,
    /// Set for this broker.
    #[serde(default)]
    pub broker: BTreeMap<String, String>,
}

impl DynamicBrokerConfigs {
    /// Reads the file in `dir`; none yet means no dynamic configs.
    pub fn load(dir: &Path) -> Result<DynamicBrokerConfigs, String> {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("parse {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DynamicBrokerConfigs::default()),
            Err(e) => Err(format!("read {}: {e}", path.display())),
        }
    }

    /// Writes the file in `dir` durably (temp, fsync, rename, fsync dir).
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        let path = dir.join(FILE_NAME);
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        write_atomically(&path, &bytes).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// The configs of one scope.
    pub fn scope(&self, scope: Scope) -> &BTreeMap<String, String> {
        match scope {
            Scope::ClusterDefault => &self.cluster_default,
            Scope::Broker => &self.broker,
        }
    }

    /// A copy with one scope's configs replaced.
    pub fn with_scope(&self, scope: Scope, configs: BTreeMap<String, String>) -> DynamicBrokerConfigs {
        let mut out = self.clone();
        match scope {
            Scope::ClusterDefault => out.cluster_default = configs,
            Scope::Broker => out.broker = configs,
        }
        out
    }

    /// The value in force for a broker config name and the scope it comes from.
    pub fn get(&self, broker_name: &str) -> Option<(&str, Scope)> {
        self.broker
            .get(broker_name)
            .map(|v| (v.as_str(), Scope::Broker))
            .or_else(|| self.cluster_default.get(broker_name).map(|v| (v.as_str(), Scope::ClusterDefault)))
    }

    /// The values in force, under their topic config names: the layer topic overrides apply over.
    pub fn as_topic_defaults(&self) -> BTreeMap<String, String> {
        DYNAMIC
            .iter()
            .filter_map(|(broker_name, topic_name)| {
                self.get(broker_name).map(|(v, _)| (topic_name.to_string(), v.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_broker_wins_over_the_cluster_default_and_values_are_checked() {
        let configs = DynamicBrokerConfigs {
            cluster_default: BTreeMap::from([
                ("log.retention.ms".to_string(), "1000".to_string()),
                ("log.segment.bytes".to_string(), "2048".to_string()),
            ]),
            broker: BTreeMap::from([("log.retention.ms".to_string(), "5000".to_string())]),
        };
        assert_eq!(configs.get("log.retention.ms"), Some(("5000", Scope::Broker)));
        let defaults = configs.as_topic_defaults();
        assert_eq!(defaults.get("retention.ms").map(String::as_str), Some("5000"));
        assert_eq!(defaults.get("segment.bytes").map(String::as_str), Some("2048"));
        assert!(matches!(validate("num.partitions", "3"), Err(DynamicConfigError::NotDynamic(_))));
        assert_eq!(validate("background.threads", "9"), Ok(()));
        assert!(matches!(validate("background.threads", "many"), Err(DynamicConfigError::Invalid(_))));
        assert!(matches!(validate("log.cleaner.min.cleanable.ratio", "half"), Err(DynamicConfigError::Invalid(_))));
        assert_eq!(validate("log.cleaner.min.cleanable.ratio", "0.5"), Ok(()));
        let Err(DynamicConfigError::Invalid(message)) = validate("log.retention.ms", "soon") else {
            panic!("a bad value must be refused");
        };
        assert!(message.contains("soon") && message.contains("log.retention.ms"), "{message}");
    }

    #[test]
    fn configs_survive_a_save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(DynamicBrokerConfigs::load(dir.path()), Ok(DynamicBrokerConfigs::default()));
        let configs = DynamicBrokerConfigs::default()
            .with_scope(Scope::ClusterDefault, BTreeMap::from([("log.roll.ms".to_string(), "60000".to_string())]));
        configs.save(dir.path()).expect("save");
        assert_eq!(DynamicBrokerConfigs::load(dir.path()), Ok(configs));
    }
}
