//! The operator APIs over a raw socket, at every version served: DeleteRecords (durable across
//! SIGKILL), DescribeLogDirs, DescribeTopicPartitions with its cursor, AlterConfigs/IncrementalAlterConfigs refusals, the multi-broker
//! replica APIs answered as a one-replica cluster answers them, and Fetch by topic id.

mod broker_process;
mod raw_client;

use std::net::TcpStream;

use broker_process::BrokerProcess;
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, ApiKey, BrokerId, DeleteRecordsRequest,
    DeleteRecordsResponse, DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse, ElectLeadersRequest, ElectLeadersResponse, FetchRequest, FetchResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use raw_client::{call, connect, create_topic, produce_one};
use runnel_log::testing::batch;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const INVALID_REQUEST: i16 = 42;
const INVALID_CONFIG: i16 = 40;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

fn earliest(stream: &mut TcpStream, topic: &str) -> i64 {
    let request = ListOffsetsRequest::default().with_replica_id((-1).into()).with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-2)]),
    ]);
    let response: ListOffsetsResponse = call(stream, ApiKey::ListOffsets, 7, &request);
    response.topics[0].partitions[0].offset
}

/// (error code, low watermark) per partition asked, at `version`.
fn delete_records(stream: &mut TcpStream, version: i16, topic: &str, asks: &[(i32, i64)]) -> Vec<(i16, i64)> {
    let partitions =
        asks.iter().map(|&(p, offset)| DeleteRecordsPartition::default().with_partition_index(p).with_offset(offset));
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![DeleteRecordsTopic::default().with_name(name(topic)).with_partitions(partitions.collect())]);
    let response: DeleteRecordsResponse = call(stream, ApiKey::DeleteRecords, version, &request);
    response.topics[0].partitions.iter().map(|p| (p.error_code, p.low_watermark)).collect()
}

fn fetch_error(stream: &mut TcpStream, version: i16, topic: &str, partition: i32, offset: i64) -> i16 {
    let id = if version >= 13 {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]));
        let metadata: MetadataResponse = call(stream, ApiKey::Metadata, 12, &request);
        metadata.topics[0].topic_id
    } else {
        Default::default()
    };
    let request = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
        FetchTopic::default().with_topic(name(topic)).with_topic_id(id).with_partitions(vec![
            FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20),
        ]),
    ]);
    let response: FetchResponse = call(stream, ApiKey::Fetch, version, &request);
    response.responses[0].partitions[0].error_code
}

#[test]
fn delete_records_moves_the_log_start_durably_at_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "trim", 1, &[]).0, 0);
    for _ in 0..10 {
        assert_eq!(produce_one(&mut stream, "trim", -1, batch(3, 1_000, None)).0, 0);
    }
    for (version, offset) in [(0, 4), (1, 2), (2, 7)] {
        let expected = offset.max(if version == 1 { 4 } else { 0 });
        assert_eq!(delete_records(&mut stream, version, "trim", &[(0, offset)]), [(0, expected)], "v{version}");
    }
    assert_eq!(earliest(&mut stream, "trim"), 7);
    assert_eq!(fetch_error(&mut stream, 12, "trim", 0, 6), OFFSET_OUT_OF_RANGE);
    assert_eq!(fetch_error(&mut stream, 12, "trim", 0, 7), 0);
    assert_eq!(
        delete_records(&mut stream, 2, "trim", &[(0, 31), (5, 1)]),
        [(OFFSET_OUT_OF_RANGE, -1), (UNKNOWN_TOPIC_OR_PARTITION, -1)]
    );
    assert_eq!(delete_records(&mut stream, 2, "nowhere", &[(0, 1)]), [(UNKNOWN_TOPIC_OR_PARTITION, -1)]);

    // Acknowledged means durable: a SIGKILL right after keeps the start inside the segment.
    broker.kill();
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(earliest(&mut stream, "trim"), 7);
    assert_eq!(delete_records(&mut stream, 2, "trim", &[(0, -1)]), [(0, 30)], "-1 is the high watermark");
    assert_eq!(earliest(&mut stream, "trim"), 30);
    assert_eq!(produce_one(&mut stream, "trim", -1, batch(1, 2_000, None)).0, 0);
    assert_eq!(fetch_error(&mut stream, 12, "trim", 0, 30), 0);

    // A topic deleted and made again under the same name does not inherit the old log start.
    let delete = kafka_protocol::messages::DeleteTopicsRequest::default()
        .with_topic_names(vec![name("trim")])
        .with_timeout_ms(5_000);
    let deleted: kafka_protocol::messages::DeleteTopicsResponse = call(&mut stream, ApiKey::DeleteTopics, 4, &delete);
    assert_eq!(deleted.responses[0].error_code, 0);
    assert_eq!(create_topic(&mut stream, "trim", 1, &[]).0, 0);
    assert_eq!(produce_one(&mut stream, "trim", -1, batch(3, 1_000, None)).0, 0);
    assert!(broker.terminate());
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(earliest(&mut stream, "trim"), 0);
    assert!(broker.terminate());
}

