//! Broker behaviours clients rely on that the client-library tests do not pin down exactly:
//! advertised listeners, disabled auto-creation, DescribeCluster, InitProducerId epochs,
//! ListOffsets by timestamp, OffsetForLeaderEpoch, DeleteTopics by id, background retention.

mod broker_process;
mod raw_client;

use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{
    ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, DescribeClusterRequest, DescribeClusterResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use raw_client::{call, connect, create_topic, produce_one};
use runnel_log::testing::batch;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn start_with_properties(dir: &std::path::Path, properties: &str) -> BrokerProcess {
    let config = dir.join("server.properties");
    std::fs::write(&config, properties).expect("write config");
    BrokerProcess::start_with(&dir.join("data"), "127.0.0.1:0", &["--config", config.to_str().expect("path")])
}

fn metadata(stream: &mut std::net::TcpStream, topic: &str) -> MetadataResponse {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]))
        .with_allow_auto_topic_creation(true);
    call(stream, ApiKey::Metadata, 12, &request)
}

/// (offset, timestamp) ListOffsets v7 answers for partition 0 of `topic` at `timestamp`.
fn list_offset(stream: &mut std::net::TcpStream, topic: &str, timestamp: i64) -> (i64, i64) {
    let request = ListOffsetsRequest::default().with_replica_id((-1).into()).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(timestamp)]),
    ]);
    let response: ListOffsetsResponse = call(stream, ApiKey::ListOffsets, 7, &request);
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    (partition.offset, partition.timestamp)
}

#[test]
fn advertised_listeners_node_id_and_disabled_auto_creation_come_from_server_properties() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_with_properties(
        dir.path(),
        "node.id=3\nadvertised.listeners=PLAINTEXT://broker.example:9999\nauto.create.topics.enable=false\n",
    );
    let mut stream = connect(&broker);
    let response = metadata(&mut stream, "not-created");
    assert_eq!(response.topics[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION: auto-creation is off");
    let advertised = &response.brokers[0];
    assert_eq!((advertised.node_id.0, advertised.host.as_str(), advertised.port), (3, "broker.example", 9999));
    assert_eq!(response.controller_id.0, 3);

    let cluster: DescribeClusterResponse =
        call(&mut stream, ApiKey::DescribeCluster, 1, &DescribeClusterRequest::default());
    assert_eq!(cluster.error_code, 0);
    assert_eq!(Some(cluster.cluster_id.to_string()), response.cluster_id.map(|c| c.to_string()));
    assert_eq!(cluster.cluster_id.len(), 22);
    assert_eq!((cluster.controller_id.0, cluster.brokers.len()), (3, 1));
    assert_eq!(cluster.brokers[0].host.as_str(), "broker.example");
}

#[test]
fn init_producer_id_gives_new_ids_and_bumps_a_known_producers_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    let fresh = || InitProducerIdRequest::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    let first: InitProducerIdResponse = call(&mut stream, ApiKey::InitProducerId, 4, &fresh());
    let second: InitProducerIdResponse = call(&mut stream, ApiKey::InitProducerId, 4, &fresh());
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    assert_ne!(first.producer_id, second.producer_id);
    let again = InitProducerIdRequest::default().with_producer_id(first.producer_id).with_producer_epoch(0);
    let bumped: InitProducerIdResponse = call(&mut stream, ApiKey::InitProducerId, 4, &again);
    assert_eq!((bumped.producer_id, bumped.producer_epoch), (first.producer_id, 1));
}

#[test]
fn list_offsets_answers_earliest_latest_max_timestamp_and_by_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "timed", 1, &[]).0, 0);
    // Offsets 0..=2 at timestamps 1000..=1002, then offsets 3..=4 at 5000..=5001.
    assert_eq!(produce_one(&mut stream, "timed", 1, batch(3, 1_000, None)).0, 0);
    assert_eq!(produce_one(&mut stream, "timed", 1, batch(2, 5_000, None)).0, 0);
    assert_eq!(list_offset(&mut stream, "timed", -2).0, 0, "earliest");
    assert_eq!(list_offset(&mut stream, "timed", -1).0, 5, "latest");
    assert_eq!(list_offset(&mut stream, "timed", 1_001), (1, 1_001));
    assert_eq!(list_offset(&mut stream, "timed", 2_000), (3, 5_000));
    assert_eq!(list_offset(&mut stream, "timed", -3), (4, 5_001), "max timestamp");
    assert_eq!(list_offset(&mut stream, "timed", 9_999), (-1, -1), "nothing that late");

    let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
        OffsetForLeaderTopic::default().with_topic(name("timed")).with_partitions(vec![
            OffsetForLeaderPartition::default().with_partition(0).with_leader_epoch(0).with_current_leader_epoch(0),
        ]),
    ]);
    let response: OffsetForLeaderEpochResponse = call(&mut stream, ApiKey::OffsetForLeaderEpoch, 4, &request);
    let epoch = &response.topics[0].partitions[0];
    assert_eq!((epoch.error_code, epoch.leader_epoch, epoch.end_offset), (0, 0, 5));
}

#[test]
fn delete_topics_v6_deletes_by_topic_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "by-id", 1, &[]).0, 0);
    let id = metadata(&mut stream, "by-id").topics[0].topic_id;
    assert!(!id.is_nil());
    let request = DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    let response: DeleteTopicsResponse = call(&mut stream, ApiKey::DeleteTopics, 6, &request);
    let result = &response.responses[0];
    assert_eq!(result.error_code, 0);
    assert_eq!(result.name.as_ref().map(|n| n.as_str()), Some("by-id"));
    assert!(!dir.path().join("by-id-0").exists(), "partition data removed");
    let again: DeleteTopicsResponse = call(&mut stream, ApiKey::DeleteTopics, 6, &request);
    assert_eq!(again.responses[0].error_code, 100, "UNKNOWN_TOPIC_ID");
}

#[test]
fn retention_runs_in_the_background_and_moves_the_log_start_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_with_properties(dir.path(), "log.retention.check.interval.ms=100\n");
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "short-lived", 1, &[("retention.ms", "60000")]).0, 0);
    // Records stamped in 1970 are far past a one-minute retention.
    for _ in 0..3 {
        assert_eq!(produce_one(&mut stream, "short-lived", -1, batch(2, 1_000, None)).0, 0);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_offset(&mut stream, "short-lived", -2).0 != 6 {
        assert!(Instant::now() < deadline, "retention never deleted the expired records");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(list_offset(&mut stream, "short-lived", -1).0, 6, "the log end offset stays");
    assert_eq!(produce_one(&mut stream, "short-lived", -1, batch(1, 1_000, None)).0, 0);
}
