//! ListOffsets: earliest (-2), latest (-1; the last stable offset under read_committed), max
//! timestamp (-3), and offset by timestamp.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::api::{Handled, RequestContext};
use crate::error_codes::for_log_error;
use crate::partition::Partition;
use crate::security::acl::Operation;

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Kafka's isolation level for read_committed.
const READ_COMMITTED: i8 = 1;

fn lookup(partition: &Partition, timestamp: i64, read_committed: bool) -> Result<(i64, i64), runnel_log::LogError> {
    let (log_start, log_end) = partition.offsets();
    Ok(match timestamp {
        // read_committed consumers see the end of what they may read: the last stable offset.
        LATEST if read_committed => (-1, partition.last_stable_offset()),
        LATEST | LATEST_TIERED => (-1, log_end),
        EARLIEST | EARLIEST_LOCAL => (-1, log_start),
        MAX_TIMESTAMP => partition.max_timestamp_offset()?.map(|(o, t)| (t, o)).unwrap_or((-1, -1)),
        t => partition.offset_for_timestamp(t)?.map(|(o, t)| (t, o)).unwrap_or((-1, -1)),
    })
}

/// Answers ListOffsets.
pub fn handle(ctx: &RequestContext, request: ListOffsetsRequest) -> Handled<ListOffsetsResponse> {
    let mut topics = Vec::with_capacity(request.topics.len());
    for wanted in request.topics {
        let refused = !ctx.allowed_on_topic(Operation::Describe, wanted.name.as_str());
        let topic = if refused { None } else { ctx.broker.topics.get(wanted.name.as_str()) };
        let partitions = wanted
            .partitions
            .iter()
            .map(|p| {
                let response = ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_timestamp(-1)
                    .with_offset(-1);
                if refused {
                    return response.with_error_code(ResponseError::TopicAuthorizationFailed.code());
                }
                let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition_index)) else {
                    return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                };
                match lookup(partition, p.timestamp, request.isolation_level == READ_COMMITTED) {
                    Ok((timestamp, offset)) => {
                        let mut response = response.with_timestamp(timestamp).with_offset(offset);
                        if ctx.version >= 4 {
                            response.leader_epoch = runnel_log::partition_log::LEADER_EPOCH;
                        }
                        response
                    }
                    Err(e) => response.with_error_code(for_log_error(&e)),
                }
            })
            .collect();
        topics.push(ListOffsetsTopicResponse::default().with_name(wanted.name).with_partitions(partitions));
    }
    Handled::Ready(ListOffsetsResponse::default().with_topics(topics))
}
