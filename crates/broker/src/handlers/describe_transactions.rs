//! DescribeTransactions: each transactional id's state, producer, timeout, start and the
//! partitions of its open transaction (`kafka-transactions.sh describe`). An unknown id gets
//! TRANSACTIONAL_ID_NOT_FOUND.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// The state of an id that cannot be described, with Kafka's placeholders.
fn failed(id: TransactionalId, error: ResponseError) -> TransactionState {
    TransactionState::default()
        .with_transactional_id(id)
        .with_error_code(error.code())
        .with_transaction_state(StrBytes::from_static_str(""))
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
        .with_transaction_start_time_ms(-1)
}

/// Answers DescribeTransactions.
pub fn handle(ctx: &RequestContext, request: DescribeTransactionsRequest) -> Handled<DescribeTransactionsResponse> {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            if !ctx.allowed_on_transactional_id(Operation::Describe, id.as_str()) {
                return failed(id, ResponseError::TransactionalIdAuthorizationFailed);
            }
            let Some(m) = ctx.broker.transactions.describe(id.as_str()) else {
                return failed(id, ResponseError::TransactionalIdNotFound);
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for (topic, partition) in &m.partitions {
                match topics.last_mut() {
                    Some(last) if last.topic.as_str() == topic => last.partitions.push(*partition),
                    _ => topics.push(
                        TopicData::default()
                            .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                            .with_partitions(vec![*partition]),
                    ),
                }
            }
            TransactionState::default()
                .with_transactional_id(id)
                .with_transaction_state(StrBytes::from_static_str(m.status.name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start_ms)
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    Handled::Ready(DescribeTransactionsResponse::default().with_transaction_states(states))
}
