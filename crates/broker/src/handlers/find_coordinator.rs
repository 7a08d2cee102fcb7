//! FindCoordinator: this broker coordinates every group and every transactional id. v4+ asks
//! for many keys at once.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};

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
    let answer = match request.key_type {
        GROUP_KEY | TRANSACTION_KEY => found,
        other => refused(ResponseError::InvalidRequest, &format!("unknown coordinator key type {other}")),
    };
    let response = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        let coordinators = request.coordinator_keys.into_iter().map(|key| answer.clone().with_key(key)).collect();
        return Handled::Ready(response.with_coordinators(coordinators));
    }
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
