//! DeleteGroups: removes empty groups and their committed offsets (GROUP_ID_NOT_FOUND,
//! NON_EMPTY_GROUP otherwise). Answered once the deletion is fsynced.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers DeleteGroups.
pub fn handle(ctx: &RequestContext, request: DeleteGroupsRequest) -> Handled<DeleteGroupsResponse> {
    let broker = ctx.broker.clone();
    let mut flush_to = None;
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in request.groups_names {
        if !ctx.allowed_on_group(Operation::Delete, id.as_str()) {
            let refused = ResponseError::GroupAuthorizationFailed.code();
            results.push(DeletableGroupResult::default().with_group_id(id).with_error_code(refused));
            continue;
        }
        let (error, flushed) = broker.groups.delete(id.as_str());
        flush_to = flush_to.max(flushed);
        results.push(DeletableGroupResult::default().with_group_id(id).with_error_code(error));
    }
    let Some(flush_to) = flush_to else {
        return Handled::Ready(DeleteGroupsResponse::default().with_results(results));
    };
    Handled::Later(Box::pin(async move {
        if let Err(e) = broker.groups.flush(flush_to, &broker.metrics).await {
            tracing::error!(error = %e, "could not fsync group deletion");
            for result in results.iter_mut().filter(|r| r.error_code == 0) {
                result.error_code = ResponseError::NotCoordinator.code();
            }
        }
        DeleteGroupsResponse::default().with_results(results)
    }))
}
