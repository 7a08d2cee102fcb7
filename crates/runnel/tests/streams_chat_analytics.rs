//! runnel-streams' `chat_analytics` example against `runnel serve`, over chat-shaped topics
//! (room topics `chat.ROOM`, key the room, `user` header): messages per room per minute
//! emitted once per closed minute, user sessions emitted when they end, and messages joined
//! with a table of profiles through a repartition by user.

mod broker_process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// A minute boundary, so that the first three messages share a minute.
const T0: i64 = 1_800_000_000_000;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let binary = exe.parent().and_then(Path::parent).expect("target/<profile>").join("examples").join(name);
    assert!(binary.exists(), "{} is missing: run `cargo build -p runnel-streams --examples` first", binary.display());
    binary
}

fn create(bootstrap: &str, topic: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["topic", "create", topic, "--partitions", "1", "--brokers", bootstrap])
        .stdout(Stdio::null())
        .status()
        .expect("runnel topic create");
    assert!(status.success(), "create {topic}");
}

fn produce(bootstrap: &str, topic: &str, records: &[(&str, &str, Option<&str>, i64)]) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("producer");
    for (key, value, user, timestamp) in records {
        let mut record = BaseRecord::<str, str>::to(topic).key(key).payload(value).timestamp(*timestamp);
        if let Some(user) = user {
            record = record.headers(OwnedHeaders::new().insert(Header { key: "user", value: Some(user.as_bytes()) }));
        }
        producer.send(record).expect("queue a record");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

/// Every (key, value) of a one-partition topic.
fn read(bootstrap: &str, topic: &str) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "analytics-reader")
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

fn wait_for(bootstrap: &str, topic: &str, count: usize, log: &Path) -> Vec<(String, String)> {
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

fn start(bootstrap: &str, log: &Path) -> Child {
    Command::new(example("chat_analytics"))
        .args(["--brokers", bootstrap, "--application-id", "analytics", "--rooms", "general"])
        .args(["--commit-interval-ms", "100", "--query-listen", "127.0.0.1:0"])
        .env("RUNNEL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start chat_analytics")
}

fn http_get(log: &Path, path: &str) -> String {
    use std::io::{Read, Write};
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.contains("interactive queries at http://")) else { return String::new() };
    let addr = line[line.find("http://").expect("url") + 7..].split('/').next().expect("host:port").to_string();
    let Ok(mut stream) = std::net::TcpStream::connect(&addr) else { return String::new() };
    let _ = write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[test]
fn chat_analytics_counts_minutes_once_ends_sessions_and_enriches_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    create(&bootstrap, "chat.general");
    create(&bootstrap, "chat-analytics.profiles");
    produce(
        &bootstrap,
        "chat-analytics.profiles",
        &[
            ("alice", r#"{"name":"Alice","country":"FR"}"#, None, T0),
            ("bob", r#"{"name":"Bob","country":"NL"}"#, None, T0),
        ],
    );
    let log = dir.path().join("analytics.log");
    let mut app = start(&bootstrap, &log);
    // The profiles are in the table before any message needs them.
    let started = Instant::now();
    while !http_get(&log, "/stores/profiles/bob").contains("\"Bob\"") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "profiles never loaded:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let s = 1000;
    produce(
        &bootstrap,
        "chat.general",
        &[
            ("general", "hi", Some("alice"), T0 + s),
            ("general", "hello", Some("bob"), T0 + 2 * s),
            ("general", "how are you", Some("alice"), T0 + 30 * s),
            ("general", "fine", Some("bob"), T0 + 61 * s),
            ("general", "hey all", Some("carol"), T0 + 70 * s),
            // Twenty minutes on: closes both minutes and every session.
            ("general", "anyone?", Some("alice"), T0 + 1200 * s),
        ],
    );

    let minutes = wait_for(&bootstrap, "chat-analytics.messages-per-minute", 2, &log);
    let decoded: Vec<(String, i64)> = minutes
        .iter()
        .map(|(k, v)| (k.clone(), i64::from_be_bytes(v.as_bytes().try_into().expect("an 8-byte count"))))
        .collect();
    assert_eq!(decoded, vec![(format!("general@{T0}"), 3), (format!("general@{}", T0 + 60_000), 2)]);

    let sessions = wait_for(&bootstrap, "chat-analytics.sessions", 3, &log);
    let by_user: BTreeMap<String, serde_json::Value> = sessions
        .iter()
        .map(|(_, v)| {
            let json: serde_json::Value = serde_json::from_str(v).expect("session JSON");
            (json["user"].as_str().expect("user").to_string(), json)
        })
        .collect();
    assert_eq!(by_user.len(), 3, "{sessions:?}");
    assert_eq!(
        (by_user["alice"]["start_ms"].as_i64(), by_user["alice"]["end_ms"].as_i64()),
        (Some(T0 + s), Some(T0 + 30 * s))
    );
    assert_eq!(by_user["alice"]["messages"], 2);
    assert_eq!(by_user["bob"]["messages"], 2);
    assert_eq!(by_user["carol"]["messages"], 1);

    let enriched = wait_for(&bootstrap, "chat-analytics.enriched", 6, &log);
    let first: serde_json::Value = serde_json::from_str(&enriched[0].1).expect("JSON");
    assert_eq!(
        (enriched[0].0.as_str(), first["name"].as_str(), first["country"].as_str()),
        ("alice", Some("Alice"), Some("FR"))
    );
    let carol = enriched.iter().find(|(k, _)| k == "carol").expect("carol's message");
    assert!(carol.1.contains(r#""name":"carol""#), "no profile: the user name stands in: {}", carol.1);

    let _ = app.kill();
    let _ = app.wait();
    drop(broker);
}
