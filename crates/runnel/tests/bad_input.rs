//! Bad input over a raw socket: each gets Kafka's error code or a closed connection for that
//! client only, and the broker keeps serving everyone else.

mod broker_process;
mod raw_client;

use std::io::{Read, Write};
use std::net::TcpStream;

use broker_process::BrokerProcess;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use raw_client::{call, connect, create_topic, produce_one, read_response, send_frame};
use runnel_log::testing::batch;

/// True when the broker closed this connection.
fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(0) | Err(_))
}

fn still_serving(broker: &BrokerProcess) {
    let mut stream = connect(broker);
    let response: ApiVersionsResponse = call(&mut stream, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
}

#[test]
fn api_versions_advertises_the_served_ranges_and_answers_a_newer_version_with_unsupported_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    let response: ApiVersionsResponse = call(&mut stream, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let produce = response.api_keys.iter().find(|k| k.api_key == ApiKey::Produce as i16).expect("Produce");
    assert_eq!((produce.min_version, produce.max_version), (3, 11));
    assert!(response.api_keys.iter().any(|k| k.api_key == ApiKey::InitProducerId as i16));

    // A version from the future: v0 response with UNSUPPORTED_VERSION (35) and our ranges.
    let mut body = BytesMut::new();
    body.put_i16(ApiKey::ApiVersions as i16);
    body.put_i16(99);
    body.put_i32(7);
    body.put_i16(-1);
    body.put_u8(0);
    send_frame(&mut stream, &body);
    let mut body = read_response(&mut stream, ApiKey::ApiVersions, 0);
    let response = ApiVersionsResponse::decode(&mut body, 0).expect("v0 response");
    assert_eq!(response.error_code, 35);
    assert!(!response.api_keys.is_empty());
}

#[test]
fn malformed_frames_close_only_their_own_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut bystander = connect(&broker);
    let _: ApiVersionsResponse = call(&mut bystander, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown API key", {
            let mut b = vec![0x27, 0x0f, 0, 0, 0, 0, 0, 7, 0xff, 0xff];
            b.extend_from_slice(&[0; 8]);
            b
        }),
        ("unsupported Produce version", {
            let mut b = vec![0, 0, 0, 99, 0, 0, 0, 7, 0xff, 0xff];
            b.extend_from_slice(&[0; 8]);
            b
        }),
        ("frame shorter than a header", vec![0, 3]),
        ("Metadata v1 declaring two billion topics", {
            let mut b = vec![0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff];
            b.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
            b.extend_from_slice(&[0, 1, b'x']);
            b
        }),
        ("CreateTopics v5 (flexible) declaring four billion topics", {
            let mut b = vec![0, 19, 0, 5, 0, 0, 0, 7, 0xff, 0xff, 0];
            b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
            b
        }),
        ("truncated Fetch body", vec![0, 1, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0, 0, 0]),
    ];
    for (name, body) in cases {
        let mut stream = connect(&broker);
        send_frame(&mut stream, &body);
        assert!(closed(&mut stream), "{name}: connection closed");
        still_serving(&broker);
    }

    // Size prefixes: negative, and above socket.request.max.bytes (100 MiB by default).
    for size in [-5i32, 200 * 1024 * 1024] {
        let mut stream = connect(&broker);
        stream.write_all(&size.to_be_bytes()).expect("write");
        assert!(closed(&mut stream), "size {size}: connection closed without reading a body");
    }
    // A client that hangs up in the middle of a frame.
    let mut stream = connect(&broker);
    stream.write_all(&100i32.to_be_bytes()).expect("write");
    stream.write_all(&[0, 18, 0, 3]).expect("write");
    drop(stream);

    let response: ApiVersionsResponse = call(&mut bystander, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0, "the first client was never disturbed");
}

