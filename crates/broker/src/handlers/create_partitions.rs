//! CreatePartitions: grow a topic. Partitions can be added but never removed, so a smaller
//! count is refused with INVALID_PARTITIONS and a message saying so. A request adding more
//! partitions in all than `max.partitions.per.request` is refused whole (POLICY_VIOLATION).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::error_codes::for_topic_error;
use crate::security::acl::Operation;

/// Answers CreatePartitions.
pub fn handle(ctx: &RequestContext, request: CreatePartitionsRequest) -> Handled<CreatePartitionsResponse> {
    let node = ctx.broker.node_id();
    let adding: u64 = request
        .topics
        .iter()
        .filter_map(|t| ctx.broker.topics.get(t.name.as_str()).map(|current| (t.count, current.record.partitions)))
        .map(|(count, have)| (i64::from(count) - i64::from(have)).max(0) as u64)
        .sum();
    if let Err(e) = ctx.broker.topics.limits().check_request(adding) {
        tracing::info!(adding, client = %ctx.client_id, error = %e, "refused a CreatePartitions request");
        let results = request
            .topics
            .into_iter()
            .map(|t| {
                CreatePartitionsTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(for_topic_error(&e))
                    .with_error_message(Some(StrBytes::from_string(e.to_string())))
            })
            .collect();
        return Handled::Ready(CreatePartitionsResponse::default().with_results(results));
    }
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            if !ctx.allowed_on_topic(Operation::Alter, topic.name.as_str()) {
                return result.with_error_code(ResponseError::TopicAuthorizationFailed.code());
            }
            let bad_assignment = topic
                .assignments
                .as_ref()
                .is_some_and(|list| list.iter().any(|a| a.broker_ids.len() != 1 || a.broker_ids[0].0 != node));
            if bad_assignment {
                return result.with_error_code(ResponseError::InvalidReplicaAssignment.code()).with_error_message(
                    Some(StrBytes::from_string(format!(
                        "Replica assignments must name exactly broker {node}, the only broker."
                    ))),
                );
            }
            match ctx.broker.topics.add_partitions(topic.name.as_str(), topic.count, request.validate_only) {
                Ok(()) => {
                    if !request.validate_only {
                        tracing::info!(topic = %topic.name.as_str(), partitions = topic.count, "added partitions");
                    }
                    result
                }
                Err(e) => result
                    .with_error_code(for_topic_error(&e))
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            }
        })
        .collect();
    Handled::Ready(CreatePartitionsResponse::default().with_results(results))
}
