//! ConsumerGroupHeartbeat (KIP-848, `group.protocol=consumer`): a member joins, stays, or
//! leaves with one request, and hears its partitions in the answer. v0 lets the broker name a
//! new member; v1 (KIP-1082, what librdkafka sends) has the client name itself.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::api::{Handled, RequestContext};
use crate::groups::assignor;
use crate::groups::consumer_group::{Heartbeat, HeartbeatError, TopicLookup};
use crate::security::acl::Operation;
use crate::topics::is_runnels_own;

/// The broker's topics as the member may see them: those it may describe, not internal ones.
struct VisibleTopics<'a>(&'a RequestContext);

impl TopicLookup for VisibleTopics<'_> {
    fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
        if name.starts_with("__") || is_runnels_own(name) {
            return None;
        }
        let topic = self.0.broker.topics.get(name)?;
        Some((topic.record.id, topic.partitions.len() as i32))
    }

    fn names(&self) -> Vec<String> {
        self.0
            .broker
            .topics
            .all()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|n| !n.starts_with("__") && self.0.allowed_on_topic(Operation::Describe, n))
            .collect()
    }
}

fn failed(error: HeartbeatError) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(error.code)
        .with_error_message(Some(StrBytes::from_string(error.message)))
}

/// Answers ConsumerGroupHeartbeat.
pub fn handle(ctx: &RequestContext, request: ConsumerGroupHeartbeatRequest) -> Handled<ConsumerGroupHeartbeatResponse> {
    let group_id = request.group_id.to_string();
    if !ctx.allowed_on_group(Operation::Read, &group_id) {
        return Handled::Ready(
            ConsumerGroupHeartbeatResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        );
    }
    let topic_names: Option<Vec<String>> =
        request.subscribed_topic_names.map(|names| names.into_iter().map(|n| n.to_string()).collect());
    if let Some(refused) = topic_names.iter().flatten().find(|n| !ctx.allowed_on_topic(Operation::Describe, n.as_str()))
    {
        return Handled::Ready(failed(HeartbeatError {
            code: ResponseError::TopicAuthorizationFailed.code(),
            message: format!("Not authorized to describe topic {refused}."),
        }));
    }
    if ctx.version >= 1 && request.member_id.is_empty() {
        return Handled::Ready(failed(HeartbeatError {
            code: ResponseError::InvalidRequest.code(),
            message: "MemberId can't be empty.".into(),
        }));
    }
    let owned = request.topic_partitions.map(|topics| {
        let mut owned = assignor::Assignment::new();
        for t in topics {
            owned.entry(t.topic_id).or_default().extend(t.partitions);
        }
        owned
    });
    let heartbeat = Heartbeat {
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|i| i.to_string()),
        rack_id: request.rack_id.map(|r| r.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        topic_names,
        topic_regex: request.subscribed_topic_regex.map(|r| r.to_string()),
        server_assignor: request.server_assignor.map(|a| a.to_string()),
        owned,
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
    };
    let answer = match ctx.broker.groups.consumer_heartbeat(&group_id, heartbeat, &VisibleTopics(ctx)) {
        Ok(answer) => answer,
        Err(error) => return Handled::Ready(failed(error)),
    };
    let assignment = answer.assignment.map(|a| {
        Assignment::default().with_topic_partitions(
            a.into_iter()
                .map(|(id, ps)| TopicPartitions::default().with_topic_id(id).with_partitions(ps.into_iter().collect()))
                .collect(),
        )
    });
    Handled::Ready(
        ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(StrBytes::from_string(answer.member_id)))
            .with_member_epoch(answer.member_epoch)
            .with_heartbeat_interval_ms(answer.heartbeat_interval_ms)
            .with_assignment(assignment),
    )
}
