//! AddPartitionsToTxn (v0-v3, the client versions): partitions join a producer's transaction,
//! which opens with the first. Unknown partitions fail the whole request, as in Kafka: they
//! get UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName};

use crate::api::{Handled, RequestContext};

/// The response with `code_of(topic, partition)` for each partition asked for.
fn answer(wanted: &[(TopicName, Vec<i32>)], code_of: impl Fn(&str, i32) -> i16) -> AddPartitionsToTxnResponse {
    let topics = wanted
        .iter()
        .map(|(name, partitions)| {
            let results = partitions
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code_of(name.as_str(), *p))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default().with_name(name.clone()).with_results_by_partition(results)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics)
}

/// Answers AddPartitionsToTxn.
pub fn handle(ctx: &RequestContext, request: AddPartitionsToTxnRequest) -> Handled<AddPartitionsToTxnResponse> {
    let broker = ctx.broker.clone();
    let fenced_code_supported = ctx.version >= 2;
    let wanted: Vec<(TopicName, Vec<i32>)> =
        request.v3_and_below_topics.into_iter().map(|t| (t.name, t.partitions)).collect();
    if wanted.iter().any(|(name, partitions)| partitions.iter().any(|p| !broker.has_partition(name.as_str(), *p))) {
        return Handled::Ready(answer(&wanted, |topic, p| {
            if broker.has_partition(topic, p) {
                ResponseError::OperationNotAttempted.code()
            } else {
                ResponseError::UnknownTopicOrPartition.code()
            }
        }));
    }
    let partitions: Vec<(String, i32)> = wanted
        .iter()
        .flat_map(|(name, partitions)| partitions.iter().map(move |p| (name.as_str().to_string(), *p)))
        .collect();
    let id = request.v3_and_below_transactional_id;
    let (producer_id, epoch) = (request.v3_and_below_producer_id.0, request.v3_and_below_producer_epoch);
    Handled::Later(Box::pin(async move {
        let result =
            broker.transactions.add_partitions(id.as_str(), producer_id, epoch, &partitions, &broker.metrics).await;
        let code = match result {
            Ok(()) => 0,
            Err(e) => {
                tracing::debug!(transactional_id = id.as_str(), error = %e, "AddPartitionsToTxn refused");
                e.code(fenced_code_supported)
            }
        };
        answer(&wanted, |_, _| code)
    }))
}
