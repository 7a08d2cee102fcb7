//! The hand-written Fetch response encoder against kafka-protocol's: byte for byte the same
//! frame for every served version, with records in memory or in a file.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;
use runnel_broker::api::encode_response;
use runnel_broker::fetch_response::{FetchAnswer, FramePart, PartitionAnswer, Records, TopicAnswer};
use runnel_log::FileSlice;
use uuid::Uuid;

/// The frame's bytes, reading file parts from their files.
fn flatten(parts: &[FramePart]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            FramePart::Bytes(b) => out.extend_from_slice(b),
            FramePart::File(slice) => out.extend_from_slice(&slice.read().expect("read file part")),
        }
    }
    out
}

/// The same response in kafka-protocol's structs.
fn reference(answer: &FetchAnswer, records: &[Vec<Bytes>]) -> FetchResponse {
    let topics = answer
        .topics
        .iter()
        .zip(records)
        .map(|(topic, records)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(records)
                .map(|(p, bytes)| {
                    PartitionData::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(p.error_code)
                        .with_high_watermark(p.high_watermark)
                        .with_last_stable_offset(p.last_stable_offset)
                        .with_log_start_offset(p.log_start_offset)
                        .with_aborted_transactions(p.aborted_transactions.as_ref().map(|aborted| {
                            aborted
                                .iter()
                                .map(|(producer_id, first_offset)| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(*producer_id))
                                        .with_first_offset(*first_offset)
                                })
                                .collect()
                        }))
                        .with_records(Some(bytes.clone()))
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(TopicName(topic.name.clone()))
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    FetchResponse::default()
        .with_throttle_time_ms(answer.throttle_time_ms)
        .with_error_code(answer.error_code)
        .with_session_id(answer.session_id)
        .with_responses(topics)
}

#[derive(Debug, Clone)]
struct PartitionCase {
    index: i32,
    error: i16,
    hw: i64,
    log_start: i64,
    aborted: Option<Vec<(i64, i64)>>,
    records: Vec<u8>,
    in_file: bool,
}

fn partition_case() -> impl Strategy<Value = PartitionCase> {
    (
        any::<i32>(),
        any::<i16>(),
        any::<i64>(),
        any::<i64>(),
        proptest::option::of(proptest::collection::vec((any::<i64>(), any::<i64>()), 0..3)),
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(index, error, hw, log_start, aborted, records, in_file)| PartitionCase {
            index,
            error,
            hw,
            log_start,
            aborted,
            records,
            in_file,
        })
}

fn topic_case() -> impl Strategy<Value = (String, u128, Vec<PartitionCase>)> {
    ("[a-z0-9._-]{1,40}", any::<u128>(), proptest::collection::vec(partition_case(), 0..4))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn the_hand_written_fetch_response_matches_kafka_protocol(
        topics in proptest::collection::vec(topic_case(), 0..4),
        correlation_id in any::<i32>(),
        session_id in any::<i32>(),
        error_code in any::<i16>(),
    ) {
        let mut file = tempfile::tempfile().expect("temp file");
        let mut written = 0u64;
        let mut answer = FetchAnswer { throttle_time_ms: 0, error_code, session_id, topics: Vec::new() };
        let mut record_bytes = Vec::new();
        let file_handle;
        {
            let mut pending = Vec::new();
            for (name, id, partitions) in &topics {
                let mut topic = TopicAnswer {
                    name: StrBytes::from_string(name.clone()),
                    topic_id: Uuid::from_u128(*id),
                    partitions: Vec::new(),
                };
                let mut bytes_here = Vec::new();
                for case in partitions {
                    file.write_all(&case.records).expect("write");
                    pending.push((answer.topics.len(), topic.partitions.len(), written, case.records.len(), case.in_file));
                    written += case.records.len() as u64;
                    topic.partitions.push(PartitionAnswer {
                        partition_index: case.index,
                        error_code: case.error,
                        high_watermark: case.hw,
                        last_stable_offset: case.hw,
                        log_start_offset: case.log_start,
                        aborted_transactions: case.aborted.clone(),
                        records: if case.records.is_empty() { Records::Empty } else { Records::Bytes(Bytes::from(case.records.clone())) },
                        changes: None,
                    });
                    bytes_here.push(Bytes::from(case.records.clone()));
                }
                answer.topics.push(topic);
                record_bytes.push(bytes_here);
            }
            file_handle = Arc::new(file);
            for (t, p, position, len, in_file) in pending {
                if in_file && len > 0 {
                    answer.topics[t].partitions[p].records =
                        Records::File(FileSlice { file: file_handle.clone(), position, len });
                }
            }
        }
        for version in 4..=16i16 {
            let mut expected_answer = answer.clone();
            if version < 5 {
                for p in expected_answer.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                    p.log_start_offset = -1;
                }
            }
            if version < 7 {
                expected_answer.error_code = 0;
                expected_answer.session_id = 0;
            }
            let expected = encode_response(ApiKey::Fetch, version, correlation_id, &reference(&expected_answer, &record_bytes))
                .expect("kafka-protocol encodes");
            let ours = expected_answer.encode(version, correlation_id);
            prop_assert_eq!(flatten(&ours), flatten(&expected), "Fetch v{}", version);
        }
    }
}
