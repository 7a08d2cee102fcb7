//! The scrape: every metric the broker exports, encoded by prometheus-client in the
//! OpenMetrics text format. Offsets, lag, sizes and group membership are read from the live
//! topics and the group coordinator when Prometheus asks, never kept up to date in between.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

use crate::api::SUPPORTED;
use crate::broker::{Broker, now_ms};
use crate::metrics::cluster::{self, ClusterState, GroupOffset, PartitionState};
use crate::metrics::families::{counters, family, gauges, labels};
use crate::metrics::process::{disk_space, process_stats};
use crate::metrics::topic::COUNTERS;
use crate::partition::PartitionRef;
use crate::topics::Topic;

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Encodes every metric of `broker`.
pub fn encode(broker: &Arc<Broker>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BrokerCollector(broker.clone())));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

#[derive(Debug)]
struct BrokerCollector(Arc<Broker>);

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let broker = &self.0;
        let topics = broker.topics.all();
        let metrics = &broker.metrics;

        // Kafka's BrokerTopicMetrics, per topic and (without the label) for all topics.
        let per_topic: Vec<(String, [u64; 5])> =
            topics.iter().map(|t| (t.name().to_string(), t.metrics.values())).collect();
        let unknown = [
            0,
            0,
            0,
            metrics.failed_produce_unknown_topic.load(std::sync::atomic::Ordering::Relaxed),
            metrics.failed_fetch_unknown_topic.load(std::sync::atomic::Ordering::Relaxed),
        ];
        for (i, (name, help)) in COUNTERS.iter().enumerate() {
            let all: u64 = per_topic.iter().map(|(_, v)| v[i]).sum::<u64>() + unknown[i];
            let samples = per_topic
                .iter()
                .map(|(topic, v)| (labels([("topic", topic.clone())]), v[i]))
                .chain(std::iter::once((Vec::new(), all)));
            counters(&mut encoder, &format!("kafka_server_brokertopicmetrics_{name}"), help, samples)?;
        }

        // kafka_exporter's topic and group metrics, from the live topics and groups.
        cluster::encode(&mut encoder, &cluster_state(broker, &topics))?;
        let offline: i64 = topics.iter().flat_map(|t| &t.partitions).map(|p| i64::from(p.is_offline())).sum();
        gauges(
            &mut encoder,
            "kafka_server_replicamanager_offlinereplicacount",
            "Partitions refusing writes after a failed fsync (until restart)",
            [(Vec::new(), offline)],
        )?;

        // Requests, fsyncs, connections.
        let apis: Vec<(ApiKey, &crate::metrics::ApiStats)> =
            SUPPORTED.iter().filter_map(|(api, _, _)| metrics.api(*api as i16).map(|s| (*api, s))).collect();
        counters(
            &mut encoder,
            "runnel_requests",
            "Requests handled, by API",
            apis.iter().map(|(api, s)| {
                (labels([("api", format!("{api:?}"))]), s.count.load(std::sync::atomic::Ordering::Relaxed))
            }),
        )?;
        {
            let mut metric = encoder.encode_descriptor(
                "runnel_request_duration_seconds",
                "From a request's arrival to its response being ready, by API",
                None,
                MetricType::Histogram,
            )?;
            for (api, stats) in &apis {
                let api_label = labels([("api", format!("{api:?}"))]);
                stats.latency.encode(metric.encode_family(&api_label)?)?;
            }
        }
        metrics.fsync_seconds.encode(encoder.encode_descriptor(
            "runnel_fsync_duration_seconds",
            "Duration of log fsyncs for acks=all produces and offset commits",
            None,
            MetricType::Histogram,
        )?)?;
        metrics.group_commit_records.encode(encoder.encode_descriptor(
            "runnel_group_commit_records",
            "Records made durable by one fsync (group commit)",
            None,
            MetricType::Histogram,
        )?)?;
        gauges(
            &mut encoder,
            "runnel_connections",
            "Client connections open now",
            [(Vec::new(), metrics.connections.load(std::sync::atomic::Ordering::Relaxed))],
        )?;
        gauges(
            &mut encoder,
            "runnel_fetch_sessions",
            "Fetch sessions (KIP-227) in the cache",
            [(Vec::new(), broker.fetch_sessions.len() as i64)],
        )?;
        counters(
            &mut encoder,
            "runnel_incremental_fetches",
            "Incremental fetches (of a fetch session) served since start",
            [(Vec::new(), broker.fetch_sessions.incremental_fetches.load(std::sync::atomic::Ordering::Relaxed))],
        )?;
        counters(
            &mut encoder,
            "runnel_fetch_session_idle_partitions_skipped",
            "Partitions incremental fetches left unread because nothing changed since their session saw them idle",
            [(Vec::new(), broker.fetch_sessions.idle_partitions_skipped.load(std::sync::atomic::Ordering::Relaxed))],
        )?;
        counters(
            &mut encoder,
            "runnel_connections_accepted",
            "Client connections accepted since start",
            [(Vec::new(), metrics.connections_accepted.load(std::sync::atomic::Ordering::Relaxed))],
        )?;
        counters(
            &mut encoder,
            "runnel_connections_refused",
            "Connections closed at once for being over max.connections.per.ip or max.connections",
            [(Vec::new(), metrics.connections_refused.load(std::sync::atomic::Ordering::Relaxed))],
        )?;
        counters(
            &mut encoder,
            "runnel_failed_authentications",
            "SASL authentications refused since start (wrong password, unknown user, disabled mechanism)",
            [(Vec::new(), metrics.failed_authentications.load(std::sync::atomic::Ordering::Relaxed))],
        )?;
        counters(
            &mut encoder,
            "runnel_successful_reauthentications",
            "SASL re-authentications on open connections (KIP-368, connections.max.reauth.ms) since start",
            [(Vec::new(), metrics.successful_reauthentications.load(std::sync::atomic::Ordering::Relaxed))],
        )?;

        // The disk and the process.
        if let Some((free, total)) = disk_space(broker.data_dir()) {
            gauges(
                &mut encoder,
                "runnel_log_dir_free_bytes",
                "Free bytes on the data directory's disk",
                [(Vec::new(), free as i64)],
            )?;
            gauges(
                &mut encoder,
                "runnel_log_dir_size_bytes",
                "Size of the data directory's disk",
                [(Vec::new(), total as i64)],
            )?;
        }
        let process = process_stats();
        family(
            &mut encoder,
            "process_cpu_seconds",
            "User and system CPU time",
            MetricType::Counter,
            [(Vec::new(), process.cpu_seconds)],
            |v, e| ConstCounter::new(v).encode(e),
        )?;
        gauges(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory",
            [(Vec::new(), process.resident_bytes as i64)],
        )?;
        gauges(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory",
            [(Vec::new(), process.virtual_bytes as i64)],
        )?;
        gauges(&mut encoder, "process_open_fds", "Open file descriptors", [(Vec::new(), process.open_fds as i64)])?;
        gauges(&mut encoder, "process_max_fds", "The open-file limit", [(Vec::new(), process.max_fds as i64)])?;
        gauges(
            &mut encoder,
            "process_start_time_seconds",
            "Start time since the Unix epoch",
            [(Vec::new(), process.start_time_seconds)],
        )?;
        Ok(())
    }
}

