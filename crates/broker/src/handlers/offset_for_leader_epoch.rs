//! OffsetForLeaderEpoch: clients validate their position after a leader change (KIP-320).
//! One broker means one leader epoch, 0, ending at the log end offset.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use runnel_log::partition_log::LEADER_EPOCH;

use crate::api::{Handled, RequestContext};
use crate::security::acl::Operation;

/// Answers OffsetForLeaderEpoch.
pub fn handle(ctx: &RequestContext, request: OffsetForLeaderEpochRequest) -> Handled<OffsetForLeaderEpochResponse> {
    let topics = request
        .topics
        .into_iter()
        .map(|wanted| {
            let refused = !ctx.allowed_on_topic(Operation::Describe, wanted.topic.as_str());
            let topic = if refused { None } else { ctx.broker.topics.get(wanted.topic.as_str()) };
            let partitions = wanted
                .partitions
                .iter()
                .map(|p| {
                    let result =
                        EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
                    let Some(partition) = topic.as_ref().and_then(|t| t.partition(p.partition)) else {
                        let missing = if refused {
                            ResponseError::TopicAuthorizationFailed
                        } else {
                            ResponseError::UnknownTopicOrPartition
                        };
                        return result.with_error_code(missing.code());
                    };
                    if p.current_leader_epoch > LEADER_EPOCH {
                        return result.with_error_code(ResponseError::UnknownLeaderEpoch.code());
                    }
                    if p.leader_epoch < LEADER_EPOCH {
                        return result;
                    }
                    let (_, log_end) = partition.offsets();
                    result.with_leader_epoch(LEADER_EPOCH).with_end_offset(log_end)
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(wanted.topic).with_partitions(partitions)
        })
        .collect();
    Handled::Ready(OffsetForLeaderEpochResponse::default().with_topics(topics))
}
