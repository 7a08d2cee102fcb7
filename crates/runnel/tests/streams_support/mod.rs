//! What the runnel-streams example tests share: finding an example binary, topics, reading
//! outputs, and an instance's query server.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// `target/<profile>/examples/NAME`, next to the test's own binary.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let binary = exe.parent().and_then(Path::parent).expect("target/<profile>").join("examples").join(name);
    assert!(binary.exists(), "{} is missing: run `cargo build -p runnel-streams --examples` first", binary.display());
    binary
}

/// Creates `topic` with `partitions` through the CLI.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let status = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["topic", "create", topic, "--partitions", &partitions.to_string(), "--brokers", bootstrap])
        .stdout(Stdio::null())
        .status()
        .expect("runnel topic create");
    assert!(status.success(), "create {topic}");
}

/// Writes (key, value, `user` header, timestamp) records to partition 0 of `topic`.
pub fn produce(bootstrap: &str, topic: &str, records: &[(&str, &str, Option<&str>, i64)]) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("producer");
    for (key, value, user, timestamp) in records {
        let mut record = BaseRecord::<str, str>::to(topic).key(key).payload(value).timestamp(*timestamp).partition(0);
        if let Some(user) = user {
            record = record.headers(OwnedHeaders::new().insert(Header { key: "user", value: Some(user.as_bytes()) }));
        }
        producer.send(record).expect("queue a record");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

/// Every (key, value) of partition 0 of `topic`, read uncommitted.
pub fn read(bootstrap: &str, topic: &str) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "streams-test-reader")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Beginning).expect("offset");
    consumer.assign(&list).expect("assign");
    let mut records = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => records.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            // The output topic may not exist until the application first writes to it.
            Some(Err(_)) | None => {}
        }
    }
    records
}

/// Reads `topic` until it has `count` records (60 s at most; the log is shown on failure).
pub fn wait_for(bootstrap: &str, topic: &str, count: usize, log: &Path) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let records = read(bootstrap, topic);
        if records.len() >= count {
            return records;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{topic} has {records:?}, wanted {count} records; the application's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Where an instance serves queries, from its log (`None` before it says).
pub fn query_address(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let line = text.lines().find(|l| l.contains("interactive queries at http://"))?;
    let start = line.find("http://")? + "http://".len();
    line[start..].split('/').next().map(str::to_string)
}

/// A GET over a plain socket; the whole response, or empty if nothing listens yet.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return String::new() };
    let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}
