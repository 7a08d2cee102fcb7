//! Fetch: serve stored batches as bytes; long-poll until `min_bytes` arrive or `max_wait_ms`
//! passes, woken by every append rather than at the deadline.
//!
//! Fetch sessions (KIP-227) are not kept: every response has session id 0, which tells clients
//! to send full fetch requests, as Kafka does when its session cache is full.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use runnel_log::LogError;

use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::error_codes::for_log_error;

/// Kafka's isolation level for read_committed.
const READ_COMMITTED: i8 = 1;

/// A fetch result and how many record bytes it carries.
struct Built {
    response: FetchResponse,
    bytes: usize,
    has_error: bool,
}

fn build(broker: &Broker, request: &FetchRequest, version: i16) -> Built {
    let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
    if version < 3 || request.max_bytes <= 0 {
        remaining = usize::MAX;
    }
    let mut first_data = true;
    let mut total = 0usize;
    let mut has_error = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for fetch_topic in &request.topics {
        let (topic, unknown) = if version >= 13 {
            (broker.topics.get_by_id(fetch_topic.topic_id), ResponseError::UnknownTopicId)
        } else {
            (broker.topics.get(fetch_topic.topic.as_str()), ResponseError::UnknownTopicOrPartition)
        };
        let mut partitions = Vec::with_capacity(fetch_topic.partitions.len());
        for wanted in &fetch_topic.partitions {
            // Clients expect an empty record set, not a null one, when there is nothing to return.
            let mut data = PartitionData::default().with_partition_index(wanted.partition);
            data.aborted_transactions = (request.isolation_level == READ_COMMITTED).then(Vec::new);
            let Some(partition) = topic.as_ref().and_then(|t| t.partition(wanted.partition)) else {
                data.error_code = unknown.code();
                data.high_watermark = -1;
                has_error = true;
                partitions.push(data);
                continue;
            };
            let limit = usize::try_from(wanted.partition_max_bytes).unwrap_or(0).min(remaining);
            match partition.read(wanted.fetch_offset, limit, first_data) {
                Ok(read) => {
                    if let Some(records) = &read.records {
                        total += records.len();
                        remaining = remaining.saturating_sub(records.len());
                        first_data = false;
                    }
                    data.high_watermark = read.high_watermark;
                    data.last_stable_offset = read.high_watermark;
                    data.log_start_offset = read.log_start_offset;
                    data.records = Some(read.records.unwrap_or_default());
                }
                Err(e) => {
                    has_error = true;
                    let (log_start, log_end) = partition.offsets();
                    data.error_code = for_log_error(&e);
                    data.high_watermark = log_end;
                    data.last_stable_offset = log_end;
                    data.log_start_offset = log_start;
                    if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                        tracing::warn!(topic = partition.topic(), partition = wanted.partition, error = %e, "fetch failed");
                    }
                }
            }
            if version < 5 {
                data.log_start_offset = -1;
            }
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(fetch_topic.topic.clone())
                .with_topic_id(fetch_topic.topic_id)
                .with_partitions(partitions),
        );
    }
    Built { response: FetchResponse::default().with_responses(topics), bytes: total, has_error }
}

/// Answers Fetch.
pub fn handle(ctx: &RequestContext, request: FetchRequest) -> Handled<FetchResponse> {
    let version = ctx.version;
    if version >= 7 && request.session_id != 0 {
        let response = FetchResponse::default().with_error_code(ResponseError::FetchSessionIdNotFound.code());
        return Handled::Ready(response);
    }
    let broker = ctx.broker.clone();
    // Subscribe before reading, so an append between the read and the wait is not missed.
    let mut arrivals = broker.watch_data();
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let built = build(&broker, &request, version);
    if built.bytes >= min_bytes || built.has_error || request.max_wait_ms <= 0 {
        return Handled::Ready(built.response);
    }
    let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let request = Arc::new(request);
    Handled::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, arrivals.changed()).await {
                Ok(Ok(())) => {
                    let built = build(&broker, &request, version);
                    if built.bytes >= min_bytes || built.has_error {
                        return built.response;
                    }
                }
                // The deadline passed, or the broker is going away.
                Ok(Err(_)) | Err(_) => return build(&broker, &request, version).response,
            }
        }
    }))
}
