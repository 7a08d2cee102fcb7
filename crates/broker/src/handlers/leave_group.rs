//! LeaveGroup: one member (v0-2) or a batch by member or instance id (v3+) leave, and the
//! group rebalances without waiting for their session timeouts.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers LeaveGroup.
pub fn handle(ctx: &RequestContext, request: LeaveGroupRequest) -> Handled<LeaveGroupResponse> {
    let group = request.group_id.as_str();
    if !ctx.allowed_on_group(Operation::Read, group) {
        return Handled::Ready(
            LeaveGroupResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        );
    }
    if ctx.version < 3 {
        let errors = ctx.broker.groups.leave(group, &[(request.member_id.to_string(), None)]);
        return Handled::Ready(LeaveGroupResponse::default().with_error_code(errors[0]));
    }
    let leaving: Vec<(String, Option<String>)> = request
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|i| i.to_string())))
        .collect();
    let errors = ctx.broker.groups.leave(group, &leaving);
    let members = request
        .members
        .into_iter()
        .zip(errors)
        .map(|(m, error)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(error)
        })
        .collect();
    Handled::Ready(LeaveGroupResponse::default().with_members(members))
}