#[test]
fn the_periodic_flush_moves_the_recovery_point_past_acks_1_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("server.properties");
    std::fs::write(&config, "log.flush.offset.checkpoint.interval.ms=50\n").expect("write config");
    let broker = BrokerProcess::start_with(dir.path(), "127.0.0.1:0", &["--config", config.to_str().expect("path")]);
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "quick", 1, &[]).0, 0);
    for _ in 0..5 {
        // acks=1: acknowledged from the page cache, fsynced only by the periodic flush.
        assert_eq!(produce_one(&mut stream, "quick", 1, batch(3, 1_000, None)).0, 0);
    }
    let points = dir.path().join("recovery-point-offset-checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&points).is_ok_and(|text| text.lines().any(|l| l == "quick 0 15")) {
        assert!(std::time::Instant::now() < deadline, "{:?}", std::fs::read_to_string(&points));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn describe_log_dirs_reports_partition_sizes_and_the_disk_at_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "sized", 1, &[]).0, 0);
    assert_eq!(produce_one(&mut stream, "sized", -1, batch(10, 1_000, None)).0, 0);
    for version in 1..=4 {
        let response: DescribeLogDirsResponse =
            call(&mut stream, ApiKey::DescribeLogDirs, version, &DescribeLogDirsRequest::default().with_topics(None));
        assert_eq!(response.results.len(), 1);
        let result = &response.results[0];
        assert_eq!(result.error_code, 0);
        assert!(result.log_dir.as_str().starts_with('/'), "an absolute path: {}", result.log_dir.as_str());
        let topic = result.topics.iter().find(|t| t.name.as_str() == "sized").expect("the topic is listed");
        assert!(topic.partitions[0].partition_size > 0);
        if version >= 4 {
            assert!(result.total_bytes > 0 && result.usable_bytes > 0 && result.usable_bytes <= result.total_bytes);
        }
    }
}

