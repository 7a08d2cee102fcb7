//! Consumer lag: how far each committed offset of a group trails its partition's log end.

use super::coordinator::GroupCoordinator;
use crate::topics::TopicRegistry;

/// One partition's lag for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The group's committed offset.
    pub committed: i64,
    /// The partition's log end offset.
    pub log_end: i64,
    /// `log_end - committed`, never negative.
    pub lag: i64,
}

/// The lag of every partition `group` committed, in topic and partition order; partitions
/// of deleted topics are left out.
pub fn group_lag(coordinator: &GroupCoordinator, topics: &TopicRegistry, group: &str) -> Vec<PartitionLag> {
    let mut lags: Vec<PartitionLag> = coordinator
        .committed(group, None)
        .into_iter()
        .filter_map(|(topic, partition, committed)| {
            let committed = committed?.offset;
            let log_end = topics.get(&topic)?.partitions.get(partition as usize)?.offsets().1;
            Some(PartitionLag { topic, partition, committed, log_end, lag: (log_end - committed).max(0) })
        })
        .collect();
    lags.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    lags
}
