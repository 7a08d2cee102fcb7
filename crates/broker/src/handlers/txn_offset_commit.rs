//! TxnOffsetCommit: offsets committed inside a producer's transaction (the consume-transform-
//! produce loop of exactly-once processing). The producer's open transaction must have added
//! the group (AddOffsetsToTxn); the offsets become the group's committed offsets when the
//! transaction commits, and are dropped if it aborts. A request naming a member and generation
//! is checked against the group (KIP-447).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::api::{Handled, RequestContext};
use crate::groups::OFFSETS_TOPIC;
use crate::groups::coordinator::OffsetToCommit;
use crate::security::acl::Operation;

/// Answers TxnOffsetCommit.
pub fn handle(ctx: &RequestContext, request: TxnOffsetCommitRequest) -> Handled<TxnOffsetCommitResponse> {
    let broker = ctx.broker.clone();
    let version = ctx.version;
    let offsets: Vec<OffsetToCommit> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| OffsetToCommit {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let shape: Vec<(_, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.partition_index).collect()))
        .collect();
    let build = move |errors: Vec<i16>| {
        let mut errors = errors.into_iter();
        let topics = shape
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|index| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(index)
                            .with_error_code(errors.next().unwrap_or_default())
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default().with_name(name).with_partitions(partitions)
            })
            .collect();
        TxnOffsetCommitResponse::default().with_topics(topics)
    };
    let (producer_id, epoch) = (request.producer_id.0, request.producer_epoch);
    // Write on the transactional id, Read on the group, Read on each topic.
    let refusal = if !ctx.allowed_on_transactional_id(Operation::Write, request.transactional_id.as_str()) {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if !ctx.allowed_on_group(Operation::Read, request.group_id.as_str()) {
        Some(ResponseError::GroupAuthorizationFailed)
    } else if request.topics.iter().any(|t| !ctx.allowed_on_topic(Operation::Read, t.name.as_str())) {
        Some(ResponseError::TopicAuthorizationFailed)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        return Handled::Ready(build(vec![refusal.code(); offsets.len()]));
    }
    if let Err(e) = broker.transactions.verify_produce(producer_id, epoch, OFFSETS_TOPIC, 0) {
        return Handled::Ready(build(vec![e.code(); offsets.len()]));
    }
    let (member_id, instance_id, generation) = if version >= 3 {
        (request.member_id.as_str(), request.group_instance_id.as_ref().map(|i| i.as_str()), request.generation_id)
    } else {
        ("", None, -1)
    };
    let outcome = broker.groups.txn_commit(
        request.group_id.as_str(),
        (producer_id, epoch),
        member_id,
        instance_id,
        generation,
        &offsets,
        |topic, partition| broker.has_partition(topic, partition),
    );
    super::offset_commit::answer_when_durable(broker, outcome, true, build)
}
