//! Where the console's figures come from: one small trait with two implementations, the broker
//! itself (`runnel serve`, in-process, in [`crate::broker_source`]) and any Kafka cluster over
//! the protocol (`runnel monitor`, through rdkafka). Pages, history and alerts see only a
//! [`Snapshot`].

use runnel_broker::metrics::cluster::ClusterState;
use serde::{Deserialize, Serialize};

/// A source of snapshots of one cluster.
pub trait Source: Send + Sync + 'static {
    /// What the console watches, for page titles ("runnel serve on 127.0.0.1:9092").
    fn describe(&self) -> String;

    /// Reads the cluster now. Blocking: the console calls it on the blocking pool. An error
    /// means the cluster could not be read (down or unreachable).
    fn snapshot(&self) -> anyhow::Result<Snapshot>;
}

/// The cluster at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Partitions, committed offsets (with time lag) and group sizes: the metrics' shape.
    pub cluster: ClusterState,
    /// Each group's state and members.
    pub groups: Vec<GroupInfo>,
    /// What only the broker itself knows (disk, fsyncs, failed produces); `None` for a cluster
    /// seen through the protocol.
    pub broker: Option<BrokerHealth>,
}

/// One consumer group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupInfo {
    /// Group id.
    pub id: String,
    /// Its state as Kafka names it (Stable, Empty, PreparingRebalance, …).
    pub state: String,
    /// Its members.
    pub members: Vec<MemberInfo>,
}

/// One member of a group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberInfo {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub host: String,
    /// Its assigned partitions, by topic.
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// The broker's own health figures: cumulative counters and gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrokerHealth {
    /// Free bytes on the data directory's disk.
    pub disk_free: u64,
    /// Size of that disk.
    pub disk_total: u64,
    /// Partitions refusing writes after a failed fsync.
    pub offline_partitions: u64,
    /// Produce partitions refused since start.
    pub failed_produces: u64,
    /// Records produced since start, by all topics.
    pub messages_in: u64,
    /// Bytes produced since start.
    pub bytes_in: u64,
    /// Bytes fetched since start.
    pub bytes_out: u64,
    /// Log fsyncs since start.
    pub fsyncs: u64,
    /// Of those, the ones slower than the slow-fsync threshold.
    pub slow_fsyncs: u64,
}
