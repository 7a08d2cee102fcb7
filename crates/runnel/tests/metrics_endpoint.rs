//! `/metrics` reports exact values: records in, offsets, a group's lag in records and in
//! seconds (from the record's own timestamp), failures; bad HTTP gets a 4xx; and the HTTP
//! listener's failure leaves the Kafka listener serving.

mod broker_process;
mod raw_client;
mod scrape;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_process::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use scrape::{http, sample, scrape};

const RECORDS: i64 = 1_000;
const COMMITTED: i64 = 300;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_values_are_exact_for_records_offsets_lag_and_time_lag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    let (code, _) = raw_client::create_topic(&mut raw_client::connect(&broker), "metered", 1, &[]);
    assert_eq!(code, 0);
    let before = scrape(&broker);
    assert_eq!(sample(&before, "kafka_server_brokertopicmetrics_messagesin_total", &[("topic", "metered")]), Some(0.0));

    // Records an hour old, a second apart: record i has timestamp base + i s.
    let base = now_ms() - 3_600_000;
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).set("linger.ms", "5").create().expect("producer");
    let sends = (0..RECORDS).map(|i| {
        let producer = &producer;
        async move {
            let value = format!("record {i}");
            producer
                .send(
                    FutureRecord::<str, str>::to("metered").partition(0).payload(&value).timestamp(base + i * 1_000),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce")
        }
    });
    futures::future::join_all(sends).await;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "metered-group")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("metered", 0, Offset::Offset(COMMITTED)).expect("offset");
    consumer.commit(&offsets, CommitMode::Sync).expect("commit");

    let asked = now_ms();
    let text = scrape(&broker);
    let answered = now_ms();
    let topic = [("topic", "metered")];
    assert_eq!(sample(&text, "kafka_server_brokertopicmetrics_messagesin_total", &topic), Some(RECORDS as f64));
    assert!(
        sample(&text, "kafka_server_brokertopicmetrics_bytesin_total", &topic).expect("bytesin") > RECORDS as f64 * 8.0
    );
    assert_eq!(sample(&text, "kafka_topic_partitions", &topic), Some(1.0));
    let partition = [("topic", "metered"), ("partition", "0")];
    assert_eq!(sample(&text, "kafka_topic_partition_current_offset", &partition), Some(RECORDS as f64));
    assert_eq!(sample(&text, "kafka_topic_partition_oldest_offset", &partition), Some(0.0));
    assert!(sample(&text, "kafka_log_log_size", &partition).expect("log size") > 0.0);
    let group = [("consumergroup", "metered-group"), ("topic", "metered"), ("partition", "0")];
    assert_eq!(sample(&text, "kafka_consumergroup_current_offset", &group), Some(COMMITTED as f64));
    assert_eq!(sample(&text, "kafka_consumergroup_lag", &group), Some((RECORDS - COMMITTED) as f64));
    assert_eq!(
        sample(&text, "kafka_consumergroup_lag_sum", &[("consumergroup", "metered-group"), ("topic", "metered")]),
        Some((RECORDS - COMMITTED) as f64)
    );
    assert_eq!(sample(&text, "kafka_consumergroup_members", &[("consumergroup", "metered-group")]), Some(0.0));
    // The time lag is now minus the timestamp of record 300, the first not committed.
    let committed_ts = base + COMMITTED * 1_000;
    let time_lag = sample(
        &text,
        "kafka_consumergroup_group_lag_seconds",
        &[("group", "metered-group"), ("topic", "metered"), ("partition", "0")],
    )
    .expect("time lag");
    let (low, high) = ((asked - committed_ts) as f64 / 1000.0, (answered - committed_ts) as f64 / 1000.0);
    assert!(time_lag >= low - 0.001 && time_lag <= high + 0.001, "time lag {time_lag} outside [{low}, {high}]");
    assert!(sample(&text, "runnel_requests_total", &[("api", "Produce")]).expect("produce requests") >= 1.0);
    assert!(sample(&text, "runnel_request_duration_seconds_count", &[("api", "Produce")]).expect("histogram") >= 1.0);
    assert!(
        sample(&text, "runnel_fsync_duration_seconds_count", &[]).expect("fsyncs") >= 1.0,
        "the commit was fsynced"
    );
    assert!(sample(&text, "runnel_connections", &[]).expect("connections") >= 1.0);
    assert!(sample(&text, "runnel_log_dir_free_bytes", &[]).expect("free disk") > 0.0);
    assert!(sample(&text, "process_resident_memory_bytes", &[]).expect("rss") > 1e6);
    assert!(sample(&text, "process_open_fds", &[]).expect("fds") > 3.0);
    assert!(sample(&text, "process_cpu_seconds_total", &[]).is_some());

    // Caught up: lag 0 in records and in seconds. Reading the records counts bytes out.
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("metered", 0, Offset::Offset(RECORDS)).expect("offset");
    consumer.commit(&offsets, CommitMode::Sync).expect("commit");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset("metered", 0, Offset::Beginning).expect("offset");
    consumer.assign(&assignment).expect("assign");
    let mut read = 0;
    while read < RECORDS {
        if let Some(message) = consumer.poll(Duration::from_secs(5)) {
            message.expect("consume");
            read += 1;
        }
    }
    let text = scrape(&broker);
    assert_eq!(sample(&text, "kafka_consumergroup_lag", &group), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "kafka_consumergroup_group_lag_seconds",
            &[("group", "metered-group"), ("topic", "metered"), ("partition", "0")]
        ),
        Some(0.0)
    );
    let bytes_out = sample(&text, "kafka_server_brokertopicmetrics_bytesout_total", &topic).expect("bytesout");
    let bytes_in = sample(&text, "kafka_server_brokertopicmetrics_bytesin_total", &topic).expect("bytesin");
    assert!(bytes_out >= bytes_in, "every record was sent once at least: {bytes_out} out, {bytes_in} in");

    // A produce to a partition the topic does not have is a failed produce of that topic.
    let (code, _) = raw_client::produce_one(
        &mut raw_client::connect(&broker),
        "no-such-topic",
        1,
        runnel_log::testing::batch(1, 1_000, None),
    );
    assert_eq!(code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let text = scrape(&broker);
    assert_eq!(sample(&text, "kafka_server_brokertopicmetrics_failedproducerequests_total", &[]), Some(1.0));
    assert_eq!(sample(&text, "kafka_server_brokertopicmetrics_messagesin_total", &[]), Some(RECORDS as f64));
}

#[test]
fn bad_http_gets_a_4xx_and_the_kafka_listener_is_never_affected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(&dir.path().join("one"));
    let http_addr = broker.http.expect("HTTP listener");
    assert_eq!(http(http_addr, "GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").0, 404);
    assert_eq!(
        http(http_addr, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").0,
        405
    );
    assert_eq!(http(http_addr, "\u{1}\u{2} garbage \r\n\r\n").0, 400);
    assert_eq!(http(http_addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n").0, 400);
    assert_eq!(raw_client::create_topic(&mut raw_client::connect(&broker), "still-served", 1, &[]).0, 0);

    // A second broker whose HTTP address is taken starts anyway and serves Kafka clients.
    let taken = http_addr.to_string();
    let second = BrokerProcess::start_with(&dir.path().join("two"), "127.0.0.1:0", &["--http-listen", &taken]);
    assert!(second.http.is_none());
    assert_eq!(raw_client::create_topic(&mut raw_client::connect(&second), "served-without-http", 1, &[]).0, 0);
}
