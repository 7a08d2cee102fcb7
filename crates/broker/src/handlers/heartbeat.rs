//! Heartbeat: keeps a member alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers Heartbeat.
pub fn handle(ctx: &RequestContext, request: HeartbeatRequest) -> Handled<HeartbeatResponse> {
    if !ctx.allowed_on_group(Operation::Read, request.group_id.as_str()) {
        return Handled::Ready(
            HeartbeatResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        );
    }
    let instance_id = if ctx.version >= 3 { request.group_instance_id.as_ref().map(|i| i.as_str()) } else { None };
    let error = ctx.broker.groups.heartbeat(
        request.group_id.as_str(),
        request.member_id.as_str(),
        instance_id,
        request.generation_id,
    );
    Handled::Ready(HeartbeatResponse::default().with_error_code(error))
}
