//! ListTransactions (v0-2): every transactional id with its producer id and state
//! (`kafka-transactions.sh list`), filtered by state names, producer ids, (v1) how long the
//! open transaction has run and (v2) a regular expression the whole id must match. Unknown
//! state names are echoed back, as Kafka does; an invalid expression is
//! INVALID_REGULAR_EXPRESSION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::broker::now_ms;
use crate::security::acl::Operation;
use crate::transactions::state::TxnStatus;

/// Every state a transactional id can be listed in.
const LISTED: [TxnStatus; 7] = [
    TxnStatus::Empty,
    TxnStatus::Ongoing,
    TxnStatus::PrepareCommit,
    TxnStatus::PrepareAbort,
    TxnStatus::CompleteCommit,
    TxnStatus::CompleteAbort,
    TxnStatus::PrepareEpochFence,
];

/// Answers ListTransactions.
pub fn handle(ctx: &RequestContext, request: ListTransactionsRequest) -> Handled<ListTransactionsResponse> {
    let unknown: Vec<StrBytes> =
        request.state_filters.iter().filter(|f| !LISTED.iter().any(|s| s.name() == f.as_str())).cloned().collect();
    let min_duration = if ctx.version >= 1 { request.duration_filter } else { -1 };
    let pattern = match request.transactional_id_pattern.as_ref().filter(|p| ctx.version >= 2 && !p.is_empty()) {
        None => None,
        Some(pattern) => match regex_lite::Regex::new(&format!("^(?:{})$", pattern.as_str())) {
            Ok(regex) => Some(regex),
            Err(_) => {
                return Handled::Ready(
                    ListTransactionsResponse::default().with_error_code(ResponseError::InvalidRegularExpression.code()),
                );
            }
        },
    };
    let now = now_ms();
    let states = ctx
        .broker
        .transactions
        .list()
        .into_iter()
        .filter(|(_, m)| m.status != TxnStatus::Dead)
        .filter(|(_, m)| {
            request.state_filters.is_empty() || request.state_filters.iter().any(|f| f.as_str() == m.status.name())
        })
        .filter(|(_, m)| {
            request.producer_id_filters.is_empty() || request.producer_id_filters.contains(&ProducerId(m.producer_id))
        })
        .filter(|(_, m)| min_duration < 0 || (m.start_ms >= 0 && now - m.start_ms >= min_duration))
        .filter(|(id, _)| pattern.as_ref().is_none_or(|regex| regex.is_match(id)))
        // Only the transactional ids the client may describe.
        .filter(|(id, _)| ctx.allowed_on_transactional_id(Operation::Describe, id))
        .map(|(id, m)| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(StrBytes::from_static_str(m.status.name()))
        })
        .collect();
    Handled::Ready(
        ListTransactionsResponse::default().with_unknown_state_filters(unknown).with_transaction_states(states),
    )
}
