//! DeleteRecords: moves partitions' log start offsets up (kafka-delete-records.sh, Admin
//! `deleteRecords`). Records below the new start are no longer served; whole segments below
//! it are deleted. The new starts are durable in the log start checkpoint before the answer.
//! Offset -1 means the high watermark; an offset past it is OFFSET_OUT_OF_RANGE; an unknown
//! partition is UNKNOWN_TOPIC_OR_PARTITION.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::api::{Handled, RequestContext};
use crate::error_codes::for_log_error;
use crate::security::acl::Operation;

/// Answers DeleteRecords.
pub fn handle(ctx: &RequestContext, request: DeleteRecordsRequest) -> Handled<DeleteRecordsResponse> {
    let topics = &ctx.broker.topics;
    let mut wanted = Vec::new();
    let mut results: Vec<DeleteRecordsTopicResult> = Vec::new();
    // Where each partition's answer goes: (topic result, partition result) or none if answered.
    let mut slots = Vec::new();
    for topic in &request.topics {
        let refused = !ctx.allowed_on_topic(Operation::Delete, topic.name.as_str());
        let live = if refused { None } else { topics.get(topic.name.as_str()) };
        let missing =
            if refused { ResponseError::TopicAuthorizationFailed } else { ResponseError::UnknownTopicOrPartition };
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let result = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            match live.as_ref().and_then(|t| t.partition(p.partition_index)) {
                Some(partition) => {
                    slots.push((results.len(), partitions.len()));
                    wanted.push((partition.clone(), p.offset));
                    partitions.push(result);
                }
                None => partitions.push(result.with_low_watermark(-1).with_error_code(missing.code())),
            }
        }
        results.push(DeleteRecordsTopicResult::default().with_name(topic.name.clone()).with_partitions(partitions));
    }
    for ((topic, index), outcome) in slots.into_iter().zip(topics.delete_records(wanted)) {
        let name = results[topic].name.to_string();
        let result = &mut results[topic].partitions[index];
        match outcome {
            Ok(low_watermark) => {
                tracing::info!(topic = %name, partition = result.partition_index, low_watermark, client = %ctx.client_id, "deleted records");
                result.low_watermark = low_watermark;
            }
            Err(e) => {
                tracing::info!(topic = %name, partition = result.partition_index, error = %e, client = %ctx.client_id, "refused a DeleteRecords");
                result.low_watermark = -1;
                result.error_code = for_log_error(&e);
            }
        }
    }
    Handled::Ready(DeleteRecordsResponse::default().with_topics(results))
}
