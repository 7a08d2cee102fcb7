//! InitProducerId: ids for idempotent producers (Java clients enable idempotence by default).
//! A producer re-initialising with its id and epoch (KIP-360) gets the next epoch.
//! Transactions are not offered, so a transactional id is refused.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::api::{Handled, RequestContext};

/// Answers InitProducerId.
pub fn handle(ctx: &RequestContext, request: InitProducerIdRequest) -> Handled<InitProducerIdResponse> {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    if request.transactional_id.as_ref().is_some_and(|id| !id.is_empty()) {
        tracing::warn!(client = %ctx.client_id, "refused a transactional producer: transactions are not supported");
        return Handled::Ready(response.with_error_code(ResponseError::InvalidRequest.code()));
    }
    if ctx.version >= 3
        && request.producer_id.0 >= 0
        && request.producer_epoch >= 0
        && request.producer_epoch < i16::MAX - 1
    {
        return Handled::Ready(
            response.with_producer_id(request.producer_id).with_producer_epoch(request.producer_epoch + 1),
        );
    }
    match ctx.broker.producer_ids.allocate() {
        Ok(id) => Handled::Ready(response.with_producer_id(ProducerId(id)).with_producer_epoch(0)),
        Err(e) => {
            tracing::error!(error = %e, "could not persist producer ids");
            Handled::Ready(response.with_error_code(ResponseError::KafkaStorageError.code()))
        }
    }
}
