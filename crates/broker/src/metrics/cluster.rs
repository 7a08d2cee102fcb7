//! kafka_exporter's topic and group metrics (and Kafka's log size) from a [`ClusterState`]:
//! one encoding for the broker's own state and for `runnel monitor`'s view of any cluster, so
//! both report the same names and the same numbers.

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::metrics::families::{gauges, labels};

/// One partition's offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionState {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// First offset still in the log.
    pub oldest: i64,
    /// Log end offset.
    pub end: i64,
    /// Bytes on disk, where the source knows them (the broker does; a client does not).
    pub size_bytes: Option<u64>,
}

/// One group's committed offset on one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOffset {
    /// Group id.
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The committed offset.
    pub committed: i64,
    /// Now minus the timestamp of the record at the committed offset (0 when caught up).
    pub time_lag_seconds: f64,
}

/// What the topic and group metrics are made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterState {
    /// Every partition of every topic.
    pub partitions: Vec<PartitionState>,
    /// Every group, with its member count.
    pub groups: Vec<(String, i64)>,
    /// Every committed offset of every group (of partitions that exist).
    pub offsets: Vec<GroupOffset>,
}

/// Writes the topic and group families of `state`.
pub fn encode(encoder: &mut DescriptorEncoder, state: &ClusterState) -> Result<(), std::fmt::Error> {
    let mut per_topic: BTreeMap<&str, i64> = BTreeMap::new();
    let mut ends: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for p in &state.partitions {
        *per_topic.entry(&p.topic).or_default() += 1;
        ends.insert((&p.topic, p.partition), p.end);
    }
    let tp = |topic: &str, partition: i32| labels([("topic", topic.to_string()), ("partition", partition.to_string())]);
    gauges(
        encoder,
        "kafka_topic_partitions",
        "Partitions of the topic",
        per_topic.iter().map(|(topic, n)| (labels([("topic", topic.to_string())]), *n)),
    )?;
    gauges(
        encoder,
        "kafka_topic_partition_current_offset",
        "Log end offset of the partition",
        state.partitions.iter().map(|p| (tp(&p.topic, p.partition), p.end)),
    )?;
    gauges(
        encoder,
        "kafka_topic_partition_oldest_offset",
        "First offset still in the partition",
        state.partitions.iter().map(|p| (tp(&p.topic, p.partition), p.oldest)),
    )?;
    if state.partitions.iter().any(|p| p.size_bytes.is_some()) {
        gauges(
            encoder,
            "kafka_log_log_size",
            "Bytes of the partition's segments on disk",
            state.partitions.iter().filter_map(|p| p.size_bytes.map(|size| (tp(&p.topic, p.partition), size as i64))),
        )?;
    }
    let offsets: Vec<(&GroupOffset, i64)> = state
        .offsets
        .iter()
        .filter_map(|o| ends.get(&(o.topic.as_str(), o.partition)).map(|end| (o, (end - o.committed).max(0))))
        .collect();
    let gtp = |o: &GroupOffset, group_label: &'static str| {
        labels([(group_label, o.group.clone()), ("topic", o.topic.clone()), ("partition", o.partition.to_string())])
    };
    gauges(
        encoder,
        "kafka_consumergroup_current_offset",
        "The group's committed offset",
        offsets.iter().map(|(o, _)| (gtp(o, "consumergroup"), o.committed)),
    )?;
    gauges(
        encoder,
        "kafka_consumergroup_lag",
        "Records between the group's committed offset and the log end",
        offsets.iter().map(|(o, lag)| (gtp(o, "consumergroup"), *lag)),
    )?;
    let mut lag_sums: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (o, lag) in &offsets {
        *lag_sums.entry((&o.group, &o.topic)).or_default() += lag;
    }
    gauges(
        encoder,
        "kafka_consumergroup_lag_sum",
        "Lag of the group summed over the topic's partitions",
        lag_sums
            .into_iter()
            .map(|((g, t), lag)| (labels([("consumergroup", g.to_string()), ("topic", t.to_string())]), lag)),
    )?;
    gauges(
        encoder,
        "kafka_consumergroup_members",
        "Members of the group",
        state.groups.iter().map(|(g, n)| (labels([("consumergroup", g.clone())]), *n)),
    )?;
    gauges(
        encoder,
        "kafka_consumergroup_group_lag_seconds",
        "Now minus the timestamp of the first record the group has not committed (0 when caught up)",
        offsets.iter().map(|(o, lag)| (gtp(o, "group"), if *lag == 0 { 0.0 } else { o.time_lag_seconds })),
    )
}

/// The exposition of `state` alone (OpenMetrics text), for a scrape of another cluster.
pub fn to_text(state: ClusterState) -> Result<String, std::fmt::Error> {
    #[derive(Debug)]
    struct StateCollector(ClusterState);
    impl Collector for StateCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode(&mut encoder, &self.0)
        }
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StateCollector(state)));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}
