//! Produce: validate and append one batch per partition; acks=all waits for the fsync. A
//! transactional batch is appended only into an open transaction that added its partition, and
//! is made durable by its transaction's commit: acks=all answers it once written, with its
//! fsync started at once.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::broker::now_ms;
use crate::error_codes::for_log_error;
use crate::metrics::topic::TopicMetrics;
use crate::partition::Partition;
use crate::security::acl::Operation;
use crate::topic_config::{MIRROR_CLIENT_PREFIX, MIRROR_LINK};
use kafka_protocol::messages::produce_response::BatchIndexAndErrorMessage;
use runnel_log::LogError;

/// A partition whose acknowledgement waits for an fsync up to `offset`.
struct PendingFlush {
    topic_index: usize,
    partition_index: usize,
    partition: Arc<Partition>,
    offset: i64,
}

fn failed(index: i32, error: i16, message: Option<String>, version: i16) -> PartitionProduceResponse {
    let mut response =
        PartitionProduceResponse::default().with_index(index).with_error_code(error).with_base_offset(-1);
    if version >= 8 {
        response.error_message = message.map(StrBytes::from_string);
    }
    response
}

/// The (producer id, epoch) of a transactional data batch; `None` for any other bytes.
fn transactional_producer(records: &[u8]) -> Option<(i64, i16)> {
    let header = runnel_log::batch::BatchHeader::parse(records).ok()?;
    (header.is_transactional() && !header.is_control()).then_some((header.producer_id, header.producer_epoch))
}

/// Who may write a topic: `Ok(true)` for its mirror (the batch keeps its offsets), `Ok(false)`
/// for any producer, or the refusal. A mirror topic is read-only for all but its link's
/// mirror, and a mirror writes nothing else (a promoted topic is no longer its to write).
fn mirror_writer(topic: &str, link: Option<&String>, mirror_client: Option<&str>) -> Result<bool, String> {
    match (link, mirror_client) {
        (Some(link), Some(client)) if link == client => Ok(true),
        (Some(link), _) => {
            Err(format!("{topic} is a mirror topic of link {link}: read-only until `runnel mirror promote {topic}`"))
        }
        (None, Some(client)) => Err(format!(
            "{topic} is not a mirror topic of link {client} (promoted, or never mirrored): the mirror stops writing it"
        )),
        (None, None) => Ok(false),
    }
}

