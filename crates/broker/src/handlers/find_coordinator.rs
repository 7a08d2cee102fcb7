//! FindCoordinator: this broker coordinates every group and every transactional id. v4+ asks
//! for many keys at once.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Key type of a consumer group.
const GROUP_KEY: i8 = 0;
/// Key type of a transactional id.
const TRANSACTION_KEY: i8 = 1;

/// Answers FindCoordinator.
pub fn handle(ctx: &RequestContext, request: FindCoordinatorRequest) -> Handled<FindCoordinatorResponse> {
    let (host, port) = &ctx.listener.endpoint;
    let found = Coordinator::default()
        .with_node_id(BrokerId(ctx.broker.node_id()))
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(*port as i32);
    let refused = |e: ResponseError, message: &str| {
        Coordinator::default()
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_string(message.to_string())))
    };
    // Describe on the group, or on the transactional id, as Kafka asks.
    let answer_for = |key: &str| match request.key_type {
        GROUP_KEY if !ctx.allowed_on_group(Operation::Describe, key) => {
            refused(ResponseError::GroupAuthorizationFailed, "not authorized to describe the group")
        }
        TRANSACTION_KEY if !ctx.allowed_on_transactional_id(Operation::Describe, key) => refused(
            ResponseError::TransactionalIdAuthorizationFailed,
            "not authorized to describe the transactional id",
        ),
        GROUP_KEY | TRANSACTION_KEY => found.clone(),
        other => refused(ResponseError::InvalidRequest, &format!("unknown coordinator key type {other}")),
    };
    let response = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        let coordinators =
            request.coordinator_keys.iter().map(|key| answer_for(key.as_str()).with_key(key.clone())).collect();
        return Handled::Ready(response.with_coordinators(coordinators));
    }
    let answer = answer_for(request.key.as_str());
    let mut response = response
        .with_error_code(answer.error_code)
        .with_node_id(answer.node_id)
        .with_host(answer.host)
        .with_port(answer.port);
    if ctx.version >= 1 {
        response.error_message = answer.error_message;
    }
    Handled::Ready(response)
}
