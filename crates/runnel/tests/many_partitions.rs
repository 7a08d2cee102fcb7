//! A data directory with more partitions than the broker may open files starts and serves every
//! partition: segment files rotate through a budget of descriptors instead of exhausting them.

mod broker_process;
mod raw_client;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 600;
const OPEN_FILE_LIMIT: usize = 256;

/// `runnel serve` under `ulimit -n` (soft and hard, so serve cannot raise it).
fn broker_with_few_files(data: &Path) -> BrokerProcess {
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!(r#"ulimit -n {OPEN_FILE_LIMIT} && exec "$@""#), "sh"])
        .arg(env!("CARGO_BIN_EXE_runnel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data);
    BrokerProcess::spawn(command, data)
}

async fn produce_to_every_partition(bootstrap: &str, round: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let sends = (0..PARTITIONS).map(|p| {
        let producer = &producer;
        async move {
            let value = format!("round {round} partition {p}");
            producer
                .send(FutureRecord::<str, str>::to("wide").partition(p).payload(&value), Duration::from_secs(30))
                .await
                .unwrap_or_else(|(e, _)| panic!("produce to partition {p}: {e}"))
        }
    });
    futures::future::join_all(sends).await;
}

/// Reads every partition from the beginning: values by partition.
fn read_every_partition(bootstrap: &str, expected_per_partition: usize) -> HashMap<i32, Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "wide-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset("wide", p, Offset::Beginning).expect("offset");
    }
    consumer.assign(&list).expect("assign");
    let mut seen: HashMap<i32, Vec<String>> = HashMap::new();
    let mut total = 0;
    let want = PARTITIONS as usize * expected_per_partition;
    let deadline = Instant::now() + Duration::from_secs(60);
    while total < want && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("consume");
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            seen.entry(message.partition()).or_default().push(value);
            total += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_partitions_than_the_open_file_limit_start_and_serve_after_a_crash_and_a_clean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("wide")))
            .with_num_partitions(PARTITIONS)
            .with_replication_factor(1),
    ]);
    let created: CreateTopicsResponse =
        raw_client::call(&mut raw_client::connect(&broker), ApiKey::CreateTopics, 7, &request);
    assert_eq!(created.topics[0].error_code, 0);
    produce_to_every_partition(&broker.bootstrap(), 0).await;
    broker.kill();

    // Round 1 starts after the crash (every last segment is scanned) and stops cleanly, so
    // round 2 starts without a scan.
    for (round, ends_with_crash) in [(1, false), (2, true)] {
        let broker = broker_with_few_files(&data);
        assert!(broker.open_fds() <= OPEN_FILE_LIMIT);
        produce_to_every_partition(&broker.bootstrap(), round).await;
        let bootstrap = broker.bootstrap();
        let seen =
            tokio::task::spawn_blocking(move || read_every_partition(&bootstrap, round + 1)).await.expect("reader");
        assert_eq!(seen.len(), PARTITIONS as usize, "round {round}: partitions read");
        for (p, values) in &seen {
            let expected: Vec<String> = (0..=round).map(|r| format!("round {r} partition {p}")).collect();
            assert_eq!(values, &expected, "partition {p}");
        }
        let fds = broker.open_fds();
        assert!(fds <= OPEN_FILE_LIMIT, "{fds} descriptors open");
        if ends_with_crash {
            broker.kill();
        } else {
            assert!(broker.terminate(), "clean stop");
        }
    }
}