/// Answers Produce.
pub fn handle(ctx: &RequestContext, request: ProduceRequest) -> Handled<ProduceResponse> {
    let version = ctx.version;
    let acks = request.acks;
    let now = now_ms();
    let mut pending = Vec::new();
    // Transactional batches under acks=all: (partition, offset after the batch) to fsync
    // without waiting.
    let mut durable_at_commit = Vec::new();
    let mut appended = false;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mirror_client = ctx.client_id.strip_prefix(MIRROR_CLIENT_PREFIX);
    // A transactional producer needs Write on its transactional id, every producer Write on
    // each topic (Kafka's checks, made before the topic's existence is revealed).
    let transactional_id_refused = request
        .transactional_id
        .as_ref()
        .is_some_and(|id| !ctx.allowed_on_transactional_id(Operation::Write, id.as_str()));
    for (topic_index, topic_data) in request.topic_data.into_iter().enumerate() {
        let refusal = if transactional_id_refused {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        } else if !ctx.allowed_on_topic(Operation::Write, topic_data.name.as_str()) {
            Some(ResponseError::TopicAuthorizationFailed)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let partitions =
                topic_data.partition_data.iter().map(|d| failed(d.index, refusal.code(), None, version)).collect();
            responses
                .push(TopicProduceResponse::default().with_name(topic_data.name).with_partition_responses(partitions));
            continue;
        }
        let topic = ctx.broker.topics.get(topic_data.name.as_str());
        let writer = topic.as_ref().map(|t| mirror_writer(t.name(), t.record.configs.get(MIRROR_LINK), mirror_client));
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for data in topic_data.partition_data {
            let index = data.index;
            if !matches!(acks, -1..=1) {
                partitions.push(failed(index, ResponseError::InvalidRequiredAcks.code(), None, version));
                continue;
            }
            let Some((counters, partition)) =
                topic.as_ref().and_then(|t| t.partition(index).map(|p| (&t.metrics, p.clone())))
            else {
                let counter = match &topic {
                    Some(topic) => &topic.metrics.failed_produce,
                    None => &ctx.broker.metrics.failed_produce_unknown_topic,
                };
                TopicMetrics::add(counter, 1);
                partitions.push(failed(index, ResponseError::UnknownTopicOrPartition.code(), None, version));
                continue;
            };
            let Some(records) = data.records.filter(|r| !r.is_empty()) else {
                TopicMetrics::add(&counters.failed_produce, 1);
                let message = "a produce request must carry one record batch".to_string();
                partitions.push(failed(index, ResponseError::InvalidRecord.code(), Some(message), version));
                continue;
            };
            let own_offsets = match &writer {
                Some(Err(refusal)) => {
                    TopicMetrics::add(&counters.failed_produce, 1);
                    let code = ResponseError::PolicyViolation.code();
                    partitions.push(failed(index, code, Some(refusal.clone()), version));
                    continue;
                }
                Some(Ok(own_offsets)) => *own_offsets,
                None => false,
            };
            let producer = transactional_producer(&records);
            let transactional = !own_offsets && producer.is_some();
            let appended_now = match producer {
                _ if own_offsets => partition.append_at_own_offsets(&records, now),
                None => partition.append(&records, now),
                Some((producer_id, epoch)) => {
                    let topic_name = topic_data.name.as_str();
                    // Checked first for Kafka's error code, and again under the partition's
                    // writer lock, where a marker cannot slip in between.
                    let verify = || ctx.broker.transactions.verify_produce(producer_id, epoch, topic_name, index);
                    if let Err(e) = verify() {
                        TopicMetrics::add(&counters.failed_produce, 1);
                        let message = format!(
                            "{topic_name}-{index} is not in an open transaction of producer {producer_id} at epoch {epoch}"
                        );
                        partitions.push(failed(index, e.code(), Some(message), version));
                        continue;
                    }
                    partition.append_transactional(&records, now, &|| {
                        verify()
                            .map_err(|_| LogError::InvalidRecord("the transaction ended before this batch was written"))
                    })
                }
            };
            match appended_now {
                Ok(result) => {
                    appended |= !result.duplicate;
                    if !result.duplicate {
                        TopicMetrics::add(&counters.messages_in, (result.next_offset - result.base_offset) as u64);
                        TopicMetrics::add(&counters.bytes_in, records.len() as u64);
                    }
                    let mut response = PartitionProduceResponse::default()
                        .with_index(index)
                        .with_base_offset(result.base_offset)
                        .with_log_append_time_ms(result.log_append_time);
                    if version >= 5 {
                        response.log_start_offset = result.log_start_offset;
                    }
                    if acks == -1 && transactional {
                        durable_at_commit.push((partition, result.next_offset));
                    } else if acks == -1 {
                        pending.push(PendingFlush {
                            topic_index,
                            partition_index: partitions.len(),
                            partition,
                            offset: result.next_offset,
                        });
                    }
                    partitions.push(response);
                }
                Err(e) => {
                    TopicMetrics::add(&counters.failed_produce, 1);
                    tracing::debug!(topic = %topic_data.name.as_str(), partition = index, error = %e, "produce refused");
                    let mut response = failed(index, for_log_error(&e), Some(e.to_string()), version);
                    if let (LogError::KeylessRecords(positions), 8..) = (&e, version) {
                        // Per-record errors (KIP-467): clients fail these records alone.
                        response.record_errors = positions
                            .iter()
                            .map(|&i| {
                                BatchIndexAndErrorMessage::default().with_batch_index(i).with_batch_index_error_message(
                                    Some(StrBytes::from_static_str(
                                        "Compacted topic cannot accept message without key",
                                    )),
                                )
                            })
                            .collect();
                    }
                    partitions.push(response);
                }
            }
        }
        responses.push(TopicProduceResponse::default().with_name(topic_data.name).with_partition_responses(partitions));
    }
    if appended {
        ctx.broker.notify_data_arrived();
    }
    if !durable_at_commit.is_empty() {
        sync_in_background(&ctx.broker, durable_at_commit);
    }
    let response = ProduceResponse::default().with_responses(responses);
    match acks {
        0 => Handled::Silent,
        -1 if !pending.is_empty() => Handled::Later(Box::pin({
            let broker = ctx.broker.clone();
            async move {
                let mut response = response;
                let flushes = pending.iter().map(|p| p.partition.flush_to(p.offset, &broker.metrics));
                for (p, result) in pending.iter().zip(futures::future::join_all(flushes).await) {
                    if let Err(e) = result {
                        let slot = &mut response.responses[p.topic_index].partition_responses[p.partition_index];
                        *slot = failed(slot.index, for_log_error(&e), Some(e.to_string()), version);
                    }
                }
                response
            }
        })),
        _ => Handled::Ready(response),
    }
}

/// Starts the fsyncs of a request's transactional batches without waiting for them: the
/// transaction's commit waits for them (the records count only once committed, and a commit
/// makes every partition of the transaction durable before recording its decision), and they
/// run meanwhile, while the producer sends the rest of the transaction. A failed fsync poisons
/// its partition, so the commit fails too.
fn sync_in_background(broker: &Arc<crate::broker::Broker>, batches: Vec<(Arc<Partition>, i64)>) {
    let broker = broker.clone();
    tokio::spawn(async move {
        let flushes = batches.iter().map(|(partition, offset)| partition.flush_to(*offset, &broker.metrics));
        futures::future::join_all(flushes).await;
    });
}

#[cfg(test)]
mod tests {
    use super::mirror_writer;

    #[test]
    fn only_a_topics_own_mirror_writes_it_and_a_mirror_writes_nothing_else() {
        let us = "us".to_string();
        assert_eq!(mirror_writer("us.orders", Some(&us), Some("us")), Ok(true));
        let producer = mirror_writer("us.orders", Some(&us), None).unwrap_err();
        assert!(producer.contains("read-only until `runnel mirror promote us.orders`"), "{producer}");
        assert!(mirror_writer("us.orders", Some(&us), Some("ap")).is_err(), "another link's mirror");
        let promoted = mirror_writer("us.orders", None, Some("us")).unwrap_err();
        assert!(promoted.contains("not a mirror topic of link us"), "{promoted}");
        assert_eq!(mirror_writer("orders", None, None), Ok(false));
    }
}
