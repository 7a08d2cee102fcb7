//! One point of history: what the charts and the alert rules need from a [`Snapshot`], summed
//! per topic and per (group, topic) so that a sample stays small. Samples are stored as JSON, so
//! `kcat -C -t __runnel_console` shows them as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::source::{BrokerHealth, Snapshot};

/// The cluster at time `t`, reduced to what history keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken, in ms since the Unix epoch.
    pub t: i64,
    /// Whether the cluster answered; the other fields are empty when it did not.
    pub up: bool,
    /// Per topic.
    #[serde(default)]
    pub topics: BTreeMap<String, TopicPoint>,
    /// Per group.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupPoint>,
    /// The broker's own figures, where the source has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerPoint>,
}

/// One topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopicPoint {
    /// Sum of its partitions' log end offsets: records ever written (its rate is produce rate).
    pub end: i64,
    /// Bytes on disk, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// One group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupPoint {
    /// Members now.
    pub members: i64,
    /// Per topic it has committed offsets on.
    #[serde(default)]
    pub topics: BTreeMap<String, LagPoint>,
}

/// One group on one topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LagPoint {
    /// Sum of its committed offsets (it moves when the group commits).
    pub committed: i64,
    /// Records behind, summed over the partitions.
    pub lag: i64,
    /// Seconds behind: the largest time lag of its partitions.
    pub time_lag: f64,
}

/// The broker's counters and gauges (see [`BrokerHealth`]).
pub type BrokerPoint = BrokerHealth;

impl Sample {
    /// The sample of a snapshot taken at `t`.
    pub fn of(snapshot: &Snapshot, t: i64) -> Sample {
        let mut sample = Sample { t, up: true, broker: snapshot.broker, ..Sample::default() };
        let mut ends: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for p in &snapshot.cluster.partitions {
            let topic = sample.topics.entry(p.topic.clone()).or_default();
            topic.end += p.end;
            if let Some(size) = p.size_bytes {
                *topic.size.get_or_insert(0) += size;
            }
            ends.insert((&p.topic, p.partition), p.end);
        }
        for (group, members) in &snapshot.cluster.groups {
            sample.groups.entry(group.clone()).or_default().members = *members;
        }
        for o in &snapshot.cluster.offsets {
            let Some(end) = ends.get(&(o.topic.as_str(), o.partition)) else { continue };
            let lag = (end - o.committed).max(0);
            let point = sample.groups.entry(o.group.clone()).or_default().topics.entry(o.topic.clone()).or_default();
            point.committed += o.committed;
            point.lag += lag;
            if lag > 0 {
                point.time_lag = point.time_lag.max(o.time_lag_seconds);
            }
        }
        sample
    }

    /// The sample recorded when the cluster could not be read at `t`.
    pub fn down(t: i64) -> Sample {
        Sample { t, up: false, ..Sample::default() }
    }
}

#[cfg(test)]
mod tests {
    use runnel_broker::metrics::cluster::{ClusterState, GroupOffset, PartitionState};

    use super::*;

    #[test]
    fn sums_partitions_per_topic_and_lag_per_group_topic() {
        let partition =
            |p, end| PartitionState { topic: "t".into(), partition: p, oldest: 0, end, size_bytes: Some(10) };
        let offset = |p, committed, time_lag_seconds| GroupOffset {
            group: "g".into(),
            topic: "t".into(),
            partition: p,
            committed,
            time_lag_seconds,
        };
        let snapshot = Snapshot {
            cluster: ClusterState {
                partitions: vec![partition(0, 100), partition(1, 50)],
                groups: vec![("g".into(), 2)],
                offsets: vec![offset(0, 90, 7.5), offset(1, 50, 3.0)],
            },
            ..Snapshot::default()
        };
        let sample = Sample::of(&snapshot, 1_000);
        assert_eq!(sample.topics["t"], TopicPoint { end: 150, size: Some(20) });
        let lag = sample.groups["g"].topics["t"];
        assert_eq!((lag.committed, lag.lag), (140, 10));
        assert_eq!(lag.time_lag, 7.5, "a caught-up partition's time lag does not count");
        assert_eq!(sample.groups["g"].members, 2);
        let json = serde_json::to_string(&sample).expect("json");
        assert_eq!(serde_json::from_str::<Sample>(&json).expect("parse"), sample);
    }
}
