//! A full disk: produce gets KAFKA_STORAGE_ERROR, every acknowledged record stays readable, the
//! broker keeps serving, and writes succeed again once space is freed. The broker runs on a
//! 4 MiB tmpfs in a private mount namespace (`unshare`, from util-linux), so no root is needed.

mod broker_process;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const RECORD_SIZE: usize = 16 * 1024;

/// `runnel serve` on a fresh 4 MiB tmpfs mounted at `mount_point`, visible to the broker only.
fn broker_on_small_disk(mount_point: &Path) -> BrokerProcess {
    let script = r#"mount -t tmpfs -o size=4m runnel-full "$1" && shift && exec "$@""#;
    let mut command = Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script, "sh"])
        .arg(mount_point)
        .arg(env!("CARGO_BIN_EXE_runnel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir"])
        .arg(mount_point);
    BrokerProcess::spawn(command, mount_point)
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("retries", "0")
        .set("enable.idempotence", "false")
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("{i:08}").into_bytes();
    v.resize(RECORD_SIZE, b'.');
    v
}

/// Produces one record at a time until the broker refuses one; returns how many were acked
/// and the refusal.
async fn produce_until_refused(producer: &FutureProducer, topic: &str) -> (usize, KafkaError) {
    for i in 0..10_000 {
        let payload = value(i);
        let record = FutureRecord::<str, [u8]>::to(topic).partition(0).payload(&payload);
        match producer.send(record, Duration::from_secs(10)).await {
            Ok(delivery) => assert_eq!(delivery.offset, i as i64, "acked offsets are dense"),
            Err((error, _)) => return (i, error),
        }
    }
    panic!("10,000 records of {RECORD_SIZE} bytes fitted on a 4 MiB disk");
}

fn read_all(bootstrap: &str, topic: &str) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "disk-full-check")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (low, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(10)).expect("watermarks");
    assert_eq!(low, 0);
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Beginning).expect("offset");
    consumer.assign(&list).expect("assign");
    let mut values = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (values.len() as i64) < high && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            values.push(message.expect("message").payload().expect("payload").to_vec());
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_writes_with_a_storage_error_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = broker_on_small_disk(dir.path());
    let bootstrap = broker.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("admin");
    let topics = [NewTopic::new("fills", 1, TopicReplication::Fixed(1))];
    for result in admin.create_topics(&topics, &AdminOptions::new()).await.expect("create") {
        result.expect("created");
    }
    let producer = producer(&bootstrap);

    let (acked, error) = produce_until_refused(&producer, "fills").await;
    eprintln!("{acked} records of {RECORD_SIZE} bytes acked before the disk filled");
    assert!(acked > 100, "only {acked} records fitted");
    assert_eq!(error, KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError));
    // Refused again, not stuck, and the log did not move.
    let (again, error) = produce_until_refused(&producer, "fills").await;
    assert_eq!(again, 0, "a record was acked on a full disk");
    assert_eq!(error, KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError));

    // Everything acknowledged reads back, in order, and nothing else is there.
    let values = read_all(&bootstrap, "fills");
    assert_eq!(values.len(), acked);
    assert!(values.iter().enumerate().all(|(i, v)| *v == value(i)), "a record came back altered");

    // Deleting the topic frees the space and writes are accepted again.
    for result in admin.delete_topics(&["fills"], &AdminOptions::new()).await.expect("delete") {
        result.expect("deleted");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let record = FutureRecord::<str, str>::to("after").partition(0).payload("room again");
        match producer.send(record, Duration::from_secs(10)).await {
            Ok(delivery) => {
                assert_eq!(delivery.offset, 0);
                break;
            }
            Err((e, _)) if Instant::now() < deadline => {
                eprintln!("waiting for space: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err((e, _)) => panic!("writes still refused 30 s after the topic was deleted: {e}"),
        }
    }
    assert!(broker.terminate(), "the broker exits cleanly");
}
