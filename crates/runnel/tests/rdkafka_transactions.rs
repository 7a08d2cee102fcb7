//! Transactions with the rdkafka crate against `runnel serve`: one transaction committed, one
//! aborted, one left open. A read_committed consumer sees only the committed one and waits at
//! the last stable offset; read_uncommitted sees all three; once the third commits,
//! read_committed sees it. `runnel consume --isolation` reads as each level does, and
//! `runnel transaction list|describe|describe-producers` show the open transaction.

mod broker_process;

use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "rust-txn";

fn read_all(bootstrap: &str, isolation: &str) -> (Vec<String>, i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{isolation}"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(TOPIC, 0, Offset::Beginning).expect("offset");
    consumer.assign(&list).expect("assign");
    let mut values = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_millis(1500) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            values.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
            last = Instant::now();
        }
    }
    let position = consumer.position().expect("position");
    let offset = match position.find_partition(TOPIC, 0).expect("partition").offset() {
        Offset::Offset(o) => o,
        other => panic!("no position: {other:?}"),
    };
    (values, offset)
}

fn send(producer: &ThreadedProducer<DefaultProducerContext>, prefix: &str) {
    for i in 0..3 {
        let value = format!("{prefix}-{i}");
        producer.send(BaseRecord::<(), String>::to(TOPIC).payload(&value).partition(0)).expect("queue");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_aborted_and_open_transactions_as_each_isolation_level_sees_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).create().expect("admin");
    for result in admin
        .create_topics(&[NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create")
    {
        result.expect("topic created");
    }
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", "rust-txn")
        .create()
        .expect("producer");
    let timeout = Duration::from_secs(10);
    tokio::task::block_in_place(|| {
        producer.init_transactions(timeout).expect("init");
        producer.begin_transaction().expect("begin");
        send(&producer, "committed");
        producer.commit_transaction(timeout).expect("commit");
        producer.begin_transaction().expect("begin");
        send(&producer, "aborted");
        producer.abort_transaction(timeout).expect("abort");
        producer.begin_transaction().expect("begin");
        send(&producer, "open");

        let named = |prefixes: &[&str]| -> Vec<String> {
            prefixes.iter().flat_map(|p| (0..3).map(move |i| format!("{p}-{i}"))).collect()
        };
        // Offsets 0-2 committed, 3 its marker, 4-6 aborted, 7 its marker, 8-10 open.
        assert_eq!(read_all(&bootstrap, "read_committed"), (named(&["committed"]), 8));
        assert_eq!(read_all(&bootstrap, "read_uncommitted").0, named(&["committed", "aborted", "open"]));
        // `runnel consume --isolation` reads the same way.
        let cli = |extra: &[&str]| -> Vec<String> {
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
                .args([&["consume", TOPIC, "--from-beginning", "-e"], extra].concat())
                .env("RUNNEL_BROKERS", &bootstrap)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run runnel consume");
            // -e must stop at the end of what the isolation level can read, not wait for more.
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().expect("wait").is_none() {
                if Instant::now() > deadline {
                    child.kill().expect("kill");
                    panic!("runnel consume {extra:?} -e did not stop at the end");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let output = child.wait_with_output().expect("output");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
        };
        assert_eq!(cli(&["--isolation", "read_committed"]), named(&["committed"]));
        assert_eq!(cli(&[]), named(&["committed", "aborted", "open"]), "read_uncommitted by default");

        // `runnel transaction`, as kafka-transactions.sh shows the open transaction.
        let transaction = |args: &[&str]| -> serde_json::Value {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
                .args([&["transaction"], args, &["--output", "json"]].concat())
                .env("RUNNEL_BROKERS", &bootstrap)
                .output()
                .expect("run runnel transaction");
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            serde_json::from_slice(&output.stdout).expect("JSON")
        };
        let listed = transaction(&["list"]);
        assert_eq!(listed[0]["transactional_id"], "rust-txn");
        assert_eq!(listed[0]["state"], "Ongoing");
        assert_eq!(transaction(&["list", "--state", "CompleteCommit"]), serde_json::json!([]));
        let described = transaction(&["describe", "rust-txn"]);
        assert_eq!(described["state"], "Ongoing");
        assert_eq!(described["partitions"], serde_json::json!([[TOPIC, 0]]));
        assert_eq!(described["producer_id"], listed[0]["producer_id"]);
        let producers = transaction(&["describe-producers", "--topic", TOPIC]);
        assert_eq!(producers[0]["producer_id"], listed[0]["producer_id"]);
        assert_eq!(producers[0]["transaction_start_offset"], 8, "the open transaction starts at offset 8");
        assert_eq!(producers[0]["last_sequence"], 8, "nine records sent, sequences 0-8");
        let refused = |args: &[&str], expected: &str| {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
                .args([&["transaction"], args].concat())
                .env("RUNNEL_BROKERS", &bootstrap)
                .output()
                .expect("run runnel transaction");
            assert!(!output.status.success(), "{args:?} succeeded");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(expected) && stderr.lines().count() == 1, "{args:?}: {stderr}");
        };
        refused(&["describe", "nope"], "TRANSACTIONAL_ID_NOT_FOUND");
        refused(&["describe-producers", "--topic", "nope"], "UNKNOWN_TOPIC_OR_PARTITION");
        refused(&["list", "--state", "Sleeping"], "unknown transaction state Sleeping");

        producer.commit_transaction(timeout).expect("commit");
        assert_eq!(read_all(&bootstrap, "read_committed"), (named(&["committed", "open"]), 12));
    });
}
