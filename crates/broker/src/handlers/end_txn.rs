//! EndTxn: commit or abort a producer's open transaction: the coordinator records the
//! decision, writes a marker into every partition of the transaction, and records the end.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers EndTxn.
pub fn handle(ctx: &RequestContext, request: EndTxnRequest) -> Handled<EndTxnResponse> {
    let broker = ctx.broker.clone();
    let fenced_code_supported = ctx.version >= 2;
    if !ctx.allowed_on_transactional_id(Operation::Write, request.transactional_id.as_str()) {
        let refused = ResponseError::TransactionalIdAuthorizationFailed.code();
        return Handled::Ready(EndTxnResponse::default().with_error_code(refused));
    }
    Handled::Later(Box::pin(async move {
        let id = request.transactional_id.as_str();
        let result = broker
            .transactions
            .end_txn(id, request.producer_id.0, request.producer_epoch, request.committed, &*broker, &broker.metrics)
            .await;
        // read_committed fetches waiting at the last stable offset may now read on.
        broker.notify_data_arrived();
        let code = match result {
            Ok(()) => 0,
            Err(e) => {
                tracing::debug!(transactional_id = id, error = %e, "EndTxn refused");
                e.code(fenced_code_supported)
            }
        };
        EndTxnResponse::default().with_error_code(code)
    }))
}