#[test]
fn bad_produce_requests_get_kafka_error_codes_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("server.properties");
    std::fs::write(&config, "message.max.bytes=2000\n").expect("config");
    let data = dir.path().join("data");
    let broker = BrokerProcess::start_with(&data, "127.0.0.1:0", &["--config", config.to_str().expect("path")]);
    let mut stream = connect(&broker);
    assert_eq!(create_topic(&mut stream, "checked", 1, &[]).0, 0);

    let mut corrupt = batch(3, 0, None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    assert_eq!(produce_one(&mut stream, "checked", -1, Bytes::from(corrupt)).0, 2, "CORRUPT_MESSAGE");

    let mut two = batch(1, 0, None).to_vec();
    two.extend_from_slice(&batch(1, 0, None));
    let (code, message) = produce_one(&mut stream, "checked", 1, Bytes::from(two));
    assert_eq!(code, 87, "INVALID_RECORD");
    assert!(message.unwrap_or_default().contains("exactly one record batch"));

    let marker = runnel_log::control::marker_batch(9, 0, runnel_log::control::ControlType::Commit, 0, 0);
    let (code, message) = produce_one(&mut stream, "checked", 1, marker);
    assert_eq!(code, 87, "INVALID_RECORD for a control batch");
    assert!(message.unwrap_or_default().contains("control batches"));
    let transactional = runnel_log::testing::transactional_batch(2, 0, (9, 0, 0));
    let (code, message) = produce_one(&mut stream, "checked", 1, transactional);
    assert_eq!(code, 49, "INVALID_PRODUCER_ID_MAPPING for a transactional batch of no transaction");
    assert!(message.unwrap_or_default().contains("not in an open transaction"));

    assert_eq!(produce_one(&mut stream, "checked", 1, batch(200, 0, None)).0, 10, "MESSAGE_TOO_LARGE");
    assert_eq!(produce_one(&mut stream, "no-such-topic", 1, batch(1, 0, None)).0, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(produce_one(&mut stream, "checked", 5, batch(1, 0, None)).0, 21, "INVALID_REQUIRED_ACKS");

    let mut old_magic = batch(1, 0, None).to_vec();
    old_magic[16] = 1;
    assert_eq!(produce_one(&mut stream, "checked", 1, Bytes::from(old_magic)).0, 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT");

    // Nothing was stored: the first valid batch gets offset 0.
    assert_eq!(produce_one(&mut stream, "checked", -1, batch(2, 0, None)).0, 0);
    let fetch = |offset: i64, stream: &mut TcpStream| -> FetchResponse {
        let request = FetchRequest::default().with_max_wait_ms(0).with_max_bytes(1 << 20).with_topics(vec![
            FetchTopic::default().with_topic(TopicName(StrBytes::from_static_str("checked"))).with_partitions(vec![
                FetchPartition::default().with_partition(0).with_fetch_offset(offset).with_partition_max_bytes(1 << 20),
            ]),
        ]);
        call(stream, ApiKey::Fetch, 11, &request)
    };
    let response = fetch(0, &mut stream);
    let partition = &response.responses[0].partitions[0];
    assert_eq!((partition.error_code, partition.high_watermark), (0, 2));
    let mut records = partition.records.clone().expect("records");
    let header = runnel_log::batch::validate(&records.copy_to_bytes(records.remaining())).expect("valid batch");
    assert_eq!(header.base_offset, 0);
    assert_eq!(fetch(5, &mut stream).responses[0].partitions[0].error_code, 1, "OFFSET_OUT_OF_RANGE");
}

#[test]
fn topic_admin_refusals_use_kafka_codes_and_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let mut stream = connect(&broker);
    let (code, message) = create_topic(&mut stream, "replicated", 3, &[]);
    assert_eq!(code, 38, "INVALID_REPLICATION_FACTOR: {message}");
    assert!(message.contains("only 1 broker"), "{message}");
    assert_eq!(create_topic(&mut stream, "bad name!", 1, &[]).0, 17, "INVALID_TOPIC_EXCEPTION");
    let (code, message) = create_topic(&mut stream, "configured", 1, &[("retention.ms", "soon")]);
    assert_eq!(code, 40, "INVALID_CONFIG: {message}");
    assert_eq!(create_topic(&mut stream, "configured", 1, &[("no.such.config", "1")]).0, 40);
    let (code, message) = create_topic(&mut stream, "configured", 1, &[("compression.type", "brotli")]);
    assert_eq!(code, 40, "INVALID_CONFIG: {message}");
    assert!(message.contains("Invalid value brotli for configuration compression.type"), "{message}");
    assert_eq!(create_topic(&mut stream, "configured", 1, &[("retention.ms", "60000")]).0, 0);
    assert_eq!(create_topic(&mut stream, "configured", 1, &[]).0, 36, "TOPIC_ALREADY_EXISTS");
    for internal in ["__consumer_offsets", "__transaction_state"] {
        assert_eq!(create_topic(&mut stream, internal, 1, &[]).0, 36, "{internal}: runnel's own log");
    }
}
