//! The ACL matrix: for every API that touches a resource, a request from a principal with no
//! ACL gets Kafka's authorization error, and the same request after the ACL it needs is granted
//! gets past the authorizer. Each case has a principal, topic, group and transactional id of
//! its own, so no grant of one case helps another. Requests go through the broker's router as
//! a connection's would.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel_broker::api::{self, Reply};
use runnel_broker::connection::Session;
use runnel_broker::fetch_response::FramePart;
use runnel_broker::security::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use runnel_broker::{Broker, BrokerConfig};

const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_DENIED: i16 = 53;

struct Matrix {
    _dir: tempfile::TempDir,
    broker: Arc<Broker>,
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

impl Matrix {
    fn new() -> Matrix {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            allow_everyone_if_no_acl: Some(false),
            super_users: vec!["User:admin".into()],
            ..BrokerConfig::default()
        };
        let broker = Broker::open(config, "127.0.0.1:9092".parse().expect("addr")).expect("open broker");
        Matrix { _dir: dir, broker }
    }

    /// A topic of one partition with a few records, for case `case`.
    fn topic(&self, case: &str) -> String {
        let name = format!("t-{case}");
        let topic = self.broker.topics.create(&name, 1, BTreeMap::new()).expect("create topic");
        topic.partitions[0].append(&runnel_log::testing::batch(3, 1_000, None), 1_000).expect("append");
        name
    }

    fn grant(&self, principal: &str, resource_type: ResourceType, name: &str, operation: Operation) {
        let binding = AclBinding {
            resource_type,
            name: name.to_string(),
            pattern: PatternType::Literal,
            principal: principal.to_string(),
            host: "*".to_string(),
            operation,
            permission: Permission::Allow,
        };
        self.broker.authorizer.acls.update(|acls| acls.push(binding)).expect("save ACL");
    }

    /// Sends `request` as `principal` and decodes the answer.
    async fn call<Req: Encodable, Resp: Decodable>(
        &self,
        principal: &str,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> Resp {
        let mut frame = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(s("matrix")))
            .encode(&mut frame, api.request_header_version(version))
            .expect("encode header");
        request.encode(&mut frame, version).expect("encode request");
        let session = Session { listener: self.broker.listeners[0].clone(), principal: Arc::from(principal) };
        let peer = "127.0.0.1:40000".parse().expect("addr");
        let (_, reply) = api::dispatch(&self.broker, &session, peer, frame.freeze()).expect("dispatch");
        let parts = match reply {
            Reply::Ready(frame) => frame,
            Reply::Later(future) | Reply::Wait(future) => future.await,
            Reply::Silent => panic!("{api:?} answered nothing"),
        }
        .expect("encode the answer");
        let mut bytes = BytesMut::new();
        for part in parts {
            match part {
                FramePart::Bytes(b) => bytes.extend_from_slice(&b),
                FramePart::File(slice) => {
                    use std::os::unix::fs::FileExt;
                    let mut data = vec![0u8; slice.len];
                    slice.file.read_exact_at(&mut data, slice.position).expect("read the fetched range");
                    bytes.extend_from_slice(&data);
                }
            }
        }
        let mut body: Bytes = bytes.freeze().slice(4..);
        ResponseHeader::decode(&mut body, api.response_header_version(version)).expect("decode header");
        Resp::decode(&mut body, version).expect("decode answer")
    }
}

