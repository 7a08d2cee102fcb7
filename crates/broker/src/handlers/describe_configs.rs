//! DescribeConfigs: effective topic configs and the broker's settings, with their sources and
//! synonyms.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::config_report::{BrokerLayers, ReportedConfig};
use crate::security::acl::Operation;

/// Kafka's resource types.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;

/// The configs of a topic with these overrides, over the broker's layers.
pub fn topic_configs(broker: &Broker, overrides: &BTreeMap<String, String>) -> Vec<ReportedConfig> {
    let dynamic = broker.topics.dynamic_configs();
    let c = &broker.config;
    BrokerLayers { static_log: &c.log, properties: &c.properties, dynamic: &dynamic }.describe_topic(overrides)
}

/// The broker's configs with their sources.
pub fn broker_configs(broker: &Broker) -> Vec<ReportedConfig> {
    let dynamic = broker.topics.dynamic_configs();
    let c = &broker.config;
    let fixed = vec![
        ("node.id", broker.node_id().to_string()),
        ("log.dirs", c.data_dir.display().to_string()),
        ("num.partitions", c.num_partitions.to_string()),
        ("auto.create.topics.enable", c.auto_create_topics.to_string()),
        ("log.retention.check.interval.ms", c.retention_check_interval_ms.to_string()),
        ("socket.request.max.bytes", c.socket_request_max_bytes.to_string()),
        ("default.replication.factor", "1".to_string()),
        ("min.insync.replicas", "1".to_string()),
        ("offsets.topic.replication.factor", "1".to_string()),
        ("transaction.state.log.replication.factor", "1".to_string()),
    ];
    BrokerLayers { static_log: &c.log, properties: &c.properties, dynamic: &dynamic }.describe_broker(fixed)
}

/// Answers DescribeConfigs.
pub fn handle(ctx: &RequestContext, request: DescribeConfigsRequest) -> Handled<DescribeConfigsResponse> {
    let broker = &ctx.broker;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let name = resource.resource_name.as_str();
            if let Err((code, message)) =
                super::config_changes::authorize(ctx, resource.resource_type, name, Operation::DescribeConfigs)
            {
                return result.with_error_code(code).with_error_message(Some(StrBytes::from_string(message)));
            }
            let configs = match resource.resource_type {
                TOPIC => match broker.topics.get(name) {
                    Some(topic) => topic_configs(broker, &topic.record.configs),
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(StrBytes::from_string(format!(
                                "Topic '{name}' does not exist."
                            ))));
                    }
                },
                BROKER if name.is_empty() || name == broker.node_id().to_string() => broker_configs(broker),
                BROKER => {
                    return result.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(
                        StrBytes::from_string(format!(
                            "Unknown broker {name}: this cluster has broker {}",
                            broker.node_id()
                        )),
                    ));
                }
                other => {
                    return result.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(
                        StrBytes::from_string(format!("Resource type {other} is not supported")),
                    ));
                }
            };
            let entries = configs
                .into_iter()
                .filter(|c| {
                    resource.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k.as_str() == c.name))
                })
                .map(|c| {
                    let synonyms = if request.include_synonyms {
                        c.synonyms
                            .iter()
                            .map(|s| {
                                DescribeConfigsSynonym::default()
                                    .with_name(StrBytes::from_string(s.name.clone()))
                                    .with_value(Some(StrBytes::from_string(s.value.clone())))
                                    .with_source(s.source as i8)
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_string(c.name))
                        .with_value(Some(StrBytes::from_string(c.value)))
                        .with_config_source(c.source as i8)
                        .with_read_only(c.read_only)
                        .with_synonyms(synonyms)
                })
                .collect();
            result.with_configs(entries)
        })
        .collect();
    Handled::Ready(DescribeConfigsResponse::default().with_results(results))
}
