//! OffsetDelete: removes a group's committed offsets for some partitions; refused for topics
//! a live consumer group still subscribes to (GROUP_SUBSCRIBED_TO_TOPIC).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers OffsetDelete.
pub fn handle(ctx: &RequestContext, request: OffsetDeleteRequest) -> Handled<OffsetDeleteResponse> {
    let broker = ctx.broker.clone();
    if !ctx.allowed_on_group(Operation::Delete, request.group_id.as_str()) {
        return Handled::Ready(
            OffsetDeleteResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        );
    }
    // Read on each topic; the offsets of refused topics are kept.
    let refused: Vec<bool> =
        request.topics.iter().map(|t| !ctx.allowed_on_topic(Operation::Read, t.name.as_str())).collect();
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .zip(&refused)
        .filter(|(_, refused)| !**refused)
        .flat_map(|(t, _)| t.partitions.iter().map(|p| (t.name.to_string(), p.partition_index)))
        .collect();
    let outcome = broker.groups.delete_offsets(request.group_id.as_str(), &partitions, |topic, partition| {
        broker.has_partition(topic, partition)
    });
    let (errors, flush_to) = match outcome {
        Ok(ok) => ok,
        Err(error) => return Handled::Ready(OffsetDeleteResponse::default().with_error_code(error)),
    };
    let mut errors = errors.into_iter();
    let topics: Vec<OffsetDeleteResponseTopic> = request
        .topics
        .into_iter()
        .zip(refused)
        .map(|(t, refused)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let error = if refused {
                        ResponseError::TopicAuthorizationFailed.code()
                    } else {
                        errors.next().unwrap_or_default()
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error)
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    let Some(flush_to) = flush_to else {
        return Handled::Ready(OffsetDeleteResponse::default().with_topics(topics));
    };
    Handled::Later(Box::pin(async move {
        let mut response = OffsetDeleteResponse::default().with_topics(topics);
        if let Err(e) = broker.groups.flush(flush_to, &broker.metrics).await {
            tracing::error!(error = %e, "could not fsync offset deletion");
            response.error_code = ResponseError::NotCoordinator.code();
        }
        response
    }))
}
