//! DescribeTopicPartitions (KIP-966): what newer admin clients (Java's `describeTopics` from
//! 3.8) ask instead of Metadata. Topics sorted by name (every topic when none are named), at
//! most `response_partition_limit` partitions per answer (capped at Kafka's 2,000), continued
//! from a cursor: when the limit cuts a topic, `next_cursor` names where to go on. An unknown
//! topic is UNKNOWN_TOPIC_OR_PARTITION. One broker leads every partition, the only replica.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::authorized_operations;
use crate::security::acl::Operation;

/// Kafka's `max.request.partition.size.limit`: the most partitions one answer holds.
const MAX_PARTITIONS_PER_RESPONSE: i32 = 2_000;

/// Answers DescribeTopicPartitions.
pub fn handle(
    ctx: &RequestContext,
    request: DescribeTopicPartitionsRequest,
) -> Handled<DescribeTopicPartitionsResponse> {
    let broker = &ctx.broker;
    let node = BrokerId(broker.node_id());
    let mut names: Vec<String> = if request.topics.is_empty() {
        // Every topic the client may describe.
        broker
            .topics
            .all()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|name| ctx.allowed_on_topic(Operation::Describe, name))
            .collect()
    } else {
        request.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (cursor_topic, cursor_partition) = match &request.cursor {
        Some(c) => (Some(c.topic_name.to_string()), c.partition_index.max(0)),
        None => (None, 0),
    };
    let mut budget = if request.response_partition_limit > 0 {
        request.response_partition_limit.min(MAX_PARTITIONS_PER_RESPONSE)
    } else {
        MAX_PARTITIONS_PER_RESPONSE
    };
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.iter().filter(|n| cursor_topic.as_ref().is_none_or(|c| *n >= c)) {
        let topic_name = TopicName(StrBytes::from_string(name.clone()));
        if !ctx.allowed_on_topic(Operation::Describe, name) {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(topic_name))
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
            );
            continue;
        }
        let Some(topic) = broker.topics.get(name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(topic_name))
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
            );
            continue;
        };
        if budget == 0 {
            next_cursor = Some(Cursor::default().with_topic_name(topic_name).with_partition_index(0));
            break;
        }
        let first = if cursor_topic.as_deref() == Some(name.as_str()) { cursor_partition } else { 0 };
        let end = topic.record.partitions.min(first + budget);
        let partitions = (first..end)
            .map(|index| {
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(index)
                    .with_leader_id(node)
                    .with_leader_epoch(runnel_log::partition_log::LEADER_EPOCH)
                    .with_replica_nodes(vec![node])
                    .with_isr_nodes(vec![node])
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new()))
            })
            .collect();
        budget -= end - first;
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic_name.clone()))
                .with_topic_id(topic.record.id)
                .with_partitions(partitions)
                .with_topic_authorized_operations(authorized_operations::topic(ctx, name)),
        );
        if end < topic.record.partitions {
            next_cursor = Some(Cursor::default().with_topic_name(topic_name).with_partition_index(end));
            break;
        }
    }
    Handled::Ready(DescribeTopicPartitionsResponse::default().with_topics(topics).with_next_cursor(next_cursor))
}
