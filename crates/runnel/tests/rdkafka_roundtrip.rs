//! Real rdkafka clients against `runnel serve`: topic admin, 100k records over 8 partitions
//! with acks=all, every compression codec (and a topic's own `compression.type`), and a
//! long-poll wake-up.

mod broker_process;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, Timestamp, TopicPartitionList};

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    create_topic_with(bootstrap, name, partitions, &[]).await;
}

async fn create_topic_with(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = admin(bootstrap).create_topics(&[topic], &AdminOptions::new()).await.expect("create_topics request");
    for result in results {
        result.expect("topic created");
    }
}

fn producer(bootstrap: &str, compression: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", compression)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer")
}

fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("group.id", "runnel-tests").set("enable.auto.commit", "false");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().expect("consumer")
}

fn assign_from_start(consumer: &BaseConsumer, topic: &str, partitions: i32) {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning).expect("offset");
    }
    consumer.assign(&list).expect("assign");
}

/// Produces `count` records round-robin over `partitions`, each carrying its per-partition
/// sequence number in the key, value, a header and the timestamp; returns once all are acked.
async fn produce_numbered(producer: &FutureProducer, topic: &str, partitions: i32, count: usize, base_ts: i64) {
    let mut deliveries = Vec::with_capacity(count);
    for n in 0..count {
        let partition = (n % partitions as usize) as i32;
        let seq = n / partitions as usize;
        let key = format!("key-{partition}-{seq}");
        let value = format!("value-{partition}-{seq}-{}", "x".repeat(64));
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(&key)
            .payload(&value)
            .timestamp(base_ts + n as i64)
            .headers(OwnedHeaders::new().insert(Header { key: "seq", value: Some(&seq.to_string()) }));
        deliveries.push(producer.send_result(record).expect("queue record"));
    }
    for delivery in deliveries {
        delivery.await.expect("delivery future").expect("record acknowledged");
    }
}

/// Reads `count` records and checks order, keys, values, headers and timestamps per partition.
fn consume_and_check(consumer: &BaseConsumer, partitions: i32, count: usize, base_ts: i64) {
    let mut next_seq: HashMap<i32, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut received = 0;
    while received < count {
        assert!(Instant::now() < deadline, "timed out after {received} of {count} records");
        let Some(message) = consumer.poll(Duration::from_millis(500)) else { continue };
        let message = message.expect("no consumer error");
        let partition = message.partition();
        let seq = next_seq.entry(partition).or_insert(0);
        let key = std::str::from_utf8(message.key().expect("key")).expect("utf8");
        assert_eq!(key, format!("key-{partition}-{seq}"), "records of partition {partition} out of order");
        let value = std::str::from_utf8(message.payload().expect("value")).expect("utf8");
        assert!(value.starts_with(&format!("value-{partition}-{seq}-")), "{value}");
        let headers = message.headers().expect("headers");
        let header = headers.get(0);
        assert_eq!(header.key, "seq");
        assert_eq!(header.value, Some(seq.to_string().as_bytes()));
        let n = *seq * partitions as usize + partition as usize;
        assert_eq!(message.timestamp(), Timestamp::CreateTime(base_ts + n as i64));
        assert_eq!(message.offset(), *seq as i64);
        *seq += 1;
        received += 1;
    }
    assert_eq!(next_seq.values().sum::<usize>(), count);
    assert!(consumer.poll(Duration::from_millis(300)).is_none(), "no records beyond those produced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_records_over_eight_partitions_round_trip_in_order_with_acks_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "events", 8).await;
    let base_ts = 1_700_000_000_000;
    let producer = producer(&bootstrap, "none");
    produce_numbered(&producer, "events", 8, 100_000, base_ts).await;
    let consumer = consumer(&bootstrap, &[]);
    assign_from_start(&consumer, "events", 8);
    tokio::task::block_in_place(|| consume_and_check(&consumer, 8, 100_000, base_ts));
    let metadata = consumer.fetch_metadata(Some("events"), Duration::from_secs(5)).expect("metadata");
    assert_eq!(metadata.topics()[0].partitions().len(), 8);
    for p in 0..8 {
        let (low, high) = consumer.fetch_watermarks("events", p, Duration::from_secs(5)).expect("watermarks");
        assert_eq!((low, high), (0, 12_500), "partition {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_snappy_lz4_and_zstd_batches_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("compressed-{codec}");
        create_topic(&bootstrap, &topic, 2).await;
        let producer = producer(&bootstrap, codec);
        produce_numbered(&producer, &topic, 2, 2_000, 1_000).await;
        producer.flush(Duration::from_secs(10)).expect("flush");
        let consumer = consumer(&bootstrap, &[]);
        assign_from_start(&consumer, &topic, 2);
        tokio::task::block_in_place(|| consume_and_check(&consumer, 2, 2_000, 1_000));
    }
    // The batches are stored as the producer compressed them: the codec bits are on disk.
    assert_eq!(stored_codec(&dir.path().join("compressed-zstd-0")), 4, "zstd codec bits in the stored batch");
}

/// The codec bits of the first batch stored in `partition_dir`.
fn stored_codec(partition_dir: &std::path::Path) -> i16 {
    let bytes = std::fs::read(partition_dir.join("00000000000000000000.log")).expect("read segment");
    i16::from_be_bytes([bytes[21], bytes[22]]) & 0x7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_with_its_own_compression_type_stores_batches_recompressed_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    // lz4 from an idempotent producer into a zstd topic, and zstd into an uncompressed one.
    for (topic_codec, producer_codec, stored) in [("zstd", "lz4", 4), ("uncompressed", "zstd", 0)] {
        let topic = format!("stored-{topic_codec}");
        create_topic_with(&bootstrap, &topic, 2, &[("compression.type", topic_codec)]).await;
        let producer = producer(&bootstrap, producer_codec);
        produce_numbered(&producer, &topic, 2, 2_000, 1_000).await;
        let consumer = consumer(&bootstrap, &[]);
        assign_from_start(&consumer, &topic, 2);
        tokio::task::block_in_place(|| consume_and_check(&consumer, 2, 2_000, 1_000));
        assert_eq!(stored_codec(&dir.path().join(format!("{topic}-0"))), stored, "{topic}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_is_woken_by_new_data_well_before_its_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "live", 1).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("acks", "1")
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    let consumer = consumer(&bootstrap, &[("fetch.wait.max.ms", "500"), ("fetch.min.bytes", "1")]);
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("live", 0, Offset::End).expect("offset");
    consumer.assign(&list).expect("assign");
    // Let the consumer settle into long polls on the empty partition.
    tokio::task::block_in_place(|| assert!(consumer.poll(Duration::from_millis(1500)).is_none()));
    let mut latencies = Vec::new();
    for round in 0..7 {
        // Start each round at a different point of the consumer's 500 ms wait.
        tokio::time::sleep(Duration::from_millis(170 + 37 * round)).await;
        let sent = Instant::now();
        producer
            .send(FutureRecord::<str, str>::to("live").payload("ping"), Duration::from_secs(5))
            .await
            .expect("produce");
        let message = tokio::task::block_in_place(|| consumer.poll(Duration::from_secs(2)));
        let latency = sent.elapsed();
        assert!(message.expect("a record arrives").is_ok());
        latencies.push(latency);
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!("produce-to-consume latencies with fetch.wait.max.ms=500: {latencies:?}");
    // Without the wake-up a record would wait for the fetch deadline: 250 ms on average.
    assert!(median < Duration::from_millis(50), "median {median:?}, all {latencies:?}");
    assert!(latencies.iter().all(|l| *l < Duration::from_millis(250)), "{latencies:?}");
}
