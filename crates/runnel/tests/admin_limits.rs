//! Requests that ask for absurd numbers of partitions are refused at once with Kafka's
//! POLICY_VIOLATION, leave no directory behind, and never stop the broker from serving others,
//! shutting down on SIGTERM, or starting again on its data directory.

mod broker_process;
mod raw_client;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use raw_client::{call, connect, create_topic};

const POLICY_VIOLATION: i16 = 44;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// The partition directories in a data directory.
fn partition_dirs(data: &Path) -> BTreeSet<String> {
    std::fs::read_dir(data)
        .expect("list data dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("__")) // runnel's own logs: groups, console history
        .collect()
}

fn create_partitions(broker: &BrokerProcess, topic: &str, count: i32, validate_only: bool) -> (i16, String) {
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default().with_name(name(topic)).with_count(count)])
        .with_timeout_ms(5_000)
        .with_validate_only(validate_only);
    let response: CreatePartitionsResponse = call(&mut connect(broker), ApiKey::CreatePartitions, 3, &request);
    let result = &response.results[0];
    (result.error_code, result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())
}

fn create_topic_with(broker: &BrokerProcess, topic: &str, partitions: i32, validate_only: bool) -> (i16, String) {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default().with_name(name(topic)).with_num_partitions(partitions).with_replication_factor(1),
        ])
        .with_timeout_ms(5_000)
        .with_validate_only(validate_only);
    let response: CreateTopicsResponse = call(&mut connect(broker), ApiKey::CreateTopics, 7, &request);
    let result = &response.topics[0];
    (result.error_code, result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())
}

/// Metadata's error for `topic`; `auto_create` lets the broker create it.
fn metadata_error(broker: &BrokerProcess, topic: &str, auto_create: bool) -> i16 {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]))
        .with_allow_auto_topic_creation(auto_create);
    let response: MetadataResponse = call(&mut connect(broker), ApiKey::Metadata, 12, &request);
    response.topics[0].error_code
}

#[test]
fn partition_counts_up_to_i32_max_are_refused_at_once_while_others_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    assert_eq!(create_topic(&mut connect(&broker), "grow", 1, &[]).0, 0);
    let before = partition_dirs(&data);

    // Two at once, as the report had it, plus a client that must be served meanwhile.
    let started = Instant::now();
    let refusals: Vec<(i16, String)> = std::thread::scope(|scope| {
        let attempts: Vec<_> =
            (0..2).map(|_| scope.spawn(|| create_partitions(&broker, "grow", i32::MAX, false))).collect();
        assert_eq!(metadata_error(&broker, "grow", false), 0, "a healthy client is served meanwhile");
        attempts.into_iter().map(|a| a.join().expect("thread")).collect()
    });
    assert!(started.elapsed() < Duration::from_secs(5), "refused promptly: {:?}", started.elapsed());
    for (code, message) in &refusals {
        assert_eq!(*code, POLICY_VIOLATION, "{message}");
        assert!(message.contains("max.partitions.per.request is 10000"), "{message}");
    }
    assert_eq!(create_partitions(&broker, "grow", i32::MAX, true).0, POLICY_VIOLATION, "validate_only too");
    assert_eq!(create_partitions(&broker, "grow", 3, false).0, 0, "a sane growth still works");
    assert_eq!(partition_dirs(&data).len(), before.len() + 2);

    assert!(broker.terminate(), "SIGTERM stops the broker cleanly");
    let broker = BrokerProcess::start(&data);
    assert_eq!(metadata_error(&broker, "grow", false), 0, "restarts on the same data directory");
}

