//! DescribeConfigs: effective topic configs with their sources, and the broker's settings.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::topic_config::{self, ConfigSource, ReportedConfig};

/// Kafka's resource types.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;

fn broker_configs(broker: &Broker) -> Vec<ReportedConfig> {
    let c = &broker.config;
    let given =
        |name: &str| if c.properties.contains_key(name) { ConfigSource::StaticBroker } else { ConfigSource::Default };
    let mut out: Vec<ReportedConfig> = [
        ("node.id", broker.node_id().to_string()),
        ("log.dirs", c.data_dir.display().to_string()),
        ("num.partitions", c.num_partitions.to_string()),
        ("auto.create.topics.enable", c.auto_create_topics.to_string()),
        ("log.segment.bytes", c.log.segment_bytes.to_string()),
        ("log.retention.ms", c.log.retention_ms.to_string()),
        ("log.retention.bytes", c.log.retention_bytes.to_string()),
        ("message.max.bytes", c.log.max_message_bytes.to_string()),
        ("socket.request.max.bytes", c.socket_request_max_bytes.to_string()),
        ("default.replication.factor", "1".to_string()),
        ("min.insync.replicas", "1".to_string()),
        ("offsets.topic.replication.factor", "1".to_string()),
    ]
    .into_iter()
    .map(|(name, value)| ReportedConfig { name: name.to_string(), value, source: given(name) })
    .collect();
    for (name, value) in &c.properties {
        if !out.iter().any(|r| &r.name == name) {
            out.push(ReportedConfig { name: name.clone(), value: value.clone(), source: ConfigSource::StaticBroker });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
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
            let configs = match resource.resource_type {
                TOPIC => match broker.topics.get(name) {
                    Some(topic) => {
                        topic_config::describe(&broker.config.log, &broker.config.properties, &topic.record.configs)
                    }
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
                        vec![
                            DescribeConfigsSynonym::default()
                                .with_name(StrBytes::from_string(c.name.clone()))
                                .with_value(Some(StrBytes::from_string(c.value.clone())))
                                .with_source(c.source as i8),
                        ]
                    } else {
                        Vec::new()
                    };
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_string(c.name))
                        .with_value(Some(StrBytes::from_string(c.value)))
                        .with_config_source(c.source as i8)
                        .with_read_only(resource.resource_type == BROKER)
                        .with_synonyms(synonyms)
                })
                .collect();
            result.with_configs(entries)
        })
        .collect();
    Handled::Ready(DescribeConfigsResponse::default().with_results(results))
}
