//! The console's [`Source`] for `runnel serve`: the broker's own topics, groups and counters,
//! read in-process (the same state `/metrics` encodes).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use std::sync::atomic::Ordering;

use runnel_broker::Broker;
use runnel_broker::groups::consumer_protocol::assignment_partitions;
use runnel_broker::metrics::collector::cluster_state;
use runnel_broker::metrics::process::disk_space;

use crate::history::{HISTORY_TOPIC, HistoryLog};
use crate::settings::ConsoleSettings;
use crate::source::{BrokerHealth, GroupInfo, MemberInfo, Snapshot, Source};

/// Reads one broker in-process.
#[derive(Debug)]
pub struct BrokerSource {
    broker: Arc<Broker>,
    /// Fsyncs slower than this count as slow.
    slow_fsync_seconds: f64,
}

impl BrokerSource {
    /// A source over `broker`, counting fsyncs over `slow_fsync_seconds` as slow.
    pub fn new(broker: Arc<Broker>, slow_fsync_seconds: f64) -> BrokerSource {
        BrokerSource { broker, slow_fsync_seconds }
    }
}

impl Source for BrokerSource {
    fn describe(&self) -> String {
        let (host, port) = self.broker.endpoint();
        format!("runnel serve on {host}:{port}")
    }

    fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let broker = &self.broker;
        let topics: Vec<_> = broker.topics.all().into_iter().filter(|t| !t.name().starts_with("__")).collect();
        let cluster = cluster_state(broker, &topics);
        let groups = broker
            .groups
            .list()
            .into_iter()
            .filter_map(|listing| {
                let description = broker.groups.describe(&listing.group_id)?;
                Some(GroupInfo {
                    id: listing.group_id,
                    state: description.state.to_string(),
                    members: description
                        .members
                        .into_iter()
                        .map(|m| MemberInfo {
                            member_id: m.member_id,
                            client_id: m.client_id,
                            host: m.client_host,
                            assignment: assignment_partitions(&m.assignment),
                        })
                        .collect(),
                })
            })
            .collect();
        let mut health = BrokerHealth::default();
        if let Some((free, total)) = disk_space(broker.data_dir()) {
            health.disk_free = free;
            health.disk_total = total;
        }
        for topic in broker.topics.all() {
            let [messages_in, bytes_in, bytes_out, failed_produce, _] = topic.metrics.values();
            health.messages_in += messages_in;
            health.bytes_in += bytes_in;
            health.bytes_out += bytes_out;
            health.failed_produces += failed_produce;
            health.offline_partitions += topic.partitions.iter().filter(|p| p.is_offline()).count() as u64;
        }
        let metrics = &broker.metrics;
        health.failed_produces += metrics.failed_produce_unknown_topic.load(Ordering::Relaxed);
        health.fsyncs = metrics.fsync_seconds.count();
        health.slow_fsyncs = metrics.fsync_seconds.count_above(self.slow_fsync_seconds);
        Ok(Snapshot { cluster, groups, broker: Some(health) })
    }
}

/// The history log of `broker`: the one partition of [`HISTORY_TOPIC`], created on first use,
/// with `retention.ms` and `retention.bytes` from the console settings (updated when they
/// change).
pub fn history_log(broker: &Broker, settings: &ConsoleSettings) -> anyhow::Result<HistoryLog> {
    let retention_ms = settings.retention.as_millis() as u64;
    let configs: BTreeMap<String, String> = [
        ("retention.ms", retention_ms.to_string()),
        ("retention.bytes", settings.max_bytes.to_string()),
        // Segments small enough that retention frees space in steps of about a 24th.
        ("segment.ms", (retention_ms / 24).max(1).to_string()),
        ("segment.bytes", (settings.max_bytes / 16).clamp(1 << 20, 1 << 30).to_string()),
        // Its records have no keys: a broker-wide `log.cleanup.policy=compact` must not apply.
        ("cleanup.policy", "delete".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let topic = match broker.topics.get(HISTORY_TOPIC) {
        Some(topic) => {
            if topic.record.configs != configs {
                broker.topics.set_configs(HISTORY_TOPIC, configs)?;
            }
            topic
        }
        None => broker.topics.create(HISTORY_TOPIC, 1, configs)?,
    };
    let partition = topic.partition(0).cloned().context("the console history topic has no partition 0")?;
    Ok(HistoryLog::new(partition))
}
