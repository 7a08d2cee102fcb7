//! What DescribeConfigs (and CreateTopics) report: each config's value, where it comes from,
//! and its synonyms in Kafka's order of precedence (topic override, this broker's dynamic
//! config, the cluster's dynamic default, `server.properties`, Kafka's default).

use std::collections::BTreeMap;

use runnel_log::LogConfig;

use crate::dynamic_broker_config::{self, DynamicBrokerConfigs, Scope};
use crate::recompress::compression_type_name;

/// Where a reported config value comes from, as DescribeConfigs' `config_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    Topic = 1,
    /// Set on this broker at runtime.
    DynamicBroker = 2,
    /// Set at runtime for every broker.
    DynamicDefaultBroker = 3,
    /// Set in the broker's properties.
    StaticBroker = 4,
    /// Nobody set it.
    Default = 5,
}

/// One layer a value could come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    /// The config's name in that layer (`log.retention.ms` for a topic's `retention.ms`).
    pub name: String,
    /// The value set there.
    pub value: String,
    /// Which layer.
    pub source: ConfigSource,
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
    /// Whether AlterConfigs can change it.
    pub read_only: bool,
    /// Every layer that sets it, the effective one first.
    pub synonyms: Vec<Synonym>,
}

/// The broker-side layers under a topic's overrides.
#[derive(Debug, Clone, Copy)]
pub struct BrokerLayers<'a> {
    /// The log defaults from `server.properties` over Kafka's.
    pub static_log: &'a LogConfig,
    /// `server.properties` as given.
    pub properties: &'a BTreeMap<String, String>,
    /// What was set at runtime.
    pub dynamic: &'a DynamicBrokerConfigs,
}

/// Topic configs always reported, with their broker synonyms in Kafka's precedence order.
const TOPIC_ROWS: &[(&str, &[&str])] = &[
    ("cleanup.policy", &["log.cleanup.policy"]),
    ("compression.type", &["compression.type"]),
    ("index.interval.bytes", &["log.index.interval.bytes"]),
    ("max.message.bytes", &["message.max.bytes"]),
    ("message.timestamp.type", &["log.message.timestamp.type"]),
    ("min.insync.replicas", &["min.insync.replicas"]),
    ("retention.bytes", &["log.retention.bytes"]),
    ("retention.ms", &["log.retention.ms", "log.retention.minutes", "log.retention.hours"]),
    ("segment.bytes", &["log.segment.bytes"]),
    ("segment.ms", &["log.roll.ms", "log.roll.hours"]),
];

/// A topic config's value in a [`LogConfig`].
fn log_value(config: &LogConfig, topic_name: &str) -> String {
    match topic_name {
        "compression.type" => compression_type_name(config.compression).to_string(),
        "index.interval.bytes" => config.index_interval_bytes.to_string(),
        "max.message.bytes" => config.max_message_bytes.to_string(),
        "message.timestamp.type" => if config.log_append_time { "LogAppendTime" } else { "CreateTime" }.to_string(),
        "retention.bytes" => config.retention_bytes.to_string(),
        "retention.ms" => config.retention_ms.to_string(),
        "segment.bytes" => config.segment_bytes.to_string(),
        "segment.ms" => config.segment_ms.to_string(),
        "min.insync.replicas" => "1".to_string(),
        _ => "delete".to_string(),
    }
}