/// Runs `ask` as a fresh principal: without ACLs it must answer `denied`; after `grant` it
/// must answer something else.
async fn case<F, Fut>(m: &Matrix, name: &str, denied: i16, grants: &[(ResourceType, &str, Operation)], ask: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = i16>,
{
    let principal = format!("User:{name}");
    let before = ask(principal.clone()).await;
    assert_eq!(before, denied, "{name}: without an ACL expected error {denied}, got {before}");
    for (resource_type, resource, operation) in grants {
        m.grant(&principal, *resource_type, resource, *operation);
    }
    let after = ask(principal.clone()).await;
    assert!(
        ![TOPIC_DENIED, GROUP_DENIED, CLUSTER_DENIED, TXN_DENIED].contains(&after),
        "{name}: with its ACLs still refused ({after})"
    );
    // A super user needs no ACL.
    let admin = ask("User:admin".into()).await;
    assert!(
        ![TOPIC_DENIED, GROUP_DENIED, CLUSTER_DENIED, TXN_DENIED].contains(&admin),
        "{name}: admin refused ({admin})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_refuses_without_its_acl_and_serves_with_it() {
    use Operation::*;
    use ResourceType::{Cluster, Group, Topic};
    const TXN: ResourceType = ResourceType::TransactionalId;
    let m = Matrix::new();
    let cluster = "kafka-cluster";

    let t = m.topic("produce");
    case(&m, "produce", TOPIC_DENIED, &[(Topic, &t, Write)], |p| {
        let request = ProduceRequest::default().with_acks(1).with_timeout_ms(1000).with_topic_data(vec![
            produce_request::TopicProduceData::default().with_name(TopicName(s(&t))).with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(runnel_log::testing::batch(1, 1_000, None))),
            ]),
        ]);
        let m = &m;
        async move {
            let r: ProduceResponse = m.call(&p, ApiKey::Produce, 9, &request).await;
            r.responses[0].partition_responses[0].error_code
        }
    })
    .await;

    let t = m.topic("fetch");
    case(&m, "fetch", TOPIC_DENIED, &[(Topic, &t, Read)], |p| {
        let request = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
            fetch_request::FetchTopic::default().with_topic(TopicName(s(&t))).with_partitions(vec![
                fetch_request::FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
            ]),
        ]);
        let m = &m;
        async move {
            let r: FetchResponse = m.call(&p, ApiKey::Fetch, 12, &request).await;
            r.responses[0].partitions[0].error_code
        }
    })
    .await;

    let t = m.topic("list-offsets");
    case(&m, "list-offsets", TOPIC_DENIED, &[(Topic, &t, Describe)], |p| {
        let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default().with_name(TopicName(s(&t))).with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
            ]),
        ]);
        let m = &m;
        async move {
            let r: ListOffsetsResponse = m.call(&p, ApiKey::ListOffsets, 7, &request).await;
            r.topics[0].partitions[0].error_code
        }
    })
    .await;

    let t = m.topic("metadata");
    case(&m, "metadata", TOPIC_DENIED, &[(Topic, &t, Describe)], |p| {
        let request = MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(&t)))),
        ]));
        let m = &m;
        async move {
            let r: MetadataResponse = m.call(&p, ApiKey::Metadata, 12, &request).await;
            r.topics[0].error_code
        }
    })
    .await;

    case(&m, "create-topics", TOPIC_DENIED, &[(Cluster, cluster, Create)], |p| {
        let name = format!("new-{}", p.len());
        let request = CreateTopicsRequest::default().with_timeout_ms(1000).with_validate_only(true).with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(TopicName(s(&name)))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]);
        let m = &m;
        async move {
            let r: CreateTopicsResponse = m.call(&p, ApiKey::CreateTopics, 7, &request).await;
            r.topics[0].error_code
        }
    })
    .await;

    let t = m.topic("create-partitions");
    case(&m, "create-partitions", TOPIC_DENIED, &[(Topic, &t, Alter)], |p| {
        let request =
            CreatePartitionsRequest::default().with_timeout_ms(1000).with_validate_only(true).with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default().with_name(TopicName(s(&t))).with_count(2),
            ]);
        let m = &m;
        async move {
            let r: CreatePartitionsResponse = m.call(&p, ApiKey::CreatePartitions, 3, &request).await;
            r.results[0].error_code
        }
    })
    .await;

    let t = m.topic("delete-records");
    case(&m, "delete-records", TOPIC_DENIED, &[(Topic, &t, Delete)], |p| {
        let request = DeleteRecordsRequest::default().with_timeout_ms(1000).with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default().with_name(TopicName(s(&t))).with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default().with_partition_index(0).with_offset(0),
            ]),
        ]);
        let m = &m;
        async move {
            let r: DeleteRecordsResponse = m.call(&p, ApiKey::DeleteRecords, 2, &request).await;
            r.topics[0].partitions[0].error_code
        }
    })
    .await;

    let t = m.topic("describe-configs");
    case(&m, "describe-configs", TOPIC_DENIED, &[(Topic, &t, DescribeConfigs)], |p| {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(&t)),
        ]);
        let m = &m;
        async move {
            let r: DescribeConfigsResponse = m.call(&p, ApiKey::DescribeConfigs, 4, &request).await;
            r.results[0].error_code
        }
    })
    .await;

    case(&m, "describe-broker-configs", CLUSTER_DENIED, &[(Cluster, cluster, DescribeConfigs)], |p| {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("1")),
        ]);
        let m = &m;
        async move {
            let r: DescribeConfigsResponse = m.call(&p, ApiKey::DescribeConfigs, 4, &request).await;
            r.results[0].error_code
        }
    })
    .await;

    let t = m.topic("alter-configs");
    case(&m, "alter-configs", TOPIC_DENIED, &[(Topic, &t, AlterConfigs)], |p| {
        let request = IncrementalAlterConfigsRequest::default().with_validate_only(true).with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(&t))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("60000"))),
                ]),
        ]);
        let m = &m;
        async move {
            let r: IncrementalAlterConfigsResponse = m.call(&p, ApiKey::IncrementalAlterConfigs, 1, &request).await;
            r.responses[0].error_code
        }
    })
    .await;

    case(&m, "find-coordinator", GROUP_DENIED, &[(Group, "g-find-coordinator", Describe)], |p| {
        let request =
            FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![s("g-find-coordinator")]);
        let m = &m;
        async move {
            let r: FindCoordinatorResponse = m.call(&p, ApiKey::FindCoordinator, 4, &request).await;
            r.coordinators[0].error_code
        }
    })
    .await;

    case(&m, "join-group", GROUP_DENIED, &[(Group, "g-join", Read)], |p| {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s("g-join")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default().with_name(s("range"))]);
        let m = &m;
        async move {
            let r: JoinGroupResponse = m.call(&p, ApiKey::JoinGroup, 9, &request).await;
            r.error_code
        }
    })
    .await;

    for (name, api) in
        [("sync-group", ApiKey::SyncGroup), ("heartbeat", ApiKey::Heartbeat), ("leave-group", ApiKey::LeaveGroup)]
    {
        let group = format!("g-{name}");
        case(&m, name, GROUP_DENIED, &[(Group, &group, Read)], |p| {
            let group = group.clone();
            let m = &m;
            async move {
                let id = GroupId(s(&group));
                match api {
                    ApiKey::SyncGroup => {
                        let request = SyncGroupRequest::default().with_group_id(id).with_member_id(s("m"));
                        let r: SyncGroupResponse = m.call(&p, api, 5, &request).await;
                        r.error_code
                    }
                    ApiKey::Heartbeat => {
                        let request = HeartbeatRequest::default().with_group_id(id).with_member_id(s("m"));
                        let r: HeartbeatResponse = m.call(&p, api, 4, &request).await;
                        r.error_code
                    }
                    _ => {
                        let request = LeaveGroupRequest::default()
                            .with_group_id(id)
                            .with_members(vec![leave_group_request::MemberIdentity::default().with_member_id(s("m"))]);
                        let r: LeaveGroupResponse = m.call(&p, api, 5, &request).await;
                        r.error_code
                    }
                }
            }
        })
        .await;
    }

    // KIP-848: Read on the group, Describe on each topic subscribed by name.
    let t = m.topic("cg-heartbeat");
    case(&m, "cg-heartbeat", GROUP_DENIED, &[(Group, "g-cg-heartbeat", Read), (Topic, &t, Describe)], |p| {
        let request = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(s("g-cg-heartbeat")))
            .with_member_id(s(&format!("member-{p}")))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s(&t))]))
            .with_topic_partitions(Some(vec![]));
        let m = &m;
        async move {
            let r: ConsumerGroupHeartbeatResponse = m.call(&p, ApiKey::ConsumerGroupHeartbeat, 1, &request).await;
            r.error_code
        }
    })
    .await;
    case(&m, "cg-describe", GROUP_DENIED, &[(Group, "g-cg-heartbeat", Describe)], |p| {
        let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("g-cg-heartbeat"))]);
        let m = &m;
        async move {
            let r: ConsumerGroupDescribeResponse = m.call(&p, ApiKey::ConsumerGroupDescribe, 1, &request).await;
            r.groups[0].error_code
        }
    })
    .await;

    let t = m.topic("offset-commit");
    case(&m, "offset-commit", GROUP_DENIED, &[(Group, "g-commit", Read), (Topic, &t, Read)], |p| {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g-commit")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default().with_name(TopicName(s(&t))).with_partitions(
                    vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ],
                ),
            ]);
        let m = &m;
        async move {
            let r: OffsetCommitResponse = m.call(&p, ApiKey::OffsetCommit, 8, &request).await;
            r.topics[0].partitions[0].error_code
        }
    })
    .await;

    let t = m.topic("offset-commit-topic");
    m.grant("User:offset-commit-topic", Group, "g-commit-topic", Read);
    case(&m, "offset-commit-topic", TOPIC_DENIED, &[(Topic, &t, Read)], |p| {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("g-commit-topic")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default().with_name(TopicName(s(&t))).with_partitions(
                    vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ],
                ),
            ]);
        let m = &m;
        async move {
            let r: OffsetCommitResponse = m.call(&p, ApiKey::OffsetCommit, 8, &request).await;
            r.topics[0].partitions[0].error_code
        }
    })
    .await;

    case(&m, "offset-fetch", GROUP_DENIED, &[(Group, "g-fetch", Describe)], |p| {
        let request = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default().with_group_id(GroupId(s("g-fetch"))),
        ]);
        let m = &m;
        async move {
            let r: OffsetFetchResponse = m.call(&p, ApiKey::OffsetFetch, 8, &request).await;
            r.groups[0].error_code
        }
    })
    .await;

    case(&m, "describe-groups", GROUP_DENIED, &[(Group, "g-describe", Describe)], |p| {
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g-describe"))]);
        let m = &m;
        async move {
            let r: DescribeGroupsResponse = m.call(&p, ApiKey::DescribeGroups, 5, &request).await;
            r.groups[0].error_code
        }
    })
    .await;

    case(&m, "delete-groups", GROUP_DENIED, &[(Group, "g-delete", Delete)], |p| {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g-delete"))]);
        let m = &m;
        async move {
            let r: DeleteGroupsResponse = m.call(&p, ApiKey::DeleteGroups, 2, &request).await;
            r.results[0].error_code
        }
    })
    .await;

    case(&m, "offset-delete", GROUP_DENIED, &[(Group, "g-offset-delete", Delete)], |p| {
        let request = OffsetDeleteRequest::default().with_group_id(GroupId(s("g-offset-delete")));
        let m = &m;
        async move {
            let r: OffsetDeleteResponse = m.call(&p, ApiKey::OffsetDelete, 0, &request).await;
            r.error_code
        }
    })
    .await;

    case(&m, "init-producer-id", TXN_DENIED, &[(TXN, "tx-init", Write)], |p| {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(kafka_protocol::messages::TransactionalId(s("tx-init"))))
            .with_transaction_timeout_ms(10_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let m = &m;
        async move {
            let r: InitProducerIdResponse = m.call(&p, ApiKey::InitProducerId, 4, &request).await;
            r.error_code
        }
    })
    .await;

    case(&m, "idempotent-producer", CLUSTER_DENIED, &[(Cluster, cluster, IdempotentWrite)], |p| {
        let request = InitProducerIdRequest::default()
            .with_transaction_timeout_ms(-1)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let m = &m;
        async move {
            let r: InitProducerIdResponse = m.call(&p, ApiKey::InitProducerId, 4, &request).await;
            r.error_code
        }
    })
    .await;

    let t = m.topic("add-partitions");
    case(&m, "add-partitions", TXN_DENIED, &[(TXN, "tx-add", Write), (Topic, &t, Write)], |p| {
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(kafka_protocol::messages::TransactionalId(s("tx-add")))
            .with_v3_and_below_producer_id(ProducerId(1))
            .with_v3_and_below_producer_epoch(0)
            .with_v3_and_below_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(&t)))
                    .with_partitions(vec![0]),
            ]);
        let m = &m;
        async move {
            let r: AddPartitionsToTxnResponse = m.call(&p, ApiKey::AddPartitionsToTxn, 3, &request).await;
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
        }
    })
    .await;

    case(&m, "add-offsets", TXN_DENIED, &[(TXN, "tx-offsets", Write), (Group, "g-tx", Read)], |p| {
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(kafka_protocol::messages::TransactionalId(s("tx-offsets")))
            .with_producer_id(ProducerId(1))
            .with_group_id(GroupId(s("g-tx")));
        let m = &m;
        async move {
            let r: AddOffsetsToTxnResponse = m.call(&p, ApiKey::AddOffsetsToTxn, 3, &request).await;
            r.error_code
        }
    })
    .await;

    let t = m.topic("txn-offset-commit");
    case(
        &m,
        "txn-offset-commit",
        TXN_DENIED,
        &[(TXN, "tx-commit", Write), (Group, "g-tx-commit", Read), (Topic, &t, Read)],
        |p| {
            let request = TxnOffsetCommitRequest::default()
                .with_transactional_id(kafka_protocol::messages::TransactionalId(s("tx-commit")))
                .with_group_id(GroupId(s("g-tx-commit")))
                .with_producer_id(ProducerId(1))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s(&t)))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1),
                        ]),
                ]);
            let m = &m;
            async move {
                let r: TxnOffsetCommitResponse = m.call(&p, ApiKey::TxnOffsetCommit, 3, &request).await;
                r.topics[0].partitions[0].error_code
            }
        },
    )
    .await;

    case(&m, "end-txn", TXN_DENIED, &[(TXN, "tx-end", Write)], |p| {
        let request = EndTxnRequest::default()
            .with_transactional_id(kafka_protocol::messages::TransactionalId(s("tx-end")))
            .with_producer_id(ProducerId(1))
            .with_committed(true);
        let m = &m;
        async move {
            let r: EndTxnResponse = m.call(&p, ApiKey::EndTxn, 3, &request).await;
            r.error_code
        }
    })
    .await;

    case(&m, "describe-transactions", TXN_DENIED, &[(TXN, "tx-describe", Describe)], |p| {
        let request = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![kafka_protocol::messages::TransactionalId(s("tx-describe"))]);
        let m = &m;
        async move {
            let r: DescribeTransactionsResponse = m.call(&p, ApiKey::DescribeTransactions, 0, &request).await;
            r.transaction_states[0].error_code
        }
    })
    .await;

    let t = m.topic("describe-producers");
    case(&m, "describe-producers", TOPIC_DENIED, &[(Topic, &t, Read)], |p| {
        let request = DescribeProducersRequest::default().with_topics(vec![
            describe_producers_request::TopicRequest::default()
                .with_name(TopicName(s(&t)))
                .with_partition_indexes(vec![0]),
        ]);
        let m = &m;
        async move {
            let r: DescribeProducersResponse = m.call(&p, ApiKey::DescribeProducers, 0, &request).await;
            r.topics[0].partitions[0].error_code
        }
    })
    .await;

    let t = m.topic("leader-epoch");
    case(&m, "leader-epoch", TOPIC_DENIED, &[(Topic, &t, Describe)], |p| {
        let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(TopicName(s(&t)))
                .with_partitions(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_leader_epoch(0),
                ]),
        ]);
        let m = &m;
        async move {
            let r: OffsetForLeaderEpochResponse = m.call(&p, ApiKey::OffsetForLeaderEpoch, 4, &request).await;
            r.topics[0].partitions[0].error_code
        }
    })
    .await;

    case(&m, "describe-log-dirs", CLUSTER_DENIED, &[(Cluster, cluster, Describe)], |p| {
        let m = &m;
        async move {
            let r: DescribeLogDirsResponse =
                m.call(&p, ApiKey::DescribeLogDirs, 4, &DescribeLogDirsRequest::default()).await;
            r.error_code
        }
    })
    .await;

    case(&m, "describe-scram", CLUSTER_DENIED, &[(Cluster, cluster, Describe)], |p| {
        let m = &m;
        async move {
            let r: DescribeUserScramCredentialsResponse = m
                .call(&p, ApiKey::DescribeUserScramCredentials, 0, &DescribeUserScramCredentialsRequest::default())
                .await;
            r.error_code
        }
    })
    .await;

    case(&m, "describe-acls", CLUSTER_DENIED, &[(Cluster, cluster, Describe)], |p| {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        let m = &m;
        async move {
            let r: DescribeAclsResponse = m.call(&p, ApiKey::DescribeAcls, 3, &request).await;
            r.error_code
        }
    })
    .await;

    case(&m, "create-acls", CLUSTER_DENIED, &[(Cluster, cluster, Alter)], |p| {
        let request = CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(s("x"))
                .with_resource_pattern_type(3)
                .with_principal(s("User:x"))
                .with_host(s("*"))
                .with_operation(3)
                .with_permission_type(3),
        ]);
        let m = &m;
        async move {
            let r: CreateAclsResponse = m.call(&p, ApiKey::CreateAcls, 3, &request).await;
            r.results[0].error_code
        }
    })
    .await;

    case(&m, "delete-acls", CLUSTER_DENIED, &[(Cluster, cluster, Alter)], |p| {
        let request = DeleteAclsRequest::default().with_filters(vec![
            delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(2)
                .with_resource_name_filter(Some(s("nothing-here")))
                .with_pattern_type_filter(3)
                .with_operation(1)
                .with_permission_type(1),
        ]);
        let m = &m;
        async move {
            let r: DeleteAclsResponse = m.call(&p, ApiKey::DeleteAcls, 3, &request).await;
            r.filter_results[0].error_code
        }
    })
    .await;

    case(&m, "alter-scram", CLUSTER_DENIED, &[(Cluster, cluster, Alter)], |p| {
        let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![
            alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                .with_name(s("nobody"))
                .with_mechanism(2),
        ]);
        let m = &m;
        async move {
            let r: AlterUserScramCredentialsResponse = m.call(&p, ApiKey::AlterUserScramCredentials, 0, &request).await;
            r.results[0].error_code
        }
    })
    .await;

    case(&m, "elect-leaders", CLUSTER_DENIED, &[(Cluster, cluster, Alter)], |p| {
        let m = &m;
        async move {
            let r: ElectLeadersResponse = m.call(&p, ApiKey::ElectLeaders, 2, &ElectLeadersRequest::default()).await;
            r.error_code
        }
    })
    .await;

    case(&m, "list-reassignments", CLUSTER_DENIED, &[(Cluster, cluster, Describe)], |p| {
        let m = &m;
        async move {
            let r: ListPartitionReassignmentsResponse =
                m.call(&p, ApiKey::ListPartitionReassignments, 0, &ListPartitionReassignmentsRequest::default()).await;
            r.error_code
        }
    })
    .await;

    let t = m.topic("describe-topic-partitions");
    case(&m, "describe-topic-partitions", TOPIC_DENIED, &[(Topic, &t, Describe)], |p| {
        let request = DescribeTopicPartitionsRequest::default()
            .with_response_partition_limit(100)
            .with_topics(vec![describe_topic_partitions_request::TopicRequest::default().with_name(TopicName(s(&t)))]);
        let m = &m;
        async move {
            let r: DescribeTopicPartitionsResponse = m.call(&p, ApiKey::DescribeTopicPartitions, 0, &request).await;
            r.topics[0].error_code
        }
    })
    .await;

    // Topics the principal may not describe are left out of a listing, not refused.
    let hidden = m.topic("hidden");
    let r: MetadataResponse =
        m.call("User:nobody", ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None)).await;
    assert!(r.topics.is_empty(), "a principal without ACLs sees no topic: {:?}", r.topics.len());
    m.grant("User:nobody", Topic, &hidden, Describe);
    let r: MetadataResponse =
        m.call("User:nobody", ApiKey::Metadata, 12, &MetadataRequest::default().with_topics(None)).await;
    let names: Vec<String> = r.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect();
    assert_eq!(names, vec![hidden.clone()]);
    assert_eq!(ResponseError::TopicAuthorizationFailed.code(), TOPIC_DENIED);

    // Authorized operations (KIP-430) are the principal's own: Describe alone here.
    let asked = MetadataRequest::default()
        .with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(&hidden)))),
        ]))
        .with_include_topic_authorized_operations(true);
    let r: MetadataResponse = m.call("User:nobody", ApiKey::Metadata, 12, &asked).await;
    assert_eq!(r.topics[0].topic_authorized_operations, 1 << Describe.code());
    let r: MetadataResponse = m.call("User:admin", ApiKey::Metadata, 12, &asked).await;
    assert_eq!(r.topics[0].topic_authorized_operations.count_ones(), 8, "a super user may do all 8 topic operations");

    // ListGroups shows a principal only the groups it may describe.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("g-listed")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(&hidden)))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let r: OffsetCommitResponse = m.call("User:admin", ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let listed = |p: &'static str| {
        let m = &m;
        async move {
            let r: ListGroupsResponse = m.call(p, ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await;
            r.groups.iter().map(|g| g.group_id.to_string()).collect::<Vec<_>>()
        }
    };
    assert!(listed("User:nobody").await.is_empty());
    assert!(listed("User:admin").await.contains(&"g-listed".to_string()));
    m.grant("User:nobody", Group, "g-listed", Describe);
    assert_eq!(listed("User:nobody").await, vec!["g-listed".to_string()]);
}
