//! Connections hold nothing once their clients are gone: waiting fetches are cancelled when the
//! client closes, idle connections and half-sent frames are closed after their timeouts, and
//! strings clients choose reach the log escaped.

mod broker_process;
mod raw_client;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use raw_client::{connect, create_topic, encode_request, read_response, send_frame};

/// A Fetch (v12, by name) of partition 0 of `topic` at its end, waiting up to `max_wait_ms`.
fn waiting_fetch(topic: &str, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1024 * 1024)
        .with_topics(vec![
            FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.to_string()))).with_partitions(
                vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1024 * 1024),
                ],
            ),
        ])
}

/// Waits until `condition` holds, up to `limit`; returns how long it took.
fn within(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Whether the server closed `stream` (read returns end of file or an error).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut byte = [0u8; 1];
    !matches!(stream.read(&mut byte), Ok(1))
}

#[test]
fn waiting_fetches_whose_clients_close_release_their_sockets_and_memory_within_5_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(&dir.path().join("data"));
    assert_eq!(create_topic(&mut connect(&broker), "quiet", 1, &[]).0, 0);
    std::thread::sleep(Duration::from_millis(200));
    let (fds_before, rss_before) = (broker.open_fds(), broker.rss_bytes());

    let request = encode_request(ApiKey::Fetch, 12, &waiting_fetch("quiet", 3_600_000));
    let mut clients: Vec<TcpStream> = (0..100).map(|_| connect(&broker)).collect();
    for client in &mut clients {
        send_frame(client, &request);
    }
    assert!(within(Duration::from_secs(5), || broker.open_fds() >= fds_before + 100).is_some(), "fetches parked");
    let fds_parked = broker.open_fds();
    drop(clients);

    let released = within(Duration::from_secs(5), || broker.open_fds() <= fds_before);
    assert!(
        released.is_some(),
        "sockets still held: {} before, {fds_parked} parked, {} now",
        fds_before,
        broker.open_fds()
    );
    let rss_after = broker.rss_bytes();
    assert!(
        rss_after < rss_before + 8 * 1024 * 1024,
        "RSS {rss_before} before the fetches, {rss_after} after their clients left"
    );
    // And a live client's long poll still answers at its deadline.
    let mut live = connect(&broker);
    send_frame(&mut live, &encode_request(ApiKey::Fetch, 12, &waiting_fetch("quiet", 300)));
    let mut body = read_response(&mut live, ApiKey::Fetch, 12);
    let response: FetchResponse = kafka_protocol::protocol::Decodable::decode(&mut body, 12).expect("decode");
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
}

#[test]
fn idle_connections_and_half_sent_frames_are_closed_but_a_long_poll_is_not_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("server.properties");
    std::fs::write(&config, "connections.max.idle.ms=600\nrequest.read.timeout.ms=400\n").expect("config");
    let broker = BrokerProcess::start_with(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--config", config.to_str().expect("path")],
    );
    assert_eq!(create_topic(&mut connect(&broker), "quiet", 1, &[]).0, 0);
    let fds_before = broker.open_fds();

    let mut idle: Vec<TcpStream> = (0..20).map(|_| connect(&broker)).collect();
    let mut half_prefix: Vec<TcpStream> = (0..20).map(|_| connect(&broker)).collect();
    for stream in &mut half_prefix {
        stream.write_all(&[0, 0]).expect("half a size prefix");
    }
    let mut half_body: Vec<TcpStream> = (0..20).map(|_| connect(&broker)).collect();
    for stream in &mut half_body {
        stream.write_all(&[0, 0, 0, 100, 0, 18, 0]).expect("a frame of 100 bytes, 3 of them sent");
    }
    // A long poll that outlives the idle timeout: the connection is busy, not idle.
    let mut polling = connect(&broker);
    send_frame(&mut polling, &encode_request(ApiKey::Fetch, 12, &waiting_fetch("quiet", 1_500)));

    let started = Instant::now();
    for stream in half_prefix.iter_mut().chain(half_body.iter_mut()).chain(idle.iter_mut()) {
        assert!(closed_by_server(stream), "closed after {:?}", started.elapsed());
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let mut body = read_response(&mut polling, ApiKey::Fetch, 12);
    let response: FetchResponse = kafka_protocol::protocol::Decodable::decode(&mut body, 12).expect("decode");
    assert_eq!(response.responses[0].partitions[0].error_code, 0, "the long poll answered at its deadline");
    drop(polling);
    assert!(
        within(Duration::from_secs(3), || broker.open_fds() <= fds_before).is_some(),
        "descriptors released: {fds_before} before, {} now",
        broker.open_fds()
    );
}

#[test]
fn control_characters_in_client_ids_reach_the_log_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("broker.log");
    let broker = BrokerProcess::start_logging_to(&dir.path().join("data"), &[], &log);
    let mut stream = connect(&broker);
    let request = kafka_protocol::messages::CreateTopicsRequest::default().with_topics(vec![
        kafka_protocol::messages::create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("logged")))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let mut frame = bytes::BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::CreateTopics as i16)
        .with_request_api_version(7)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("evil\u{0}\u{7f}\n2026-01-01T00:00:00Z ERROR forged\u{1b}[31m")))
        .encode(&mut frame, ApiKey::CreateTopics.request_header_version(7))
        .expect("header");
    request.encode(&mut frame, 7).expect("body");
    send_frame(&mut stream, &frame);
    read_response(&mut stream, ApiKey::CreateTopics, 7);
    assert!(broker.terminate());
    let bytes = std::fs::read(&log).expect("read the log");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(r"evil\x00\x7f\x0a2026-01-01T00:00:00Z ERROR forged\x1b[31m"), "{text}");
    let controls: Vec<u8> = bytes.iter().copied().filter(|&b| (b < 0x20 && b != b'\n') || b == 0x7f).collect();
    assert!(controls.is_empty(), "raw control bytes in the log: {controls:?}");
    assert!(!text.lines().any(|line| line.starts_with("2026-01-01")), "a forged line");
}

#[test]
fn a_client_that_pipelines_more_waiting_fetches_than_the_queue_holds_and_leaves_releases_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(&dir.path().join("data"));
    assert_eq!(create_topic(&mut connect(&broker), "quiet", 1, &[]).0, 0);
    std::thread::sleep(Duration::from_millis(200));
    let fds_before = broker.open_fds();
    let request = encode_request(ApiKey::Fetch, 12, &waiting_fetch("quiet", 3_600_000));
    let mut client = connect(&broker);
    for _ in 0..100 {
        send_frame(&mut client, &request);
    }
    assert!(within(Duration::from_secs(5), || broker.open_fds() > fds_before).is_some(), "connected");
    std::thread::sleep(Duration::from_millis(300));
    drop(client);
    let released = within(Duration::from_secs(5), || broker.open_fds() <= fds_before);
    assert!(released.is_some(), "the connection is still held: {} descriptors, {fds_before} before", broker.open_fds());
}
