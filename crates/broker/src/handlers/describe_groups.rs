//! DescribeGroups: state, assignor and members of each group. An unknown group is reported
//! as Dead (v0-5) or GROUP_ID_NOT_FOUND (v6), as Kafka does.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::authorized_operations;
use crate::security::acl::Operation;

/// Answers DescribeGroups.
pub fn handle(ctx: &RequestContext, request: DescribeGroupsRequest) -> Handled<DescribeGroupsResponse> {
    let version = ctx.version;
    let groups = request
        .groups
        .into_iter()
        .map(|id| {
            if !ctx.allowed_on_group(Operation::Describe, id.as_str()) {
                return DescribedGroup::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                    .with_group_id(id);
            }
            let operations = authorized_operations::if_requested(request.include_authorized_operations, || {
                authorized_operations::group(ctx, id.as_str())
            });
            let Some(description) = ctx.broker.groups.describe(id.as_str()) else {
                let mut dead = DescribedGroup::default().with_group_state(StrBytes::from_static_str("Dead"));
                if version >= 6 {
                    dead.error_code = ResponseError::GroupIdNotFound.code();
                    dead.error_message = Some(StrBytes::from_string(format!("Group {} not found.", id.as_str())));
                }
                return dead.with_group_id(id);
            };
            let members = description
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_group_instance_id(if version >= 4 {
                            m.group_instance_id.map(StrBytes::from_string)
                        } else {
                            None
                        })
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(StrBytes::from_static_str(description.state))
                .with_protocol_type(StrBytes::from_string(description.protocol_type))
                .with_protocol_data(StrBytes::from_string(description.protocol))
                .with_members(members)
                .with_authorized_operations(operations)
        })
        .collect();
    Handled::Ready(DescribeGroupsResponse::default().with_groups(groups))
}