impl BrokerLayers<'_> {
    /// The layers of a broker-wide default below the topic: dynamic, static, default.
    fn broker_synonyms(&self, topic_name: &str, broker_names: &[&str]) -> Vec<Synonym> {
        let mut out = Vec::new();
        if let Some(primary) = dynamic_broker_config::broker_synonym(topic_name) {
            for (scope, source) in [
                (Scope::Broker, ConfigSource::DynamicBroker),
                (Scope::ClusterDefault, ConfigSource::DynamicDefaultBroker),
            ] {
                if let Some(value) = self.dynamic.scope(scope).get(primary) {
                    out.push(Synonym { name: primary.to_string(), value: value.clone(), source });
                }
            }
        }
        if let Some(given) = broker_names.iter().find(|b| self.properties.contains_key(**b)) {
            let value = if topic_name == "cleanup.policy" {
                self.properties[*given].clone()
            } else {
                log_value(self.static_log, topic_name)
            };
            out.push(Synonym { name: given.to_string(), value, source: ConfigSource::StaticBroker });
        }
        out.push(Synonym {
            name: broker_names[0].to_string(),
            value: log_value(&LogConfig::default(), topic_name),
            source: ConfigSource::Default,
        });
        out
    }

    /// The configs of a topic with these overrides.
    pub fn describe_topic(&self, overrides: &BTreeMap<String, String>) -> Vec<ReportedConfig> {
        let mut out: Vec<ReportedConfig> = TOPIC_ROWS
            .iter()
            .map(|(name, broker_names)| {
                let mut synonyms = Vec::new();
                if let Some(value) = overrides.get(*name) {
                    synonyms.push(Synonym {
                        name: name.to_string(),
                        value: value.clone(),
                        source: ConfigSource::Topic,
                    });
                }
                synonyms.extend(self.broker_synonyms(name, broker_names));
                reported(name, synonyms, false)
            })
            .collect();
        for (name, value) in overrides {
            if !out.iter().any(|c| &c.name == name) {
                let synonyms = vec![Synonym { name: name.clone(), value: value.clone(), source: ConfigSource::Topic }];
                out.push(reported(name, synonyms, false));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The broker's configs: `fixed` (name and value from its settings, read-only) and every
    /// dynamic config, with what `server.properties` sets besides.
    pub fn describe_broker(&self, fixed: Vec<(&str, String)>) -> Vec<ReportedConfig> {
        let mut out: Vec<ReportedConfig> = Vec::new();
        for (broker_name, topic_name) in dynamic_broker_config::DYNAMIC {
            let synonyms = self.broker_synonyms(topic_name, &[broker_name]);
            out.push(reported(broker_name, synonyms, false));
        }
        for name in dynamic_broker_config::STORED_ONLY {
            let mut synonyms = Vec::new();
            for (scope, source) in [
                (Scope::Broker, ConfigSource::DynamicBroker),
                (Scope::ClusterDefault, ConfigSource::DynamicDefaultBroker),
            ] {
                if let Some(value) = self.dynamic.scope(scope).get(*name) {
                    synonyms.push(Synonym { name: name.to_string(), value: value.clone(), source });
                }
            }
            if let Some(value) = self.properties.get(*name) {
                synonyms.push(Synonym {
                    name: name.to_string(),
                    value: value.clone(),
                    source: ConfigSource::StaticBroker,
                });
            }
            if !synonyms.is_empty() {
                out.push(reported(name, synonyms, false));
            }
        }
        for (name, value) in fixed {
            if out.iter().any(|c| c.name == name) {
                continue;
            }
            let source =
                if self.properties.contains_key(name) { ConfigSource::StaticBroker } else { ConfigSource::Default };
            out.push(reported(name, vec![Synonym { name: name.to_string(), value, source }], true));
        }
        for (name, value) in self.properties {
            if !out.iter().any(|r| &r.name == name) {
                let synonyms =
                    vec![Synonym { name: name.clone(), value: value.clone(), source: ConfigSource::StaticBroker }];
                out.push(reported(name, synonyms, true));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

fn reported(name: &str, synonyms: Vec<Synonym>, read_only: bool) -> ReportedConfig {
    let first = synonyms.first().expect("every config has at least its default");
    ReportedConfig { name: name.to_string(), value: first.value.clone(), source: first.source, read_only, synonyms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_configs_say_where_each_value_comes_from_in_precedence_order() {
        let overrides = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        let properties = BTreeMap::from([("log.segment.bytes".to_string(), "1000".to_string())]);
        let static_log = LogConfig { segment_bytes: 1000, ..LogConfig::default() };
        let dynamic = DynamicBrokerConfigs {
            cluster_default: BTreeMap::from([
                ("log.retention.ms".to_string(), "70".to_string()),
                ("log.roll.ms".to_string(), "60000".to_string()),
            ]),
            broker: BTreeMap::from([("log.retention.ms".to_string(), "80".to_string())]),
        };
        let layers = BrokerLayers { static_log: &static_log, properties: &properties, dynamic: &dynamic };
        let described = layers.describe_topic(&overrides);
        let find = |n: &str| described.iter().find(|c| c.name == n).expect("present").clone();
        let retention = find("retention.ms");
        assert_eq!((retention.value.as_str(), retention.source), ("5", ConfigSource::Topic));
        let sources: Vec<(&str, &str, ConfigSource)> =
            retention.synonyms.iter().map(|s| (s.name.as_str(), s.value.as_str(), s.source)).collect();
        assert_eq!(
            sources,
            [
                ("retention.ms", "5", ConfigSource::Topic),
                ("log.retention.ms", "80", ConfigSource::DynamicBroker),
                ("log.retention.ms", "70", ConfigSource::DynamicDefaultBroker),
                ("log.retention.ms", "604800000", ConfigSource::Default),
            ]
        );
        assert_eq!(find("segment.bytes").source, ConfigSource::StaticBroker);
        assert_eq!(find("segment.ms").source, ConfigSource::DynamicDefaultBroker);
        assert_eq!(find("segment.ms").value, "60000");
        assert_eq!(find("retention.bytes").source, ConfigSource::Default);

        let broker = layers.describe_broker(vec![("node.id", "1".to_string())]);
        let find = |n: &str| broker.iter().find(|c| c.name == n).expect("present").clone();
        assert_eq!((find("log.retention.ms").value.as_str(), find("log.retention.ms").read_only), ("80", false));
        assert_eq!(find("log.segment.bytes").source, ConfigSource::StaticBroker);
        assert!(find("node.id").read_only);
    }
}
