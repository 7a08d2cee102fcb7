//! ConsumerGroupDescribe (KIP-848): a consumer group's epochs, assignor and members, each with
//! its subscription, current and target assignment. A classic group is GROUP_ID_NOT_FOUND, as
//! in Kafka, so admin clients fall back to DescribeGroups.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::authorized_operations;
use crate::groups::assignor;
use crate::groups::consumer_group::ConsumerGroup;
use crate::security::acl::Operation;

fn text(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

fn assignment(group: &ConsumerGroup, partitions: &assignor::Assignment) -> Assignment {
    Assignment::default().with_topic_partitions(
        partitions
            .iter()
            .map(|(id, ps)| {
                TopicPartitions::default()
                    .with_topic_id(*id)
                    .with_topic_name(TopicName(text(group.topic_name(*id).unwrap_or_default())))
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}

/// Answers ConsumerGroupDescribe.
pub fn handle(ctx: &RequestContext, request: ConsumerGroupDescribeRequest) -> Handled<ConsumerGroupDescribeResponse> {
    let groups = request
        .group_ids
        .into_iter()
        .map(|id| {
            let described = DescribedGroup::default().with_group_id(id.clone());
            if !ctx.allowed_on_group(Operation::Describe, id.as_str()) {
                return described.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            let Some(group) = ctx.broker.groups.consumer_group(id.as_str()) else {
                let message = if ctx.broker.groups.exists(id.as_str()) {
                    format!("Group {} is not a consumer group.", id.as_str())
                } else {
                    format!("Group {} not found.", id.as_str())
                };
                return described
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(text(message)));
            };
            let operations = authorized_operations::if_requested(request.include_authorized_operations, || {
                authorized_operations::group(ctx, id.as_str())
            });
            let no_target = assignor::Assignment::new();
            let members = group
                .members
                .values()
                .map(|m| {
                    Member::default()
                        .with_member_id(text(m.id.clone()))
                        .with_instance_id(m.info.instance_id.clone().map(text))
                        .with_rack_id(m.info.rack_id.clone().map(text))
                        .with_member_epoch(m.epoch)
                        .with_client_id(text(m.info.client_id.clone()))
                        .with_client_host(text(m.info.client_host.clone()))
                        .with_subscribed_topic_names(
                            m.info.topic_names.iter().map(|n| TopicName(text(n.clone()))).collect(),
                        )
                        .with_subscribed_topic_regex(m.info.topic_regex.clone().map(text))
                        .with_assignment(assignment(&group, &m.assigned))
                        .with_target_assignment(assignment(&group, group.target.get(&m.id).unwrap_or(&no_target)))
                        .with_member_type(1)
                })
                .collect();
            described
                .with_group_state(StrBytes::from_static_str(group.state_name()))
                .with_group_epoch(group.epoch)
                .with_assignment_epoch(group.assignment_epoch)
                .with_assignor_name(StrBytes::from_static_str(group.assignor()))
                .with_members(members)
                .with_authorized_operations(operations)
        })
        .collect();
    Handled::Ready(ConsumerGroupDescribeResponse::default().with_groups(groups))
}
