//! ListGroups: every group, filtered by state (v4+) and type (v5+; all runnel groups are
//! classic groups).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// The group type of every group this coordinator runs (KIP-848 names).
const CLASSIC: &str = "classic";

/// Answers ListGroups.
pub fn handle(ctx: &RequestContext, request: ListGroupsRequest) -> Handled<ListGroupsResponse> {
    let states: Vec<String> = request.states_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let types: Vec<String> = request.types_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    if !types.is_empty() && !types.iter().any(|t| t == CLASSIC) {
        return Handled::Ready(ListGroupsResponse::default());
    }
    let all_visible = ctx.allowed_on_cluster(Operation::Describe);
    let groups = ctx
        .broker
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.name().to_ascii_lowercase()))
        // Describe on the cluster lists every group; otherwise those the client may describe.
        .filter(|g| all_visible || ctx.allowed_on_group(Operation::Describe, &g.group_id))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type))
                .with_group_state(StrBytes::from_static_str(g.state.name()))
                .with_group_type(StrBytes::from_static_str(CLASSIC))
        })
        .collect();
    Handled::Ready(ListGroupsResponse::default().with_groups(groups))
}
