//! CreateTopics: with validate_only, configs, and Kafka's answers for replication factors and
//! assignments a single node cannot honour. A request whose topics add up to more partitions than
//! the limits allow is refused whole, before any disk work, as Kafka refuses one over 10,000.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::error_codes::for_topic_error;
use crate::security::acl::Operation;

fn error(result: CreatableTopicResult, error: ResponseError, message: String) -> CreatableTopicResult {
    result.with_error_code(error.code()).with_error_message(Some(StrBytes::from_string(message)))
}

/// Answers CreateTopics.
pub fn handle(ctx: &RequestContext, request: CreateTopicsRequest) -> Handled<CreateTopicsResponse> {
    let broker = &ctx.broker;
    let node = broker.node_id();
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> =
        request.topics.iter().map(|t| t.name.to_string()).filter(|n| !seen.insert(n.clone())).collect();
    let requested: u64 = request
        .topics
        .iter()
        .map(|t| match (t.assignments.len(), t.num_partitions) {
            (0, -1) => broker.config.num_partitions.max(0) as u64,
            (0, n) => n.max(0) as u64,
            (assigned, _) => assigned as u64,
        })
        .sum();
    let limits = broker.topics.limits();
    if let Err(e) =
        limits.check_request(requested).and_then(|()| limits.check_broker(broker.topics.partition_count(), requested))
    {
        tracing::info!(requested, client = %ctx.client_id, error = %e, "refused a CreateTopics request");
        let results = request
            .topics
            .into_iter()
            .map(|t| {
                CreatableTopicResult::default()
                    .with_name(t.name)
                    .with_error_code(for_topic_error(&e))
                    .with_error_message(Some(StrBytes::from_string(e.to_string())))
            })
            .collect();
        return Handled::Ready(CreateTopicsResponse::default().with_topics(results));
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        if !ctx.allowed_on_cluster(Operation::Create) && !ctx.allowed_on_topic(Operation::Create, &name) {
            let message = format!("not authorized to create topic {name} (needs Create on the cluster or the topic)");
            results.push(error(result, ResponseError::TopicAuthorizationFailed, message));
            continue;
        }
        if duplicates.contains(&name) {
            let message = format!("Create topics request from client contains a duplicate topic name: {name}");
            results.push(error(result, ResponseError::InvalidRequest, message));
            continue;
        }
        let rf = topic.replication_factor;
        if rf != -1 && rf != 1 {
            let message = format!(
                "Unable to replicate the partition {rf} time(s): the target replication factor of {rf} cannot be \
                 reached because only 1 broker(s) are registered."
            );
            results.push(error(result, ResponseError::InvalidReplicationFactor, message));
            continue;
        }
        if !topic.assignments.is_empty() && (topic.num_partitions != -1 || rf != -1) {
            let message = "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".to_string();
            results.push(error(result, ResponseError::InvalidRequest, message));
            continue;
        }
        if topic.assignments.iter().any(|a| a.broker_ids.iter().any(|b| b.0 != node) || a.broker_ids.len() != 1) {
            let message = format!("Replica assignments must name exactly broker {node}, the only broker.");
            results.push(error(result, ResponseError::InvalidReplicaAssignment, message));
            continue;
        }
        let partitions = match topic.num_partitions {
            -1 if !topic.assignments.is_empty() => topic.assignments.len() as i32,
            -1 => broker.config.num_partitions,
            n => n,
        };
        let configs: BTreeMap<String, String> = topic
            .configs
            .iter()
            .filter_map(|c| c.value.as_ref().map(|v| (c.name.to_string(), v.to_string())))
            .collect();
        let outcome = if request.validate_only {
            broker.topics.validate_create(&name, partitions, &configs).map(|_| None)
        } else {
            broker.topics.create(&name, partitions, configs.clone()).map(Some)
        };
        match outcome {
            Ok(created) => {
                if let Some(created) = &created {
                    tracing::info!(topic = %name, partitions, client = %ctx.client_id, "created topic");
                    if ctx.version >= 7 {
                        results.push(describe_result(
                            ctx,
                            result.with_topic_id(created.record.id),
                            partitions,
                            &configs,
                        ));
                        continue;
                    }
                }
                results.push(describe_result(ctx, result, partitions, &configs));
            }
            Err(e) => results.push(
                result
                    .with_error_code(for_topic_error(&e))
                    .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            ),
        }
    }
    Handled::Ready(CreateTopicsResponse::default().with_topics(results))
}

fn describe_result(
    ctx: &RequestContext,
    result: CreatableTopicResult,
    partitions: i32,
    configs: &BTreeMap<String, String>,
) -> CreatableTopicResult {
    if ctx.version < 5 {
        return result;
    }
    let broker = &ctx.broker;
    let described = super::describe_configs::topic_configs(broker, configs)
        .into_iter()
        .map(|c| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(c.name))
                .with_value(Some(StrBytes::from_string(c.value)))
                .with_config_source(c.source as i8)
        })
        .collect();
    result.with_num_partitions(partitions).with_replication_factor(1).with_configs(Some(described))
}
