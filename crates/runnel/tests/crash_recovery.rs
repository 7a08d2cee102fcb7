//! Durability across a SIGKILL: every acknowledged record is read back exactly once after a
//! restart, and the broker takes new writes. Also the clean SIGTERM path.

mod broker_process;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;

async fn create_topic(bootstrap: &str, name: &str) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    for result in admin
        .create_topics(&[NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create")
    {
        result.expect("created");
    }
}

fn idempotent_producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "20000")
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("producer")
}

/// Every record value in the topic, read from offset 0 to the high watermark.
fn read_everything(bootstrap: &str, topic: &str) -> Vec<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "crash-check")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    let mut remaining = 0;
    for p in 0..PARTITIONS {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks");
        remaining += high;
        list.add_partition_offset(topic, p, Offset::Beginning).expect("offset");
    }
    consumer.assign(&list).expect("assign");
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while remaining > 0 {
        assert!(Instant::now() < deadline, "timed out with {remaining} records unread");
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.expect("consume");
            let text = std::str::from_utf8(message.payload().expect("payload")).expect("utf8");
            values.push(text.parse().expect("number"));
            remaining -= 1;
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill_once_each_and_new_writes_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Recovery checkpoints (indexes and producer snapshots of fsynced data) every 20 ms while
    // the producer writes, so the restart recovers from one rather than from the segment start.
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("server.properties");
    std::fs::write(&config, "log.flush.offset.checkpoint.interval.ms=20\nlog.recovery.checkpoint.min.bytes=1\n")
        .expect("write config");
    let config = config.to_str().expect("path");
    let broker = BrokerProcess::start_with(dir.path(), "127.0.0.1:0", &["--config", config]);
    let listen = broker.addr.to_string();
    create_topic(&listen, "durable").await;

    let producer = idempotent_producer(&listen);
    let acked = Arc::new(Mutex::new(HashSet::<u64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (producer, acked, stop) = (producer.clone(), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut chunk = Vec::new();
                for _ in 0..200 {
                    let value = n.to_string();
                    let record = FutureRecord::<str, str>::to("durable").payload(&value).key(&value);
                    chunk.push((n, producer.send_result(record).expect("queue")));
                    n += 1;
                }
                for (id, delivery) in chunk {
                    if let Ok(Ok(_)) = delivery.await {
                        acked.lock().expect("lock").insert(id);
                    }
                }
            }
        })
    };
    while acked.lock().expect("lock").len() < 5_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let points = std::fs::read_to_string(dir.path().join("recovery-point-offset-checkpoint")).expect("recovery points");
    let durable: Vec<i64> = points
        .lines()
        .filter_map(|l| l.strip_prefix("durable "))
        .map(|l| l.split_whitespace().nth(1).and_then(|o| o.parse().ok()).expect("topic partition offset"))
        .collect();
    assert!(points.starts_with("0\n") && durable.len() == 4 && durable.iter().sum::<i64>() > 0, "{points}");
    broker.kill();
    let acked_at_kill = acked.lock().expect("lock").len();

    // Same port and data directory: the producer reconnects and carries on.
    let broker = BrokerProcess::start_with(dir.path(), &listen, &["--config", config]);
    let target = acked_at_kill + 2_000;
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < target {
        assert!(Instant::now() < deadline, "producer made no progress after the restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.expect("writer");

    let values = tokio::task::block_in_place(|| read_everything(&broker.bootstrap(), "durable"));
    let mut seen = HashSet::new();
    let duplicates: Vec<u64> = values.iter().copied().filter(|v| !seen.insert(*v)).collect();
    assert!(duplicates.is_empty(), "duplicated records: {:?}", &duplicates[..duplicates.len().min(10)]);
    let acked = acked.lock().expect("lock").clone();
    let lost: Vec<u64> = acked.iter().copied().filter(|v| !seen.contains(v)).collect();
    assert!(lost.is_empty(), "{} acknowledged records lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(10)]);
    eprintln!("acked before kill: {acked_at_kill}, acked in all: {}, stored: {}", acked.len(), values.len());

    let fresh = idempotent_producer(&broker.bootstrap());
    let delivery = fresh
        .send(FutureRecord::<str, str>::to("durable").payload("999999999").partition(0), Duration::from_secs(10))
        .await
        .expect("new write accepted");
    assert_eq!(delivery.partition, 0);
    assert!(delivery.offset > 0, "appended after the recovered records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_the_restart_keeps_topics_and_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    create_topic(&broker.bootstrap(), "kept").await;
    let producer = idempotent_producer(&broker.bootstrap());
    for n in 0..100u64 {
        let value = n.to_string();
        producer
            .send(FutureRecord::<str, str>::to("kept").payload(&value), Duration::from_secs(5))
            .await
            .expect("send");
    }
    drop(producer);
    assert!(broker.terminate(), "runnel serve exits 0 on SIGTERM");
    assert!(dir.path().join(".runnel_clean_shutdown").exists(), "clean-shutdown marker written");
    let broker = BrokerProcess::start(dir.path());
    assert!(!dir.path().join(".runnel_clean_shutdown").exists(), "marker consumed at startup");
    let mut values = tokio::task::block_in_place(|| read_everything(&broker.bootstrap(), "kept"));
    values.sort_unstable();
    assert_eq!(values, (0..100).collect::<Vec<u64>>());
}