/// The topics and groups as [`cluster::encode`] wants them, with each time lag read from the
/// record at the committed offset.
pub fn cluster_state(broker: &Broker, topics: &[Arc<Topic>]) -> ClusterState {
    let mut state = ClusterState::default();
    let mut partitions: BTreeMap<(String, i32), PartitionRef> = BTreeMap::new();
    for topic in topics {
        for partition in &topic.partitions {
            let (oldest, end) = partition.offsets();
            state.partitions.push(PartitionState {
                topic: topic.name().to_string(),
                partition: partition.index(),
                oldest,
                end,
                size_bytes: Some(partition.size_bytes()),
            });
            partitions.insert((topic.name().to_string(), partition.index()), partition.clone());
        }
    }
    let committed = broker.groups.inspect(|groups| {
        let mut committed = Vec::new();
        for (id, group) in groups {
            state.groups.push((id.clone(), group.member_count() as i64));
            for ((topic, partition), offset) in &group.offsets {
                committed.push((id.clone(), topic.clone(), *partition, offset.offset));
            }
        }
        committed
    });
    let now = now_ms();
    for (group, topic, partition, committed) in committed {
        let Some(log) = partitions.get(&(topic.clone(), partition)) else { continue };
        let time_lag_seconds = match log.timestamp_of(committed) {
            Ok(Some(timestamp)) => (now - timestamp).max(0) as f64 / 1000.0,
            Ok(None) => 0.0,
            Err(e) => {
                tracing::debug!(%topic, partition, error = %e, "time lag unreadable");
                0.0
            }
        };
        state.offsets.push(GroupOffset { group, topic, partition, committed, time_lag_seconds });
    }
    state
}
