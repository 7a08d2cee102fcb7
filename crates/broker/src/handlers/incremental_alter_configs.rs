//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT of single configs of a topic or of
//! the broker's dynamic configs, validated, durable, and applied to live partitions at once.
//! Kafka's refusals: duplicate keys and unknown operations are INVALID_REQUEST, APPEND or
//! SUBTRACT of a config that is not a list and bad values are INVALID_CONFIG.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_changes::{self, Refusal, Target, invalid_config, invalid_request};
use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::security::acl::Operation;

/// Configs whose value is a comma-separated list, the only ones APPEND and SUBTRACT accept.
const LIST_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "log.cleanup.policy",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
];

/// Kafka's AlterConfigOp types.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Checks what does not depend on the current configs: duplicates, operations, null values.
fn check_ops(ops: &[AlterableConfig]) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    for op in ops {
        let name = op.name.as_str();
        if !seen.insert(name) {
            return Err(invalid_request(format!("Error due to duplicate config keys: {name}")));
        }
        match op.config_operation {
            DELETE => {}
            SET | APPEND | SUBTRACT if op.value.is_none() => {
                return Err(invalid_request(format!("Null value not supported for : {name}")));
            }
            SET => {}
            APPEND | SUBTRACT if !LIST_CONFIGS.contains(&name) => {
                let verb = if op.config_operation == APPEND { "append" } else { "subtract" };
                return Err(invalid_config(format!("Config value {verb} is not allowed for config key: {name}")));
            }
            APPEND | SUBTRACT => {}
            other => return Err(invalid_request(format!("Unknown config operation {other} for {name}"))),
        }
    }
    Ok(())
}

fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
}

/// The configs after `ops`. APPEND and SUBTRACT start from the value set at the resource, or
/// else from the value it inherits.
fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[AlterableConfig],
    inherited: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut configs = current.clone();
    for op in ops {
        let name = op.name.to_string();
        let value = op.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
        match op.config_operation {
            DELETE => {
                configs.remove(&name);
            }
            SET => {
                configs.insert(name, value);
            }
            operation => {
                let base = configs.get(&name).cloned().or_else(|| inherited(&name)).unwrap_or_default();
                let mut items = list(&base);
                for item in list(&value) {
                    if operation == APPEND && !items.contains(&item) {
                        items.push(item);
                    } else if operation == SUBTRACT {
                        items.retain(|i| *i != item);
                    }
                }
                configs.insert(name, items.join(","));
            }
        }
    }
    configs
}

fn alter_resource(
    broker: &Broker,
    target: Target<'_>,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), Refusal> {
    check_ops(ops)?;
    let inherited = |name: &str| config_changes::inherited_value(broker, target, name);
    config_changes::alter(broker, target, |current| apply_ops(current, ops, inherited), validate_only)
}

/// Answers IncrementalAlterConfigs.
pub fn handle(
    ctx: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> Handled<IncrementalAlterConfigsResponse> {
    let broker = &ctx.broker;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let outcome = config_changes::authorize(ctx, resource.resource_type, name, Operation::AlterConfigs)
                .and_then(|()| config_changes::target(broker, resource.resource_type, name))
                .and_then(|target| alter_resource(broker, target, &resource.configs, request.validate_only));
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match outcome {
                Ok(()) => {
                    if !request.validate_only {
                        let changed: Vec<String> = resource
                            .configs
                            .iter()
                            .map(|c| format!("{}:{}", c.name.as_str(), c.config_operation))
                            .collect();
                        tracing::info!(resource = name, kind = resource.resource_type, ?changed, client = %ctx.client_id, "altered configs");
                    }
                    response
                }
                Err((code, message)) => response.with_error_code(code).with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    Handled::Ready(IncrementalAlterConfigsResponse::default().with_responses(responses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, operation: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.to_string()))
            .with_config_operation(operation)
            .with_value(value.map(|v| StrBytes::from_string(v.to_string())))
    }

    #[test]
    fn operations_set_delete_append_and_subtract_as_kafka() {
        let current = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        let ops = [
            op("retention.ms", DELETE, None),
            op("segment.bytes", SET, Some("4096")),
            op("cleanup.policy", APPEND, Some("compact")),
        ];
        check_ops(&ops).expect("valid");
        let inherited = |name: &str| (name == "cleanup.policy").then(|| "delete".to_string());
        let after = apply_ops(&current, &ops, inherited);
        assert_eq!(
            after,
            BTreeMap::from([
                ("cleanup.policy".to_string(), "delete,compact".to_string()),
                ("segment.bytes".to_string(), "4096".to_string()),
            ])
        );
        let after = apply_ops(&after, &[op("cleanup.policy", SUBTRACT, Some("delete"))], inherited);
        assert_eq!(after.get("cleanup.policy").map(String::as_str), Some("compact"));
    }

    #[test]
    fn bad_operations_get_kafkas_codes() {
        let invalid_request = kafka_protocol::ResponseError::InvalidRequest.code();
        let invalid_config = kafka_protocol::ResponseError::InvalidConfig.code();
        let code = |ops: &[AlterableConfig]| check_ops(ops).unwrap_err().0;
        assert_eq!(code(&[op("retention.ms", SET, Some("1")), op("retention.ms", DELETE, None)]), invalid_request);
        assert_eq!(code(&[op("retention.ms", 9, Some("1"))]), invalid_request);
        assert_eq!(code(&[op("retention.ms", SET, None)]), invalid_request);
        assert_eq!(code(&[op("retention.ms", APPEND, Some("1"))]), invalid_config);
    }
}