#[test]
fn config_changes_refuse_bad_requests_with_kafkas_codes_at_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "conf", 1, &[]).0, 0);
    let op = |key: &str, operation: i8, value: Option<&str>| {
        AlterableConfig::default().with_name(text(key)).with_config_operation(operation).with_value(value.map(text))
    };
    let incremental = |stream: &mut TcpStream, version: i16, kind: i8, resource: &str, ops: Vec<AlterableConfig>| {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(text(resource))
                .with_configs(ops),
        ]);
        let response: IncrementalAlterConfigsResponse =
            call(stream, ApiKey::IncrementalAlterConfigs, version, &request);
        response.responses[0].error_code
    };
    for version in 0..=1 {
        let s = &mut stream;
        assert_eq!(incremental(s, version, 2, "conf", vec![op("retention.ms", 0, Some("1000"))]), 0);
        let duplicate = vec![op("retention.ms", 0, Some("1")), op("retention.ms", 1, None)];
        assert_eq!(incremental(s, version, 2, "conf", duplicate), INVALID_REQUEST);
        assert_eq!(incremental(s, version, 2, "conf", vec![op("retention.ms", 2, Some("5"))]), INVALID_CONFIG);
        assert_eq!(incremental(s, version, 2, "conf", vec![op("retention.ms", 0, Some("x"))]), INVALID_CONFIG);
        assert_eq!(
            incremental(s, version, 2, "gone", vec![op("retention.ms", 0, Some("1"))]),
            UNKNOWN_TOPIC_OR_PARTITION
        );
        // The cluster-wide default (resource "") and this broker ("1") take dynamic log configs.
        assert_eq!(incremental(s, version, 4, "", vec![op("log.roll.ms", 0, Some("3600000"))]), 0);
        assert_eq!(incremental(s, version, 4, "1", vec![op("num.partitions", 0, Some("3"))]), INVALID_REQUEST);
        assert_eq!(incremental(s, version, 4, "7", vec![op("log.roll.ms", 0, Some("1"))]), INVALID_REQUEST);
        assert_eq!(incremental(s, version, 8, "x", vec![op("a", 0, Some("1"))]), INVALID_REQUEST, "BROKER_LOGGER");
    }
    for version in 0..=2 {
        use kafka_protocol::messages::alter_configs_request as legacy;
        let request = AlterConfigsRequest::default().with_resources(vec![
            legacy::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(text("conf"))
                .with_configs(vec![
                    legacy::AlterableConfig::default().with_name(text("segment.bytes")).with_value(Some(text("9000"))),
                ]),
        ]);
        let response: AlterConfigsResponse = call(&mut stream, ApiKey::AlterConfigs, version, &request);
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
    }
}

#[test]
fn replica_management_apis_answer_as_a_one_replica_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "solo", 1, &[]).0, 0);
    for version in 0..=2 {
        let request = ElectLeadersRequest::default().with_topic_partitions(Some(vec![
            TopicPartitions::default().with_topic(name("solo")).with_partitions(vec![0, 9]),
        ]));
        let response: ElectLeadersResponse = call(&mut stream, ApiKey::ElectLeaders, version, &request);
        let codes: Vec<i16> =
            response.replica_election_results[0].partition_result.iter().map(|p| p.error_code).collect();
        assert_eq!(codes, [84, UNKNOWN_TOPIC_OR_PARTITION], "ELECTION_NOT_NEEDED, v{version}");
        let all: ElectLeadersResponse = call(
            &mut stream,
            ApiKey::ElectLeaders,
            version,
            &ElectLeadersRequest::default().with_topic_partitions(None),
        );
        assert!(all.replica_election_results.is_empty());
    }
    let reassign = |replicas: Option<Vec<i32>>| {
        ReassignableTopic::default().with_name(name("solo")).with_partitions(vec![
            ReassignablePartition::default()
                .with_partition_index(0)
                .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect())),
        ])
    };
    let request = AlterPartitionReassignmentsRequest::default().with_topics(vec![
        reassign(Some(vec![1])),
        reassign(Some(vec![1, 2])),
        reassign(None),
    ]);
    let response: AlterPartitionReassignmentsResponse =
        call(&mut stream, ApiKey::AlterPartitionReassignments, 0, &request);
    let codes: Vec<i16> = response.responses.iter().map(|t| t.partitions[0].error_code).collect();
    assert_eq!(codes, [0, 39, 85], "none, INVALID_REPLICA_ASSIGNMENT, NO_REASSIGNMENT_IN_PROGRESS");
    let listed: ListPartitionReassignmentsResponse =
        call(&mut stream, ApiKey::ListPartitionReassignments, 0, &ListPartitionReassignmentsRequest::default());
    assert_eq!((listed.error_code, listed.topics.len()), (0, 0));

    let log_dir = std::path::absolute(dir.path()).expect("absolute").display().to_string();
    for version in 1..=2 {
        let request = AlterReplicaLogDirsRequest::default().with_dirs(vec![
            AlterReplicaLogDir::default()
                .with_path(text(&log_dir))
                .with_topics(vec![AlterReplicaLogDirTopic::default().with_name(name("solo")).with_partitions(vec![0])]),
            AlterReplicaLogDir::default()
                .with_path(text("/elsewhere"))
                .with_topics(vec![AlterReplicaLogDirTopic::default().with_name(name("solo")).with_partitions(vec![0])]),
        ]);
        let response: AlterReplicaLogDirsResponse = call(&mut stream, ApiKey::AlterReplicaLogDirs, version, &request);
        let codes: Vec<i16> = response.results.iter().map(|t| t.partitions[0].error_code).collect();
        assert_eq!(codes, [0, 57], "LOG_DIR_NOT_FOUND elsewhere, v{version}");
    }
}

