//! InitProducerId: ids for idempotent producers (Java clients enable idempotence by default),
//! and for transactional producers through the transaction coordinator, which fences the
//! previous producer of the same transactional id. A producer re-initialising with its id and
//! epoch (KIP-360) gets the next epoch.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers InitProducerId.
pub fn handle(ctx: &RequestContext, request: InitProducerIdRequest) -> Handled<InitProducerIdResponse> {
    let response = InitProducerIdResponse::default().with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    let expected = (ctx.version >= 3 && request.producer_id.0 >= 0 && request.producer_epoch >= 0)
        .then_some((request.producer_id.0, request.producer_epoch));
    let transactional_id = request.transactional_id.as_ref().filter(|id| !id.is_empty());
    let refusal = match transactional_id {
        Some(id) if !ctx.allowed_on_transactional_id(Operation::Write, id.as_str()) => {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        }
        // An idempotent producer: IdempotentWrite on the cluster, or Write on some topic (KIP-679).
        None if !ctx.allowed_on_cluster(Operation::IdempotentWrite)
            && !ctx.broker.authorizer.authorize_any(
                &ctx.principal,
                ctx.client_host.strip_prefix('/').unwrap_or(&ctx.client_host),
                Operation::Write,
                crate::security::acl::ResourceType::Topic,
            ) =>
        {
            Some(ResponseError::ClusterAuthorizationFailed)
        }
        _ => None,
    };
    if let Some(refusal) = refusal {
        return Handled::Ready(response.with_error_code(refusal.code()));
    }
    if let Some(id) = request.transactional_id.filter(|id| !id.is_empty()) {
        let broker = ctx.broker.clone();
        let fenced_code_supported = ctx.version >= 4;
        return Handled::Later(Box::pin(async move {
            let allocate = || broker.producer_ids.allocate();
            let result = broker
                .transactions
                .init_producer_id(
                    id.as_str(),
                    request.transaction_timeout_ms,
                    expected,
                    &allocate,
                    &*broker,
                    &broker.metrics,
                )
                .await;
            broker.notify_data_arrived();
            match result {
                Ok((producer_id, epoch)) => {
                    response.with_producer_id(ProducerId(producer_id)).with_producer_epoch(epoch)
                }
                Err(e) => {
                    tracing::debug!(transactional_id = id.as_str(), error = %e, "InitProducerId refused");
                    response.with_error_code(e.code(fenced_code_supported))
                }
            }
        }));
    }
    if let Some((producer_id, epoch)) = expected
        && epoch < i16::MAX - 1
    {
        return Handled::Ready(response.with_producer_id(ProducerId(producer_id)).with_producer_epoch(epoch + 1));
    }
    match ctx.broker.producer_ids.allocate() {
        Ok(id) => Handled::Ready(response.with_producer_id(ProducerId(id)).with_producer_epoch(0)),
        Err(e) => {
            tracing::error!(error = %e, "could not persist producer ids");
            Handled::Ready(response.with_error_code(ResponseError::KafkaStorageError.code()))
        }
    }
}
