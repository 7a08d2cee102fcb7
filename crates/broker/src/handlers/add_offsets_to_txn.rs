//! AddOffsetsToTxn: a group's offsets join a producer's transaction (before its
//! TxnOffsetCommit), so that the transaction's commit or abort marker reaches the group log.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::groups::OFFSETS_TOPIC;
use crate::security::acl::Operation;

/// Answers AddOffsetsToTxn.
pub fn handle(ctx: &RequestContext, request: AddOffsetsToTxnRequest) -> Handled<AddOffsetsToTxnResponse> {
    let broker = ctx.broker.clone();
    let fenced_code_supported = ctx.version >= 2;
    if !ctx.allowed_on_transactional_id(Operation::Write, request.transactional_id.as_str()) {
        let refused = ResponseError::TransactionalIdAuthorizationFailed.code();
        return Handled::Ready(AddOffsetsToTxnResponse::default().with_error_code(refused));
    }
    if !ctx.allowed_on_group(Operation::Read, request.group_id.as_str()) {
        let refused = ResponseError::GroupAuthorizationFailed.code();
        return Handled::Ready(AddOffsetsToTxnResponse::default().with_error_code(refused));
    }
    Handled::Later(Box::pin(async move {
        let id = request.transactional_id.as_str();
        // Every group's offsets live in the one group log partition.
        let partitions = [(OFFSETS_TOPIC.to_string(), 0)];
        let result =
            broker.transactions.add_partitions(id, request.producer_id.0, request.producer_epoch, &partitions).await;
        let code = match result {
            Ok(()) => {
                sync_in_background(&broker);
                0
            }
            Err(e) => {
                tracing::debug!(transactional_id = id, group = request.group_id.as_str(), error = %e, "AddOffsetsToTxn refused");
                e.code(fenced_code_supported)
            }
        };
        AddOffsetsToTxnResponse::default().with_error_code(code)
    }))
}

/// Starts the fsync of the transaction log's new record as the answer goes out, so that it is
/// done, or nearly, when the TxnOffsetCommit that follows waits for it, rather than running
/// beside that commit's own fsync.
fn sync_in_background(broker: &Arc<Broker>) {
    let broker = broker.clone();
    tokio::spawn(async move {
        if let Err(e) = broker.transactions.sync_added_partitions(&broker.metrics).await {
            tracing::error!(error = %e, "could not fsync the transaction log");
        }
    });
}
