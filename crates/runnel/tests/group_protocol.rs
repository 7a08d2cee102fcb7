//! The group APIs on a raw socket: every served version of each answers in a form its
//! decoder reads, and refusals carry Kafka's error codes.

mod broker_process;
mod raw_client;

use broker_process::BrokerProcess;
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use raw_client::{call, connect, create_topic};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn group(s: &str) -> GroupId {
    GroupId(text(s))
}

fn join_request(group_id: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group(group_id))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(text(member_id))
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(text("range")).with_metadata(Bytes::from_static(b"sub")),
        ])
}

#[test]
fn every_served_version_of_every_group_api_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);

    for v in 0..=6 {
        let request = if v >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![text("g")])
        } else {
            FindCoordinatorRequest::default().with_key(text("g"))
        };
        let response: FindCoordinatorResponse = call(&mut stream, ApiKey::FindCoordinator, v, &request);
        let port = if v >= 4 { response.coordinators[0].port } else { response.port };
        assert_eq!(port, broker.addr.port() as i32, "FindCoordinator v{v}");
    }
    for v in 0..=9 {
        let g = format!("join-v{v}");
        let mut response: JoinGroupResponse = call(&mut stream, ApiKey::JoinGroup, v, &join_request(&g, ""));
        let member = response.member_id.to_string();
        if v >= 4 {
            assert_eq!(response.error_code, ResponseError::MemberIdRequired.code(), "JoinGroup v{v}");
            response = call(&mut stream, ApiKey::JoinGroup, v, &join_request(&g, &member));
        }
        assert_eq!((response.error_code, response.generation_id), (0, 1), "JoinGroup v{v}");
        assert_eq!(response.member_id.as_str(), member, "JoinGroup v{v}");
        assert_eq!(response.leader.as_str(), member, "the only member leads");
        assert_eq!(response.members.len(), 1, "the leader gets the member list");
        let sync_version = [0, 1, 2, 3, 3, 4, 5, 5, 5, 5][v as usize];
        let sync = SyncGroupRequest::default()
            .with_group_id(group(&g))
            .with_generation_id(1)
            .with_member_id(text(&member))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(text(&member))
                    .with_assignment(Bytes::from_static(b"all")),
            ]);
        let synced: SyncGroupResponse = call(&mut stream, ApiKey::SyncGroup, sync_version, &sync);
        assert_eq!(
            (synced.error_code, synced.assignment),
            (0, Bytes::from_static(b"all")),
            "SyncGroup v{sync_version}"
        );
        for hv in 0..=4 {
            let heartbeat = HeartbeatRequest::default()
                .with_group_id(group(&g))
                .with_generation_id(1)
                .with_member_id(text(&member));
            let response: HeartbeatResponse = call(&mut stream, ApiKey::Heartbeat, hv, &heartbeat);
            assert_eq!(response.error_code, 0, "Heartbeat v{hv}");
        }
        for cv in 2..=9 {
            let commit = OffsetCommitRequest::default()
                .with_group_id(group(&g))
                .with_generation_id_or_member_epoch(1)
                .with_member_id(text(&member))
                .with_topics(vec![
                    OffsetCommitRequestTopic::default().with_name(TopicName(text("t"))).with_partitions(vec![
                        OffsetCommitRequestPartition::default().with_committed_offset(cv as i64),
                    ]),
                ]);
            let response: OffsetCommitResponse = call(&mut stream, ApiKey::OffsetCommit, cv, &commit);
            assert_eq!(response.topics[0].partitions[0].error_code, 0, "OffsetCommit v{cv}");
        }
        for fv in 1..=9 {
            let fetch = if fv >= 8 {
                OffsetFetchRequest::default()
                    .with_groups(vec![OffsetFetchRequestGroup::default().with_group_id(group(&g)).with_topics(None)])
            } else {
                OffsetFetchRequest::default().with_group_id(group(&g)).with_topics(Some(vec![
                    OffsetFetchRequestTopic::default().with_name(TopicName(text("t"))).with_partition_indexes(vec![0]),
                ]))
            };
            let response: OffsetFetchResponse = call(&mut stream, ApiKey::OffsetFetch, fv, &fetch);
            let offset = if fv >= 8 {
                response.groups[0].topics[0].partitions[0].committed_offset
            } else {
                response.topics[0].partitions[0].committed_offset
            };
            assert_eq!(offset, 9, "OffsetFetch v{fv}");
        }
        let leave_version = [0, 1, 2, 3, 4, 5, 5, 5, 5, 5][v as usize];
        let leave = if leave_version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group(&g))
                .with_members(vec![MemberIdentity::default().with_member_id(text(&member))])
        } else {
            LeaveGroupRequest::default().with_group_id(group(&g)).with_member_id(text(&member))
        };
        let left: LeaveGroupResponse = call(&mut stream, ApiKey::LeaveGroup, leave_version, &leave);
        let error = if leave_version >= 3 { left.members[0].error_code } else { left.error_code };
        assert_eq!(error, 0, "LeaveGroup v{leave_version}");
    }
    for v in 0..=5 {
        let response: ListGroupsResponse = call(&mut stream, ApiKey::ListGroups, v, &ListGroupsRequest::default());
        assert_eq!(response.groups.len(), 10, "ListGroups v{v}");
    }
    for v in 0..=5 {
        let request = DescribeGroupsRequest::default().with_groups(vec![group("join-v9"), group("missing")]);
        let response: DescribeGroupsResponse = call(&mut stream, ApiKey::DescribeGroups, v, &request);
        assert_eq!(response.groups[0].group_state.as_str(), "Empty", "DescribeGroups v{v}");
        assert_eq!(response.groups[1].group_state.as_str(), "Dead", "DescribeGroups v{v}");
    }
    let delete_offsets = OffsetDeleteRequest::default().with_group_id(group("join-v0")).with_topics(vec![
        OffsetDeleteRequestTopic::default()
            .with_name(TopicName(text("t")))
            .with_partitions(vec![OffsetDeleteRequestPartition::default().with_partition_index(0)]),
    ]);
    let response: OffsetDeleteResponse = call(&mut stream, ApiKey::OffsetDelete, 0, &delete_offsets);
    assert_eq!((response.error_code, response.topics[0].partitions[0].error_code), (0, 0));
    for v in 0..=2 {
        let request = DeleteGroupsRequest::default().with_groups_names(vec![group(&format!("join-v{v}"))]);
        let response: DeleteGroupsResponse = call(&mut stream, ApiKey::DeleteGroups, v, &request);
        assert_eq!(response.results[0].error_code, 0, "DeleteGroups v{v}");
    }
}