#[test]
fn fetch_of_a_missing_partition_is_unknown_topic_or_partition_by_name_or_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "one", 1, &[]).0, 0);
    assert_eq!(fetch_error(&mut stream, 12, "one", 3, 0), UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(fetch_error(&mut stream, 13, "one", 3, 0), UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(fetch_error(&mut stream, 13, "one", 0, 0), 0);
}

#[test]
fn describe_topic_partitions_pages_through_topics_with_a_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    for (topic, partitions) in [("beta", 2), ("alpha", 3)] {
        let request = kafka_protocol::messages::CreateTopicsRequest::default().with_topics(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
        let response: kafka_protocol::messages::CreateTopicsResponse =
            call(&mut stream, ApiKey::CreateTopics, 7, &request);
        assert_eq!(response.topics[0].error_code, 0);
    }
    let describe = |stream: &mut TcpStream, topics: &[&str], limit: i32, cursor: Option<(&str, i32)>| {
        let request = DescribeTopicPartitionsRequest::default()
            .with_topics(topics.iter().map(|t| TopicRequest::default().with_name(name(t))).collect())
            .with_response_partition_limit(limit)
            .with_cursor(cursor.map(|(t, p)| Cursor::default().with_topic_name(name(t)).with_partition_index(p)));
        let response: DescribeTopicPartitionsResponse = call(stream, ApiKey::DescribeTopicPartitions, 0, &request);
        let listed: Vec<(String, i16, Vec<i32>)> = response
            .topics
            .iter()
            .map(|t| {
                let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
                (t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(), t.error_code, partitions)
            })
            .collect();
        let next = response.next_cursor.map(|c| (c.topic_name.to_string(), c.partition_index));
        (listed, next)
    };
    // Every topic, 5 partitions per answer: the console's history topic (one partition, sorted
    // first), alpha's three, and beta's first.
    let (listed, next) = describe(&mut stream, &[], 5, None);
    assert_eq!(listed[0].0, "__runnel_console");
    assert_eq!(
        listed.iter().filter(|(t, _, _)| !t.starts_with("__")).cloned().collect::<Vec<_>>(),
        [("alpha".to_string(), 0, vec![0, 1, 2]), ("beta".to_string(), 0, vec![0])]
    );
    assert_eq!(next, Some(("beta".to_string(), 1)));
    let (listed, next) = describe(&mut stream, &["beta", "alpha"], 4, Some(("beta", 1)));
    assert_eq!(listed, [("beta".to_string(), 0, vec![1])]);
    assert_eq!(next, None);
    let (listed, _) = describe(&mut stream, &["nowhere"], 10, None);
    assert_eq!(listed, [("nowhere".to_string(), UNKNOWN_TOPIC_OR_PARTITION, vec![])]);
}
