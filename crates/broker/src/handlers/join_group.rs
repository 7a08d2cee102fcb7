//! JoinGroup: the first half of a rebalance. The answer waits until every member has
//! (re)joined or the rebalance timeout passes; the leader's answer lists every member.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::groups::group::Reply;
use crate::groups::member::{JoinParams, JoinResult};
use crate::security::acl::Operation;

fn text(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

fn response(result: JoinResult, version: i16) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default()
        .with_error_code(result.error)
        .with_generation_id(result.generation)
        .with_leader(text(result.leader))
        .with_member_id(text(result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(text(m.member_id))
                        .with_group_instance_id(if version >= 5 { m.group_instance_id.map(text) } else { None })
                        .with_metadata(m.metadata)
                })
                .collect(),
        );
    if version >= 7 {
        response.protocol_type = result.protocol_type.map(text);
        response.protocol_name = result.protocol_name.map(text);
    } else {
        // Not nullable before v7.
        response.protocol_name = Some(text(result.protocol_name.unwrap_or_default()));
    }
    response
}

/// Answers JoinGroup.
pub fn handle(ctx: &RequestContext, request: JoinGroupRequest) -> Handled<JoinGroupResponse> {
    let version = ctx.version;
    let params = JoinParams {
        member_id: request.member_id.to_string(),
        group_instance_id: if version >= 5 { request.group_instance_id.map(|i| i.to_string()) } else { None },
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout; Kafka uses the session timeout.
        rebalance_timeout_ms: if version >= 1 { request.rebalance_timeout_ms } else { request.session_timeout_ms },
        protocol_type: request.protocol_type.to_string(),
        protocols: request.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        require_known_member_id: version >= 4,
    };
    let member_id = params.member_id.clone();
    if !ctx.allowed_on_group(Operation::Read, request.group_id.as_str()) {
        return Handled::Ready(response(
            JoinResult::error(ResponseError::GroupAuthorizationFailed.code(), &member_id),
            version,
        ));
    }
    match ctx.broker.groups.join(request.group_id.as_str(), params) {
        Reply::Now(result) => Handled::Ready(response(result, version)),
        Reply::Wait(receiver) => Handled::Wait(Box::pin(async move {
            let result = receiver
                .await
                .unwrap_or_else(|_| JoinResult::error(ResponseError::RebalanceInProgress.code(), &member_id));
            response(result, version)
        })),
    }
}
