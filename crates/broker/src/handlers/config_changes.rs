//! What AlterConfigs and IncrementalAlterConfigs share: which resource a change is for, the
//! change itself (under the registry's admin lock, so concurrent changes keep each other's
//! keys), and how a refusal becomes Kafka's error code and message.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use crate::broker::Broker;
use crate::dynamic_broker_config::{DynamicConfigError, Scope};
use crate::error_codes::for_topic_error;

/// Kafka's resource type of a topic.
pub const TOPIC: i8 = 2;
/// Kafka's resource type of a broker.
pub const BROKER: i8 = 4;

/// A refused change: the error code and the message for the client.
pub type Refusal = (i16, String);

/// An INVALID_REQUEST refusal.
pub fn invalid_request(message: String) -> Refusal {
    (ResponseError::InvalidRequest.code(), message)
}

/// An INVALID_CONFIG refusal.
pub fn invalid_config(message: String) -> Refusal {
    (ResponseError::InvalidConfig.code(), message)
}

/// What a resource of a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A topic's overrides.
    Topic(&'a str),
    /// A scope of the dynamic broker configs.
    Broker(Scope),
}

/// The resource a change is for: a topic, this broker (by its node id) or every broker (`""`).
pub fn target<'a>(broker: &Broker, resource_type: i8, name: &'a str) -> Result<Target<'a>, Refusal> {
    match resource_type {
        TOPIC => Ok(Target::Topic(name)),
        BROKER if name.is_empty() => Ok(Target::Broker(Scope::ClusterDefault)),
        BROKER if name == broker.node_id().to_string() => Ok(Target::Broker(Scope::Broker)),
        BROKER => Err(invalid_request(format!(
            "Unknown broker {name}: this cluster has broker {}, or \"\" for the cluster-wide default",
            broker.node_id()
        ))),
        other => Err(invalid_request(format!(
            "Resource type {other} cannot be altered here: only topics ({TOPIC}) and brokers ({BROKER})"
        ))),
    }
}

/// The value a config has at `target` when the target itself does not set it: what an
/// APPEND or SUBTRACT starts from, as Kafka's.
pub fn inherited_value(broker: &Broker, target: Target<'_>, name: &str) -> Option<String> {
    let reported = match target {
        Target::Topic(_) => super::describe_configs::topic_configs(broker, &BTreeMap::new()),
        Target::Broker(_) => super::describe_configs::broker_configs(broker),
    };
    reported.into_iter().find(|c| c.name == name).map(|c| c.value)
}

/// Applies `change` to the target's current configs; the result is validated, made durable
/// and applied, unless `validate_only`.
pub fn alter(
    broker: &Broker,
    target: Target<'_>,
    change: impl FnOnce(&BTreeMap<String, String>) -> BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Refusal> {
    match target {
        Target::Topic(name) => {
            broker.topics.alter_configs(name, change, validate_only).map_err(|e| (for_topic_error(&e), e.to_string()))
        }
        Target::Broker(scope) => broker.topics.alter_dynamic_configs(scope, change, validate_only).map_err(|e| {
            let code = match e {
                DynamicConfigError::NotDynamic(_) => ResponseError::InvalidRequest,
                DynamicConfigError::Invalid(_) => ResponseError::InvalidConfig,
                DynamicConfigError::Storage(_) => ResponseError::KafkaStorageError,
            };
            (code.code(), e.to_string())
        }),
    }
}

/// Whether the client may `operation` (DescribeConfigs or AlterConfigs) the configs of resource
/// `name` of config resource type `resource_type`: a topic's need it on the topic, a broker's
/// on the cluster; a refusal carries Kafka's code and a message.
pub fn authorize(
    ctx: &crate::api::RequestContext,
    resource_type: i8,
    name: &str,
    operation: crate::security::acl::Operation,
) -> Result<(), (i16, String)> {
    use kafka_protocol::ResponseError;
    match resource_type {
        2 if !ctx.allowed_on_topic(operation, name) => Err((
            ResponseError::TopicAuthorizationFailed.code(),
            format!("not authorized to {operation:?} topic {name}"),
        )),
        4 | 8 if !ctx.allowed_on_cluster(operation) => Err((
            ResponseError::ClusterAuthorizationFailed.code(),
            format!("not authorized to {operation:?} the cluster"),
        )),
        _ => Ok(()),
    }
}
