//! The replica-management APIs of a multi-broker cluster, answered as Kafka answers them on a
//! cluster whose every partition has one replica, the leader, on this broker, so tools that
//! call them get a clear per-partition answer instead of a timeout:
//!
//! - ElectLeaders: ELECTION_NOT_NEEDED (the only replica leads); asked for every partition,
//!   an empty answer, as Kafka leaves out partitions that need no election.
//! - AlterPartitionReassignments: replicas `[this broker]` changes nothing and succeeds; any
//!   other broker is INVALID_REPLICA_ASSIGNMENT; a cancellation is NO_REASSIGNMENT_IN_PROGRESS.
//! - ListPartitionReassignments: none in progress, ever.
//! - AlterReplicaLogDirs: the data directory is the only log dir: moving there succeeds and
//!   changes nothing, any other path is LOG_DIR_NOT_FOUND.
//!
//! Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION throughout.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, AlterReplicaLogDirsRequest,
    AlterReplicaLogDirsResponse, ElectLeadersRequest, ElectLeadersResponse, ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

fn message(text: String) -> Option<StrBytes> {
    Some(StrBytes::from_string(text))
}

/// Answers ElectLeaders.
pub fn elect_leaders(ctx: &RequestContext, request: ElectLeadersRequest) -> Handled<ElectLeadersResponse> {
    if !ctx.allowed_on_cluster(Operation::Alter) {
        let refused = ResponseError::ClusterAuthorizationFailed.code();
        return Handled::Ready(ElectLeadersResponse::default().with_error_code(refused));
    }
    let broker = &ctx.broker;
    let results = request
        .topic_partitions
        .unwrap_or_default()
        .into_iter()
        .map(|topic| {
            let partition_result = topic
                .partitions
                .iter()
                .map(|&p| {
                    let result = PartitionResult::default().with_partition_id(p);
                    if broker.has_partition(topic.topic.as_str(), p) {
                        result.with_error_code(ResponseError::ElectionNotNeeded.code()).with_error_message(message(
                            format!(
                                "Leader election not needed: broker {} is the only replica and leads",
                                broker.node_id()
                            ),
                        ))
                    } else {
                        result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(message("This server does not host this topic-partition.".into()))
                    }
                })
                .collect();
            ReplicaElectionResult::default().with_topic(topic.topic).with_partition_result(partition_result)
        })
        .collect();
    Handled::Ready(ElectLeadersResponse::default().with_replica_election_results(results))
}

/// Answers AlterPartitionReassignments.
pub fn alter_partition_reassignments(
    ctx: &RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> Handled<AlterPartitionReassignmentsResponse> {
    if !ctx.allowed_on_cluster(Operation::Alter) {
        let refused = ResponseError::ClusterAuthorizationFailed.code();
        return Handled::Ready(AlterPartitionReassignmentsResponse::default().with_error_code(refused));
    }
    let broker = &ctx.broker;
    let node = broker.node_id();
    let responses = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
                    let (code, text) = if !broker.has_partition(topic.name.as_str(), p.partition_index) {
                        (ResponseError::UnknownTopicOrPartition, "This server does not host this topic-partition.".to_string())
                    } else {
                        match &p.replicas {
                            None => (ResponseError::NoReassignmentInProgress, "No reassignment is in progress.".to_string()),
                            Some(replicas) if replicas.len() == 1 && replicas[0].0 == node => return result,
                            Some(replicas) => (
                                ResponseError::InvalidReplicaAssignment,
                                format!(
                                    "Replicas {:?} are not possible: broker {node} is the only broker, so a partition's \
                                     replicas are exactly [{node}]",
                                    replicas.iter().map(|b| b.0).collect::<Vec<_>>()
                                ),
                            ),
                        }
                    };
                    result.with_error_code(code.code()).with_error_message(message(text))
                })
                .collect();
            ReassignableTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    Handled::Ready(AlterPartitionReassignmentsResponse::default().with_responses(responses))
}

/// Answers ListPartitionReassignments: nothing is being reassigned.
pub fn list_partition_reassignments(
    ctx: &RequestContext,
    _request: ListPartitionReassignmentsRequest,
) -> Handled<ListPartitionReassignmentsResponse> {
    if !ctx.allowed_on_cluster(Operation::Describe) {
        let refused = ResponseError::ClusterAuthorizationFailed.code();
        return Handled::Ready(ListPartitionReassignmentsResponse::default().with_error_code(refused));
    }
    Handled::Ready(ListPartitionReassignmentsResponse::default())
}

/// Answers AlterReplicaLogDirs.
pub fn alter_replica_log_dirs(
    ctx: &RequestContext,
    request: AlterReplicaLogDirsRequest,
) -> Handled<AlterReplicaLogDirsResponse> {
    let broker = &ctx.broker;
    let refused = !ctx.allowed_on_cluster(Operation::Alter);
    let ours = std::path::absolute(broker.data_dir()).unwrap_or_else(|_| broker.data_dir().to_path_buf());
    let results = request
        .dirs
        .into_iter()
        .flat_map(|dir| {
            let same_dir = std::path::Path::new(dir.path.as_str()) == ours
                || dir.path.as_str() == broker.data_dir().to_string_lossy();
            dir.topics.into_iter().map(move |topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|&p| {
                        let code = if refused {
                            ResponseError::ClusterAuthorizationFailed.code()
                        } else if !broker.has_partition(topic.name.as_str(), p) {
                            ResponseError::UnknownTopicOrPartition.code()
                        } else if same_dir {
                            0
                        } else {
                            ResponseError::LogDirNotFound.code()
                        };
                        AlterReplicaLogDirPartitionResult::default().with_partition_index(p).with_error_code(code)
                    })
                    .collect();
                AlterReplicaLogDirTopicResult::default().with_topic_name(topic.name).with_partitions(partitions)
            })
        })
        .collect();
    Handled::Ready(AlterReplicaLogDirsResponse::default().with_results(results))
}
