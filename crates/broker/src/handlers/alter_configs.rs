//! AlterConfigs (the older form): replaces every config set on a topic, or on one scope of the
//! broker's dynamic configs, with the request's. Names left out are reset to what they
//! inherit, as Kafka does.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_changes::{self, invalid_request};
use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers AlterConfigs.
pub fn handle(ctx: &RequestContext, request: AlterConfigsRequest) -> Handled<AlterConfigsResponse> {
    let broker = &ctx.broker;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let mut configs = BTreeMap::new();
            let mut duplicate = None;
            for entry in &resource.configs {
                let value = entry.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                if configs.insert(entry.name.to_string(), value).is_some() {
                    duplicate = Some(entry.name.to_string());
                }
            }
            let outcome = match duplicate {
                Some(key) => Err(invalid_request(format!("Error due to duplicate config keys: {key}"))),
                None => config_changes::authorize(ctx, resource.resource_type, name, Operation::AlterConfigs)
                    .and_then(|()| config_changes::target(broker, resource.resource_type, name))
                    .and_then(|target| {
                    config_changes::alter(broker, target, |_| configs, request.validate_only)
                }),
            };
            if outcome.is_ok() && !request.validate_only {
                tracing::info!(resource = name, kind = resource.resource_type, client = %ctx.client_id, "replaced configs");
            }
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match outcome {
                Ok(()) => response,
                Err((code, message)) => response.with_error_code(code).with_error_message(Some(StrBytes::from_string(message))),
            }
        })
        .collect();
    Handled::Ready(AlterConfigsResponse::default().with_responses(responses))
}
