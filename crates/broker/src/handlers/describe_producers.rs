//! DescribeProducers: the idempotent and transactional producers each partition tracks, with
//! epoch, last sequence, last timestamp and the start of any open transaction
//! (`kafka-transactions.sh describe-producers`, and how a hanging transaction is found). An
//! unknown partition gets UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers DescribeProducers.
pub fn handle(ctx: &RequestContext, request: DescribeProducersRequest) -> Handled<DescribeProducersResponse> {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let refused = !ctx.allowed_on_topic(Operation::Read, topic.name.as_str());
            let found = if refused { None } else { ctx.broker.topics.get(topic.name.as_str()) };
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|index| {
                    let response = PartitionResponse::default().with_partition_index(*index);
                    if refused {
                        return response.with_error_code(ResponseError::TopicAuthorizationFailed.code());
                    }
                    let Some(partition) = found.as_ref().and_then(|t| t.partition(*index).cloned()) else {
                        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let producers = partition
                        .active_producers()
                        .into_iter()
                        .map(|p| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(p.producer_id))
                                .with_producer_epoch(i32::from(p.epoch))
                                .with_last_sequence(p.last_sequence)
                                .with_last_timestamp(p.last_timestamp)
                                // Not tracked per producer (markers carry epoch 0 from the one
                                // coordinator): -1, Kafka's "unknown".
                                .with_coordinator_epoch(-1)
                                .with_current_txn_start_offset(p.txn_start_offset)
                        })
                        .collect();
                    response.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    Handled::Ready(DescribeProducersResponse::default().with_topics(topics))
}
