//! OffsetCommit: a group's bookmark. Answered only once the offsets are fsynced in the group
//! log, so an acknowledged commit survives a crash.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use std::sync::Arc;

use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::groups::coordinator::{CommitOutcome, OffsetToCommit};
use crate::security::acl::Operation;

/// Answers OffsetCommit.
pub fn handle(ctx: &RequestContext, request: OffsetCommitRequest) -> Handled<OffsetCommitResponse> {
    let broker = ctx.broker.clone();
    // Read on the group, then Read on each topic: refused topics are left out of the commit.
    let group_refused = !ctx.allowed_on_group(Operation::Read, request.group_id.as_str());
    let topic_refused: Vec<bool> = request
        .topics
        .iter()
        .map(|t| group_refused || !ctx.allowed_on_topic(Operation::Read, t.name.as_str()))
        .collect();
    let offsets: Vec<OffsetToCommit> = request
        .topics
        .iter()
        .zip(&topic_refused)
        .filter(|(_, refused)| !**refused)
        .flat_map(|(t, _)| {
            t.partitions.iter().map(|p| OffsetToCommit {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if ctx.version >= 6 { p.committed_leader_epoch } else { -1 },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let instance_id = if ctx.version >= 7 { request.group_instance_id.as_ref().map(|i| i.as_str()) } else { None };
    let outcome = if group_refused {
        // Nothing is committed and the group is not touched.
        CommitOutcome { errors: Vec::new(), flush_to: None }
    } else {
        broker.groups.commit(
            request.group_id.as_str(),
            request.member_id.as_str(),
            instance_id,
            request.generation_id_or_member_epoch,
            &offsets,
            |topic, partition| broker.has_partition(topic, partition),
        )
    };
    let shape: Vec<(_, Vec<i32>, bool)> = request
        .topics
        .into_iter()
        .zip(topic_refused)
        .map(|(t, refused)| (t.name, t.partitions.iter().map(|p| p.partition_index).collect(), refused))
        .collect();
    let refusal =
        if group_refused { ResponseError::GroupAuthorizationFailed } else { ResponseError::TopicAuthorizationFailed };
    let build = move |errors: Vec<i16>| {
        let mut errors = errors.into_iter();
        let topics = shape
            .into_iter()
            .map(|(name, partitions, refused)| {
                let partitions = partitions
                    .into_iter()
                    .map(|index| {
                        let error = if refused { refusal.code() } else { errors.next().unwrap_or_default() };
                        OffsetCommitResponsePartition::default().with_partition_index(index).with_error_code(error)
                    })
                    .collect();
                OffsetCommitResponseTopic::default().with_name(name).with_partitions(partitions)
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    };
    answer_when_durable(broker, outcome, false, build)
}

/// The answer to an OffsetCommit or TxnOffsetCommit, once what it wrote is fsynced in the
/// group log; an fsync that fails turns its successes into NOT_COORDINATOR (the client retries).
pub fn answer_when_durable<R: Send + 'static>(
    broker: Arc<Broker>,
    outcome: CommitOutcome,
    transactional: bool,
    build: impl FnOnce(Vec<i16>) -> R + Send + 'static,
) -> Handled<R> {
    let Some(flush_to) = outcome.flush_to else {
        return Handled::Ready(build(outcome.errors));
    };
    Handled::Later(Box::pin(async move {
        let mut errors = outcome.errors;
        let offsets = broker.groups.flush(flush_to, &broker.metrics);
        // Offsets committed in a transaction count only once the transaction log holds that
        // the transaction added the group's partition (AddOffsetsToTxn is answered before its
        // fsync).
        let added = async {
            if transactional { broker.transactions.sync_added_partitions(&broker.metrics).await } else { Ok(()) }
        };
        let (offsets, added) = futures::future::join(offsets, added).await;
        if let Err(e) = offsets.and(added) {
            tracing::error!(error = %e, "could not fsync committed offsets");
            for error in errors.iter_mut().filter(|e| **e == 0) {
                *error = ResponseError::NotCoordinator.code();
            }
        }
        build(errors)
    }))
}
