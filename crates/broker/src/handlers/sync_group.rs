//! SyncGroup: the second half of a rebalance. The leader brings every member's assignment;
//! each member's answer waits for it.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::groups::group::Reply;
use crate::groups::member::SyncResult;
use crate::security::acl::Operation;

fn response(result: SyncResult, version: i16) -> SyncGroupResponse {
    let mut response = SyncGroupResponse::default().with_error_code(result.error).with_assignment(result.assignment);
    if version >= 5 {
        response.protocol_type = result.protocol_type.map(StrBytes::from_string);
        response.protocol_name = result.protocol_name.map(StrBytes::from_string);
    }
    response
}

/// Answers SyncGroup.
pub fn handle(ctx: &RequestContext, request: SyncGroupRequest) -> Handled<SyncGroupResponse> {
    let version = ctx.version;
    if !ctx.allowed_on_group(Operation::Read, request.group_id.as_str()) {
        return Handled::Ready(response(SyncResult::error(ResponseError::GroupAuthorizationFailed.code()), version));
    }
    let instance_id = if version >= 3 { request.group_instance_id.as_ref().map(|i| i.as_str()) } else { None };
    let protocol = if version >= 5 {
        (request.protocol_type.as_ref().map(|p| p.as_str()), request.protocol_name.as_ref().map(|p| p.as_str()))
    } else {
        (None, None)
    };
    let assignments = request.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect();
    let reply = ctx.broker.groups.sync(
        request.group_id.as_str(),
        request.member_id.as_str(),
        instance_id,
        request.generation_id,
        protocol,
        assignments,
    );
    match reply {
        Reply::Now(result) => Handled::Ready(response(result, version)),
        Reply::Wait(receiver) => Handled::Wait(Box::pin(async move {
            let result =
                receiver.await.unwrap_or_else(|_| SyncResult::error(ResponseError::RebalanceInProgress.code()));
            response(result, version)
        })),
    }
}