#[test]
fn group_refusals_carry_kafka_error_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "t", 1, &[]).0, 0);

    let request = FindCoordinatorRequest::default().with_key(text("g")).with_key_type(2);
    let response: FindCoordinatorResponse = call(&mut stream, ApiKey::FindCoordinator, 3, &request);
    assert_eq!(response.error_code, ResponseError::InvalidRequest.code(), "an unknown key type");
    assert!(response.error_message.expect("message").contains("key type 2"));

    let heartbeat = HeartbeatRequest::default().with_group_id(group("nobody")).with_member_id(text("m"));
    let response: HeartbeatResponse = call(&mut stream, ApiKey::Heartbeat, 4, &heartbeat);
    assert_eq!(response.error_code, ResponseError::UnknownMemberId.code());

    let sync = SyncGroupRequest::default().with_group_id(group("nobody")).with_member_id(text("m"));
    let response: SyncGroupResponse = call(&mut stream, ApiKey::SyncGroup, 5, &sync);
    assert_eq!(response.error_code, ResponseError::UnknownMemberId.code());

    let response: JoinGroupResponse = call(&mut stream, ApiKey::JoinGroup, 9, &join_request("", ""));
    assert_eq!(response.error_code, ResponseError::InvalidGroupId.code());
    let short = join_request("g", "").with_session_timeout_ms(1);
    let response: JoinGroupResponse = call(&mut stream, ApiKey::JoinGroup, 9, &short);
    assert_eq!(response.error_code, ResponseError::InvalidSessionTimeout.code());

    let commit = |topic: &str, partition: i32, metadata: &str| {
        OffsetCommitRequest::default()
            .with_group_id(group("simple"))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default().with_name(TopicName(text(topic))).with_partitions(
                vec![
                OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(1)
                    .with_committed_metadata(Some(text(metadata))),
            ],
            )])
    };
    for (request, expected) in [
        (commit("nope", 0, ""), ResponseError::UnknownTopicOrPartition),
        (commit("t", 5, ""), ResponseError::UnknownTopicOrPartition),
        (commit("t", 0, &"m".repeat(4097)), ResponseError::OffsetMetadataTooLarge),
    ] {
        let response: OffsetCommitResponse = call(&mut stream, ApiKey::OffsetCommit, 8, &request);
        assert_eq!(response.topics[0].partitions[0].error_code, expected.code());
    }

    let request = DeleteGroupsRequest::default().with_groups_names(vec![group("never-was")]);
    let response: DeleteGroupsResponse = call(&mut stream, ApiKey::DeleteGroups, 2, &request);
    assert_eq!(response.results[0].error_code, ResponseError::GroupIdNotFound.code());
    let request = OffsetDeleteRequest::default().with_group_id(group("never-was"));
    let response: OffsetDeleteResponse = call(&mut stream, ApiKey::OffsetDelete, 0, &request);
    assert_eq!(response.error_code, ResponseError::GroupIdNotFound.code());

    // A topic named like the group log is refused, as in Kafka where it exists.
    assert_eq!(create_topic(&mut stream, "__consumer_offsets", 1, &[]).0, ResponseError::TopicAlreadyExists.code());
}