#[test]
fn a_create_topics_of_100000_partitions_is_refused_up_front_also_with_validate_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    for validate_only in [true, false] {
        let started = Instant::now();
        let (code, message) = create_topic_with(&broker, "huge", 100_000, validate_only);
        assert_eq!(code, POLICY_VIOLATION, "validate_only={validate_only}: {message}");
        assert!(message.starts_with("Excessively large number of partitions per request"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
    assert!(partition_dirs(&data).is_empty(), "no directory left: {:?}", partition_dirs(&data));
    assert!(broker.terminate());
    let broker = BrokerProcess::start(&data);
    assert_eq!(create_topic_with(&broker, "after", 2, false).0, 0);
}

#[test]
fn max_broker_partitions_bounds_creation_growth_and_auto_creation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("server.properties");
    std::fs::write(&config, "max.broker.partitions=6\nnum.partitions=2\nmax.partitions.per.request=4\n")
        .expect("config");
    let broker = BrokerProcess::start_with(&data, "127.0.0.1:0", &["--config", config.to_str().expect("path")]);
    assert_eq!(create_topic_with(&broker, "first", 3, false).0, 0);
    assert_eq!(create_topic_with(&broker, "too-wide", 5, true).0, POLICY_VIOLATION, "per request, validate_only");
    let (code, message) = create_topic_with(&broker, "second", 4, false);
    assert_eq!(code, POLICY_VIOLATION, "over the broker limit");
    assert!(message.contains("max.broker.partitions=6"), "{message}");
    assert_eq!(create_topic_with(&broker, "second", 4, true).0, POLICY_VIOLATION, "validate_only agrees");
    assert_eq!(create_partitions(&broker, "first", 5, false).0, 0, "3 -> 5 fits");
    assert_eq!(create_partitions(&broker, "first", 7, false).0, POLICY_VIOLATION, "5 -> 7 does not");
    assert_eq!(metadata_error(&broker, "auto-created", true), POLICY_VIOLATION, "auto-creation of 2 more is refused");
    assert_eq!(create_topic_with(&broker, "one-more", 1, false).0, 0, "the last free partition");
    let dirs = partition_dirs(&data);
    assert_eq!(dirs.len(), 6, "{dirs:?}");
}

#[test]
fn stray_partition_directories_are_removed_at_startup_and_foreign_ones_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    assert_eq!(create_topic_with(&broker, "events", 2, false).0, 0);
    assert!(broker.terminate());
    // What a crash during a creation leaves: partitions of an unnamed topic, and beyond a
    // known topic's count.
    for stray in ["ghost-0", "ghost-1", "events-2"] {
        std::fs::create_dir(data.join(stray)).expect("mkdir");
        std::fs::write(data.join(stray).join("00000000000000000000.log"), b"").expect("segment");
    }
    std::fs::create_dir(data.join("notes-1")).expect("mkdir");
    std::fs::write(data.join("notes-1").join("todo.txt"), b"not runnel's").expect("foreign file");
    let broker = BrokerProcess::start(&data);
    let dirs = partition_dirs(&data);
    assert_eq!(dirs, BTreeSet::from(["events-0".into(), "events-1".into(), "notes-1".into()]));
    assert_eq!(metadata_error(&broker, "events", false), 0);
}

#[test]
fn sigterm_during_the_largest_allowed_creation_exits_promptly_and_leaves_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let broker = BrokerProcess::start(&data);
    let addr = broker.addr;
    let creator = std::thread::spawn(move || {
        // The connection may be cut by the shutdown: any outcome but a hang is fine here.
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let request = CreateTopicsRequest::default().with_topics(vec![
                CreatableTopic::default()
                    .with_name(name("wide"))
                    .with_num_partitions(10_000)
                    .with_replication_factor(1),
            ]);
            raw_client::send_frame(&mut stream, &raw_client::encode_request(ApiKey::CreateTopics, 7, &request));
            let mut byte = [0u8; 1];
            let _ = std::io::Read::read(&mut stream, &mut byte);
        }
    });
    std::thread::sleep(Duration::from_millis(150));
    // A new client is served while the creation runs (it takes seconds in a debug build).
    let asked = Instant::now();
    assert_eq!(metadata_error(&broker, "elsewhere", false), 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert!(asked.elapsed() < Duration::from_secs(1), "Metadata took {:?} during the creation", asked.elapsed());
    let (took, clean) = broker.terminate_within(Duration::from_secs(10)).expect("exits after SIGTERM");
    assert!(clean, "exit status");
    assert!(took < Duration::from_secs(4), "SIGTERM took {took:?}");
    creator.join().expect("creator thread");
    let broker = BrokerProcess::start(&data);
    let dirs = partition_dirs(&data);
    let expected = if metadata_error(&broker, "wide", false) == 0 { 10_000 } else { 0 };
    assert_eq!(dirs.len(), expected, "all or nothing after a restart");
}

/// `runnel serve` on a private tmpfs with room for only `inodes` files and directories.
fn broker_with_few_inodes(mount_point: &Path, inodes: u32) -> BrokerProcess {
    let script = format!(r#"mount -t tmpfs -o size=64m,nr_inodes={inodes} runnel-inodes "$1" && shift && exec "$@""#);
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script, "sh"])
        .arg(mount_point)
        .arg(env!("CARGO_BIN_EXE_runnel"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir"])
        .arg(mount_point);
    BrokerProcess::spawn(command, mount_point)
}

#[test]
fn a_creation_that_fails_midway_leaves_no_partition_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount_point = dir.path().join("disk");
    std::fs::create_dir(&mount_point).expect("mount point");
    let broker = broker_with_few_inodes(&mount_point, 300);
    // Each partition takes two inodes (its directory and its first segment): 400 cannot fit.
    let (code, message) = create_topic_with(&broker, "wide", 400, false);
    assert_eq!(code, 56, "KAFKA_STORAGE_ERROR: {message}");
    assert!(message.contains("No space left on device"), "{message}");
    // The namespace's mount is private to the broker: look through its root.
    let data = Path::new("/proc")
        .join(broker.pid().to_string())
        .join("root")
        .join(mount_point.strip_prefix("/").expect("absolute"));
    let left: Vec<String> = partition_dirs(&data).into_iter().filter(|d| d.starts_with("wide-")).collect();
    assert!(left.is_empty(), "{} partition directories left: {:?}", left.len(), &left[..left.len().min(5)]);
    assert_eq!(metadata_error(&broker, "wide", false), 3, "no topic was named");
    assert_eq!(create_topic_with(&broker, "fits", 50, false).0, 0, "the freed room is usable again");
}
