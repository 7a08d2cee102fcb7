//! Metadata: this broker, and the topics asked for (all when none are named), creating
//! unknown ones when the client allows it and `auto.create.topics.enable` is on.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::api::{Handled, RequestContext};
use crate::authorized_operations;
use crate::error_codes::for_topic_error;
use crate::security::acl::Operation;
use crate::topics::{self, Topic};

fn describe(topic: &Topic, node: BrokerId, operations: i32) -> MetadataResponseTopic {
    let partitions = (0..topic.record.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(runnel_log::partition_log::LEADER_EPOCH)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name().to_string()))))
        .with_topic_id(topic.record.id)
        .with_partitions(partitions)
        .with_topic_authorized_operations(operations)
}

fn missing(name: Option<TopicName>, id: Uuid, error: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default().with_name(name).with_topic_id(id).with_error_code(error)
}

/// Answers Metadata.
pub fn handle(ctx: &RequestContext, request: MetadataRequest) -> Handled<MetadataResponse> {
    let broker = &ctx.broker;
    let node = BrokerId(broker.node_id());
    let (host, port) = &ctx.listener.endpoint;
    let brokers = vec![
        MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(host.clone()))
            .with_port(i32::from(*port)),
    ];
    let topic_operations = |name: &str| {
        authorized_operations::if_requested(request.include_topic_authorized_operations, || {
            authorized_operations::topic(ctx, name)
        })
    };
    let cluster_operations = authorized_operations::if_requested(request.include_cluster_authorized_operations, || {
        authorized_operations::cluster(ctx)
    });
    // Auto-creation needs Create on the cluster or on the topic.
    let may_create =
        |name: &str| ctx.allowed_on_cluster(Operation::Create) || ctx.allowed_on_topic(Operation::Create, name);
    let allow_auto_create = (ctx.version < 4 || request.allow_auto_topic_creation) && broker.config.auto_create_topics;
    let wanted = match request.topics {
        // v0 has no null: an empty list means every topic.
        Some(list) if !(ctx.version == 0 && list.is_empty()) => Some(list),
        _ => None,
    };
    let topics = match wanted {
        // Every topic the client may describe; the others are not named.
        None => broker
            .topics
            .all()
            .iter()
            .filter(|t| ctx.allowed_on_topic(Operation::Describe, t.name()))
            .map(|t| describe(t, node, topic_operations(t.name())))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|wanted| {
                let found: Option<Arc<Topic>> = match &wanted.name {
                    Some(name) => broker.topics.get(name.as_str()),
                    None => broker.topics.get_by_id(wanted.topic_id),
                };
                let name = wanted
                    .name
                    .as_ref()
                    .map(|n| n.to_string())
                    .or_else(|| found.as_ref().map(|t| t.name().to_string()));
                if name.as_deref().is_some_and(|name| !ctx.allowed_on_topic(Operation::Describe, name)) {
                    // Named by id, the topic's name is not revealed.
                    return missing(wanted.name, Uuid::nil(), ResponseError::TopicAuthorizationFailed.code());
                }
                match (found, wanted.name) {
                    (Some(topic), _) => describe(&topic, node, topic_operations(topic.name())),
                    (None, None) => missing(None, wanted.topic_id, ResponseError::UnknownTopicId.code()),
                    (None, Some(name)) => {
                        if let Err(e) = topics::validate_name(name.as_str()) {
                            tracing::debug!(error = %e, "metadata for an invalid topic name");
                            return missing(Some(name), Uuid::nil(), ResponseError::InvalidTopicException.code());
                        }
                        if !allow_auto_create {
                            return missing(Some(name), Uuid::nil(), ResponseError::UnknownTopicOrPartition.code());
                        }
                        if !may_create(name.as_str()) {
                            return missing(Some(name), Uuid::nil(), ResponseError::TopicAuthorizationFailed.code());
                        }
                        match broker.auto_create(name.as_str()) {
                            Ok(topic) => describe(&topic, node, topic_operations(topic.name())),
                            Err(e) => missing(Some(name), Uuid::nil(), for_topic_error(&e)),
                        }
                    }
                }
            })
            .collect(),
    };
    Handled::Ready(
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(StrBytes::from_string(broker.meta.cluster_id.clone())))
            .with_controller_id(node)
            .with_topics(topics)
            .with_cluster_authorized_operations(cluster_operations),
    )
}
