//! Fetch: serve stored batches straight from the segment files (see [`crate::fetch_response`]);
//! long-poll until `min_bytes` arrive or `max_wait_ms`
//! passes, woken by every append rather than at the deadline.
//!
//! Fetch sessions (KIP-227, [`crate::fetch_sessions`]): a full fetch with epoch 0 opens one;
//! an incremental fetch reads every partition of its session and answers only those with
//! something new.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::FetchRequest;
use kafka_protocol::messages::fetch_request::FetchTopic;
use runnel_log::LogError;

use crate::api::{Handled, RequestContext};
use crate::broker::Broker;
use crate::error_codes::for_log_error;
use crate::fetch_response::{FetchAnswer, PartitionAnswer, Records, TopicAnswer};
use crate::fetch_sessions::SessionFetch;
use crate::metrics::topic::TopicMetrics;
use crate::security::acl::Operation;
use crate::topics::Topic;

/// Kafka's isolation level for read_committed.
const READ_COMMITTED: i8 = 1;

/// The answer, and the topics it read (by position in `wanted_topics`) for counting what it
/// sent. `request` gives the limits and isolation, `wanted_topics` what to read: the request's
/// own, or its session's. `refused[i]`: the client may not read the i-th topic. `idle_at`, for
/// an incremental fetch: per partition in order, the change count at which its session saw it
/// idle; a partition still at that count is left out of the answer unread.
fn build(
    broker: &Broker,
    request: &FetchRequest,
    wanted_topics: &[FetchTopic],
    version: i16,
    refused: &[bool],
    idle_at: Option<&[Option<u64>]>,
) -> (FetchAnswer, Vec<Option<Arc<Topic>>>) {
    let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
    if request.max_bytes <= 0 {
        remaining = usize::MAX;
    }
    let mut first_data = true;
    let mut position = 0;
    let mut skipped = 0;
    let read_committed = request.isolation_level == READ_COMMITTED;
    let mut topics = Vec::with_capacity(wanted_topics.len());
    let mut found = Vec::with_capacity(wanted_topics.len());
    for (fetch_topic, refused) in wanted_topics.iter().zip(refused) {
        let topic = if *refused {
            None
        } else if version >= 13 {
            broker.topics.get_by_id(fetch_topic.topic_id)
        } else {
            broker.topics.get(fetch_topic.topic.as_str())
        };
        // As Kafka: an unknown id is UNKNOWN_TOPIC_ID; a known topic without the partition is
        // UNKNOWN_TOPIC_OR_PARTITION whichever way it was named.
        let unknown = if *refused {
            ResponseError::TopicAuthorizationFailed
        } else if version >= 13 && topic.is_none() {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut partitions = Vec::with_capacity(fetch_topic.partitions.len());
        for wanted in &fetch_topic.partitions {
            let seen_idle = idle_at.and_then(|idle| idle.get(position).copied().flatten());
            position += 1;
            let partition = topic.as_ref().and_then(|t| t.partition(wanted.partition));
            // Read before the partition is looked at: a change after this moves it again.
            let changes = partition.map(|p| p.changes());
            if seen_idle.is_some() && seen_idle == changes {
                skipped += 1;
                continue;
            }
            let mut data = PartitionAnswer { partition_index: wanted.partition, changes, ..Default::default() };
            data.aborted_transactions = read_committed.then(Vec::new);
            let Some(partition) = partition else {
                data.error_code = unknown.code();
                data.high_watermark = -1;
                data.last_stable_offset = -1;
                data.log_start_offset = -1;
                partitions.push(data);
                continue;
            };
            let limit = usize::try_from(wanted.partition_max_bytes).unwrap_or(0).min(remaining);
            match partition.locate(wanted.fetch_offset, limit, first_data, read_committed) {
                Ok(found) => {
                    if let Some(slice) = found.slice {
                        remaining = remaining.saturating_sub(slice.len);
                        first_data = false;
                        data.records = Records::File(slice);
                    }
                    data.high_watermark = found.high_watermark;
                    data.last_stable_offset = found.last_stable_offset;
                    data.log_start_offset = found.log_start_offset;
                    if read_committed {
                        data.aborted_transactions = found.aborted;
                    }
                }
                Err(e) => {
                    let (log_start, log_end) = partition.offsets();
                    data.error_code = for_log_error(&e);
                    data.high_watermark = log_end;
                    data.last_stable_offset = partition.last_stable_offset();
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
        topics.push(TopicAnswer { name: fetch_topic.topic.0.clone(), topic_id: fetch_topic.topic_id, partitions });
        found.push(topic);
    }
    if skipped > 0 {
        broker.fetch_sessions.idle_partitions_skipped.fetch_add(skipped, std::sync::atomic::Ordering::Relaxed);
    }
    (FetchAnswer { topics, ..Default::default() }, found)
}

/// Counts the final answer in the topics' BrokerTopicMetrics: bytes sent, partitions failed.
fn count(broker: &Broker, (answer, topics): (FetchAnswer, Vec<Option<Arc<Topic>>>)) -> FetchAnswer {
    for (topic_answer, topic) in answer.topics.iter().zip(&topics) {
        let failed = topic_answer.partitions.iter().filter(|p| p.error_code != 0).count() as u64;
        match topic {
            Some(topic) => {
                let bytes: u64 = topic_answer.partitions.iter().map(|p| p.records.len() as u64).sum();
                TopicMetrics::add(&topic.metrics.bytes_out, bytes);
                TopicMetrics::add(&topic.metrics.failed_fetch, failed);
            }
            None => TopicMetrics::add(&broker.metrics.failed_fetch_unknown_topic, failed),
        }
    }
    answer
}

/// Answers Fetch.
pub fn handle(ctx: &RequestContext, request: FetchRequest) -> Handled<FetchAnswer> {
    let version = ctx.version;
    let broker = ctx.broker.clone();
    let mut request = request;
    let session = if version >= 7 { broker.fetch_sessions.begin(&request) } else { SessionFetch::Sessionless };
    // The partitions to read (an incremental fetch reads its whole session), the session to
    // answer for, and for an incremental fetch the partitions it saw idle.
    let (wanted_topics, session, idle_at) = match session {
        SessionFetch::Refused(error) => {
            return Handled::Ready(FetchAnswer { error_code: error.code(), ..Default::default() });
        }
        SessionFetch::Sessionless => (Arc::new(std::mem::take(&mut request.topics)), None, None),
        SessionFetch::Full { id } => (Arc::new(std::mem::take(&mut request.topics)), (id != 0).then_some(id), None),
        SessionFetch::Incremental { id, topics, idle_at } => (topics, Some(id), Some(idle_at)),
    };
    let incremental = idle_at.is_some();
    let finish = move |broker: &Broker, built| {
        let mut answer = count(broker, built);
        if let Some(id) = session {
            broker.fetch_sessions.answered(id, &mut answer, incremental);
        }
        answer
    };
    // Read on each topic, checked once for the whole wait (named by id from v13).
    let refused: Vec<bool> = wanted_topics
        .iter()
        .map(|t| {
            if version >= 13 {
                broker
                    .topics
                    .get_by_id(t.topic_id)
                    .is_some_and(|topic| !ctx.allowed_on_topic(Operation::Read, topic.name()))
            } else {
                !ctx.allowed_on_topic(Operation::Read, t.topic.as_str())
            }
        })
        .collect();
    // Subscribe before reading, so an append between the read and the wait is not missed.
    let mut arrivals = broker.watch_data();
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let built = build(&broker, &request, &wanted_topics, version, &refused, idle_at.as_deref());
    if built.0.record_bytes() >= min_bytes || built.0.has_error() || request.max_wait_ms <= 0 {
        return Handled::Ready(finish(&broker, built));
    }
    let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let request = Arc::new(request);
    Handled::Wait(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, arrivals.changed()).await {
                Ok(Ok(())) => {
                    let built = build(&broker, &request, &wanted_topics, version, &refused, idle_at.as_deref());
                    if built.0.record_bytes() >= min_bytes || built.0.has_error() {
                        return finish(&broker, built);
                    }
                }
                // The deadline passed, or the broker is going away.
                Ok(Err(_)) | Err(_) => {
                    return finish(
                        &broker,
                        build(&broker, &request, &wanted_topics, version, &refused, idle_at.as_deref()),
                    );
                }
            }
        }
    }))
}
