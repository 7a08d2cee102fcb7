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
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::api::SUPPORTED;
use crate::broker::{Broker, now_ms};
use crate::metrics::process::{disk_space, process_stats};
use crate::metrics::topic::TopicMetrics;

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

/// One committed partition of a group, as the scrape sees it.
struct GroupPartition {
    group: String,
    topic: String,
    partition: i32,
    committed: i64,
}

#[derive(Debug)]
struct BrokerCollector(Arc<Broker>);

type Labels<'a> = Vec<(&'static str, String)>;

fn labels<const N: usize>(pairs: [(&'static str, String); N]) -> Labels<'static> {
    pairs.into()
}

/// Writes one family: `samples` of (labels, value) under `name`.
fn family<V: Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: impl IntoIterator<Item = (Labels<'static>, V)>,
    write: impl Fn(V, prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        write(value, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'static>, u64)>,
) -> Result<(), std::fmt::Error> {
    family(encoder, name, help, MetricType::Counter, samples, |v, e| ConstCounter::new(v).encode(e))
}

fn gauges<V: prometheus_client::encoding::EncodeGaugeValue + Copy + std::fmt::Debug + Send + Sync + 'static>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels<'static>, V)>,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    family(encoder, name, help, MetricType::Gauge, samples, |v, e| ConstGauge::new(v).encode(e))
}

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let broker = &self.0;
        let topics = broker.topics.all();
        let metrics = &broker.metrics;

        // Kafka's BrokerTopicMetrics, per topic and (without the label) for all topics.
        let per_topic: Vec<(String, [(&str, u64); 5])> =
            topics.iter().map(|t| (t.name().to_string(), t.metrics.values())).collect();
        let unknown = [
            0,
            0,
            0,
            metrics.failed_produce_unknown_topic.load(std::sync::atomic::Ordering::Relaxed),
            metrics.failed_fetch_unknown_topic.load(std::sync::atomic::Ordering::Relaxed),
        ];
        let helps = [
            "Records appended, by topic (no label: all topics)",
            "Record-batch bytes appended, by topic",
            "Record bytes sent to consumers, by topic",
            "Produce partitions refused, by topic",
            "Fetch partitions answered with an error, by topic",
        ];
        for (i, help) in helps.iter().enumerate() {
            let name = TopicMetrics::default().values()[i].0;
            let all: u64 = per_topic.iter().map(|(_, v)| v[i].1).sum::<u64>() + unknown[i];
            let samples = per_topic
                .iter()
                .map(|(topic, v)| (labels([("topic", topic.clone())]), v[i].1))
                .chain(std::iter::once((Vec::new(), all)));
            counters(&mut encoder, &format!("kafka_server_brokertopicmetrics_{name}"), help, samples)?;
        }

        // kafka_exporter's topic metrics, and Kafka's log size.
        let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut offsets = Vec::new();
        let mut sizes = Vec::new();
        let mut offline = 0i64;
        for topic in &topics {
            for partition in &topic.partitions {
                offline += i64::from(partition.is_offline());
                let (start, end) = partition.offsets();
                ends.insert((topic.name().to_string(), partition.index()), end);
                offsets.push((topic.name().to_string(), partition.index(), start, end));
                sizes.push((topic.name().to_string(), partition.index(), partition.size_bytes()));
            }
        }
        let tp =
            |topic: &str, partition: i32| labels([("topic", topic.to_string()), ("partition", partition.to_string())]);
        gauges(
            &mut encoder,
            "kafka_topic_partitions",
            "Partitions of the topic",
            topics.iter().map(|t| (labels([("topic", t.name().to_string())]), t.partitions.len() as i64)),
        )?;
        gauges(
            &mut encoder,
            "kafka_topic_partition_current_offset",
            "Log end offset of the partition",
            offsets.iter().map(|(t, p, _, end)| (tp(t, *p), *end)),
        )?;
        gauges(
            &mut encoder,
            "kafka_topic_partition_oldest_offset",
            "First offset still in the partition",
            offsets.iter().map(|(t, p, start, _)| (tp(t, *p), *start)),
        )?;
        gauges(
            &mut encoder,
            "kafka_server_replicamanager_offlinereplicacount",
            "Partitions refusing writes after a failed fsync (until restart)",
            [(Vec::new(), offline)],
        )?;
        gauges(
            &mut encoder,
            "kafka_log_log_size",
            "Bytes of the partition's segments on disk",
            sizes.iter().map(|(t, p, size)| (tp(t, *p), *size as i64)),
        )?;

        // Consumer groups: committed offsets, lag in records and in seconds, members.
        let (committed, members) = broker.groups.inspect(|groups| {
            let mut committed = Vec::new();
            let mut members = Vec::new();
            for (id, group) in groups {
                members.push((id.clone(), group.members().len() as i64));
                for ((topic, partition), offset) in &group.offsets {
                    committed.push(GroupPartition {
                        group: id.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        committed: offset.offset,
                    });
                }
            }
            (committed, members)
        });
        let committed: Vec<(GroupPartition, i64)> = committed
            .into_iter()
            .filter_map(|c| ends.get(&(c.topic.clone(), c.partition)).map(|end| (c, *end)))
            .collect();
        let gtp = |c: &GroupPartition, group_label: &'static str| {
            labels([(group_label, c.group.clone()), ("topic", c.topic.clone()), ("partition", c.partition.to_string())])
        };
        gauges(
            &mut encoder,
            "kafka_consumergroup_current_offset",
            "The group's committed offset",
            committed.iter().map(|(c, _)| (gtp(c, "consumergroup"), c.committed)),
        )?;
        gauges(
            &mut encoder,
            "kafka_consumergroup_lag",
            "Records between the group's committed offset and the log end",
            committed.iter().map(|(c, end)| (gtp(c, "consumergroup"), (end - c.committed).max(0))),
        )?;
        let mut lag_sums: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (c, end) in &committed {
            *lag_sums.entry((c.group.clone(), c.topic.clone())).or_default() += (end - c.committed).max(0);
        }
        gauges(
            &mut encoder,
            "kafka_consumergroup_lag_sum",
            "Lag of the group summed over the topic's partitions",
            lag_sums.into_iter().map(|((g, t), lag)| (labels([("consumergroup", g), ("topic", t)]), lag)),
        )?;
        gauges(
            &mut encoder,
            "kafka_consumergroup_members",
            "Members of the group",
            members.into_iter().map(|(g, n)| (labels([("consumergroup", g)]), n)),
        )?;
        let now = now_ms();
        let time_lags: Vec<(Labels<'static>, f64)> = committed
            .iter()
            .map(|(c, end)| {
                let lag = if c.committed >= *end { 0.0 } else { time_lag_seconds(broker, c, now) };
                (gtp(c, "group"), lag)
            })
            .collect();
        gauges(
            &mut encoder,
            "kafka_consumergroup_group_lag_seconds",
            "Now minus the timestamp of the first record the group has not committed (0 when caught up)",
            time_lags,
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
        counters(
            &mut encoder,
            "runnel_connections_accepted",
            "Client connections accepted since start",
            [(Vec::new(), metrics.connections_accepted.load(std::sync::atomic::Ordering::Relaxed))],
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

/// Seconds between now and the timestamp of the first record `c` has not committed.
fn time_lag_seconds(broker: &Broker, c: &GroupPartition, now: i64) -> f64 {
    let Some(partition) = broker.topics.get(&c.topic).and_then(|t| t.partition(c.partition).cloned()) else {
        return 0.0;
    };
    match partition.timestamp_of(c.committed) {
        Ok(Some(timestamp)) => ((now - timestamp).max(0)) as f64 / 1000.0,
        Ok(None) => 0.0,
        Err(e) => {
            tracing::debug!(topic = %c.topic, partition = c.partition, error = %e, "time lag unreadable");
            0.0
        }
    }
}
