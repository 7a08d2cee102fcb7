//! One point of history: what the charts and the alert rules need from a [`Snapshot`], summed
//! per topic and per (group, topic) so that a sample stays small. Samples are stored as JSON, so
//! `kcat -C -t __runnel_console` shows them as they are.
//!
//! In memory a sample is three sorted vectors of plain numbers, with names shared with the
//! sample before it ([`Sample::share_names`]): about 40 bytes per topic, group and (group,
//! topic), which is what [`Sample::memory_bytes`] counts against `console.history.max.bytes`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::source::{BrokerHealth, Snapshot};

/// A topic or group name, shared by the samples that mention it.
pub type Name = Arc<str>;

/// The cluster at time `t`, reduced to what history keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken, in ms since the Unix epoch.
    pub t: i64,
    /// Whether the cluster answered; the other fields are empty when it did not.
    pub up: bool,
    /// Per topic, sorted by name.
    #[serde(default)]
    pub topics: Vec<TopicPoint>,
    /// Per group, sorted by id.
    #[serde(default)]
    pub groups: Vec<GroupPoint>,
    /// Per (group, topic) with committed offsets, sorted by group then topic.
    #[serde(default)]
    pub lags: Vec<LagPoint>,
    /// The broker's own figures, where the source has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerPoint>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicPoint {
    /// Its name.
    pub topic: Name,
    /// Sum of its partitions' log end offsets: records ever written (its rate is produce rate).
    pub end: i64,
    /// Bytes on disk, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPoint {
    /// Its id.
    pub group: Name,
    /// Members now.
    pub members: i64,
}

/// One group on one topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LagPoint {
    /// The group.
    pub group: Name,
    /// The topic.
    pub topic: Name,
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
        let mut topics: BTreeMap<&str, (i64, Option<u64>)> = BTreeMap::new();
        let mut ends: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for p in &snapshot.cluster.partitions {
            let topic = topics.entry(&p.topic).or_default();
            topic.0 += p.end;
            if let Some(size) = p.size_bytes {
                *topic.1.get_or_insert(0) += size;
            }
            ends.insert((&p.topic, p.partition), p.end);
        }
        let mut lags: BTreeMap<(&str, &str), (i64, i64, f64)> = BTreeMap::new();
        for o in &snapshot.cluster.offsets {
            let Some(end) = ends.get(&(o.topic.as_str(), o.partition)) else { continue };
            let lag = (end - o.committed).max(0);
            let point = lags.entry((&o.group, &o.topic)).or_default();
            point.0 += o.committed;
            point.1 += lag;
            if lag > 0 {
                point.2 = point.2.max(o.time_lag_seconds);
            }
        }
        let groups: BTreeMap<&str, i64> = snapshot.cluster.groups.iter().map(|(g, n)| (g.as_str(), *n)).collect();
        Sample {
            t,
            up: true,
            topics: topics
                .into_iter()
                .map(|(topic, (end, size))| TopicPoint { topic: topic.into(), end, size })
                .collect(),
            groups: groups.into_iter().map(|(group, members)| GroupPoint { group: group.into(), members }).collect(),
            lags: lags
                .into_iter()
                .map(|((group, topic), (committed, lag, time_lag))| LagPoint {
                    group: group.into(),
                    topic: topic.into(),
                    committed,
                    lag,
                    time_lag,
                })
                .collect(),
            broker: snapshot.broker,
        }
    }

    /// The sample recorded when the cluster could not be read at `t`.
    pub fn down(t: i64) -> Sample {
        Sample { t, up: false, ..Sample::default() }
    }

    /// The topic named `topic`.
    pub fn topic(&self, topic: &str) -> Option<&TopicPoint> {
        let i = self.topics.binary_search_by(|p| (*p.topic).cmp(topic)).ok()?;
        self.topics.get(i)
    }

    /// The lags of `group`, one per topic, sorted by topic.
    pub fn lags_of(&self, group: &str) -> &[LagPoint] {
        let start = self.lags.partition_point(|l| *l.group < *group);
        let end = self.lags.partition_point(|l| *l.group <= *group);
        &self.lags[start..end]
    }

    /// The lag of `group` on `topic`.
    pub fn lag(&self, group: &str, topic: &str) -> Option<&LagPoint> {
        let lags = self.lags_of(group);
        let i = lags.binary_search_by(|l| (*l.topic).cmp(topic)).ok()?;
        lags.get(i)
    }

    /// Makes this sample's names the same allocations as `previous`'s where they are equal,
    /// so history holds each name once rather than once per sample.
    pub fn share_names(&mut self, previous: &Sample) {
        let mut known: HashMap<&str, &Name> = HashMap::new();
        for p in &previous.topics {
            known.insert(&p.topic, &p.topic);
        }
        for g in &previous.groups {
            known.insert(&g.group, &g.group);
        }
        let share = |name: &mut Name| {
            if let Some(shared) = known.get(&**name) {
                *name = Arc::clone(shared);
            }
        };
        for p in &mut self.topics {
            share(&mut p.topic);
        }
        for g in &mut self.groups {
            share(&mut g.group);
        }
        for l in &mut self.lags {
            share(&mut l.group);
            share(&mut l.topic);
        }
    }

    /// Bytes this sample holds in memory, names aside (they are shared between samples).
    pub fn memory_bytes(&self) -> u64 {
        (size_of::<Sample>()
            + self.topics.capacity() * size_of::<TopicPoint>()
            + self.groups.capacity() * size_of::<GroupPoint>()
            + self.lags.capacity() * size_of::<LagPoint>()) as u64
    }
}

