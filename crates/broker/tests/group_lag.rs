//! Consumer lag as the broker computes it for the CLI and metrics: log end offset minus the
//! group's committed offset, per partition the group committed.

use std::collections::BTreeMap;

use runnel_broker::groups::coordinator::OffsetToCommit;
use runnel_broker::groups::lag::{PartitionLag, group_lag};
use runnel_broker::{Broker, BrokerConfig};
use runnel_log::testing::batch;

#[test]
fn lag_is_the_log_end_minus_the_committed_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BrokerConfig { data_dir: dir.path().to_path_buf(), ..BrokerConfig::default() };
    let broker = Broker::open(config, "127.0.0.1:9092".parse().expect("addr")).expect("open broker");
    let topic = broker.topics.create("events", 2, BTreeMap::new()).expect("create");
    topic.partitions[0].append(&batch(10, 1_000, None), 1_000).expect("append");
    topic.partitions[1].append(&batch(3, 1_000, None), 1_000).expect("append");
    let commit = |partition, offset| OffsetToCommit {
        topic: "events".into(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: None,
    };
    let outcome =
        broker.groups.commit("readers", "", None, -1, &[commit(0, 4), commit(1, 3)], |t, p| broker.has_partition(t, p));
    assert_eq!(outcome.errors, vec![0, 0]);

    let lag = group_lag(&broker.groups, &broker.topics, "readers");
    assert_eq!(
        lag,
        vec![
            PartitionLag { topic: "events".into(), partition: 0, committed: 4, log_end: 10, lag: 6 },
            PartitionLag { topic: "events".into(), partition: 1, committed: 3, log_end: 3, lag: 0 },
        ]
    );
    assert!(group_lag(&broker.groups, &broker.topics, "nobody").is_empty());

    // Offsets of a deleted topic have no lag to report.
    broker.topics.delete("events").expect("delete");
    assert!(group_lag(&broker.groups, &broker.topics, "readers").is_empty());
}
