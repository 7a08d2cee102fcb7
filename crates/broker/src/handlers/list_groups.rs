//! ListGroups: every group, filtered by state (v4+) and type (v5+: `classic`, or `consumer`
//! for KIP-848 groups).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers ListGroups.
pub fn handle(ctx: &RequestContext, request: ListGroupsRequest) -> Handled<ListGroupsResponse> {
    let states: Vec<String> = request.states_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let types: Vec<String> = request.types_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let all_visible = ctx.allowed_on_cluster(Operation::Describe);
    let groups = ctx
        .broker
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.to_ascii_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        // Describe on the cluster lists every group; otherwise those the client may describe.
        .filter(|g| all_visible || ctx.allowed_on_group(Operation::Describe, &g.group_id))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(g.state))
                .with_group_type(StrBytes::from_static_str(g.group_type))
        })
        .collect();
    Handled::Ready(ListGroupsResponse::default().with_groups(groups))
}