#[cfg(test)]
mod tests {
    use runnel_broker::metrics::cluster::{ClusterState, GroupOffset, PartitionState};

    use super::*;

    fn snapshot() -> Snapshot {
        let partition =
            |p, end| PartitionState { topic: "t".into(), partition: p, oldest: 0, end, size_bytes: Some(10) };
        let offset = |p, committed, time_lag_seconds| GroupOffset {
            group: "g".into(),
            topic: "t".into(),
            partition: p,
            committed,
            time_lag_seconds,
        };
        Snapshot {
            cluster: ClusterState {
                partitions: vec![partition(0, 100), partition(1, 50)],
                groups: vec![("g".into(), 2)],
                offsets: vec![offset(0, 90, 7.5), offset(1, 50, 3.0)],
            },
            ..Snapshot::default()
        }
    }

    #[test]
    fn sums_partitions_per_topic_and_lag_per_group_topic() {
        let sample = Sample::of(&snapshot(), 1_000);
        let topic = sample.topic("t").expect("topic t");
        assert_eq!((topic.end, topic.size), (150, Some(20)));
        let lag = sample.lag("g", "t").expect("lag of g on t");
        assert_eq!((lag.committed, lag.lag), (140, 10));
        assert_eq!(lag.time_lag, 7.5, "a caught-up partition's time lag does not count");
        assert_eq!(sample.groups[0].members, 2);
        assert!(sample.lag("g", "u").is_none() && sample.lags_of("h").is_empty());
        let json = serde_json::to_string(&sample).expect("json");
        assert_eq!(serde_json::from_str::<Sample>(&json).expect("parse"), sample);
    }

    #[test]
    fn names_are_shared_with_the_previous_sample() {
        let first = Sample::of(&snapshot(), 1_000);
        let mut second = Sample::of(&snapshot(), 2_000);
        assert!(!Arc::ptr_eq(&first.topics[0].topic, &second.topics[0].topic));
        second.share_names(&first);
        assert!(Arc::ptr_eq(&first.topics[0].topic, &second.topics[0].topic));
        assert!(Arc::ptr_eq(&first.topics[0].topic, &second.lags[0].topic));
        assert!(Arc::ptr_eq(&first.groups[0].group, &second.lags[0].group));
        assert!(second.memory_bytes() < 400, "{}", second.memory_bytes());
    }
}
