//! Consumer groups through rdkafka: three members split eight partitions exactly once, the
//! others take over when one closes and, after the session timeout, when one is SIGKILLed;
//! nothing is lost and a record repeats only at or after the last commit for its partition.
//! A committed offset survives a broker SIGKILL. The same for KIP-848's consumer group protocol
//! (`group.protocol=consumer`), whose timing the broker sets, and a classic and a consumer
//! group reading one topic at once.

mod broker_process;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 8;
const SESSION_TIMEOUT_MS: u64 = 6_000;

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin");
    let topics = [NewTopic::new(name, partitions, TopicReplication::Fixed(1))];
    for result in admin.create_topics(&topics, &AdminOptions::new()).await.expect("create") {
        result.expect("created");
    }
}

async fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<i32>) {
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).set("acks", "all").create().expect("producer");
    for i in range {
        let payload = i.to_string();
        let record = FutureRecord::<str, str>::to(topic).partition(i % PARTITIONS).payload(&payload);
        producer.send(record, Duration::from_secs(10)).await.expect("produce");
    }
}

/// The broker settings that give KIP-848 members the classic members' timing here.
const CONSUMER_PROTOCOL_PROPERTIES: &str =
    "group.consumer.session.timeout.ms=6000\ngroup.consumer.heartbeat.interval.ms=500\n";

fn member(bootstrap: &str, group: &str) -> BaseConsumer {
    member_with(bootstrap, group, "classic")
}

fn member_with(bootstrap: &str, group: &str, protocol: &str) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", protocol)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    if protocol == "classic" {
        config.set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string()).set("heartbeat.interval.ms", "500");
    }
    config.create().expect("consumer")
}

/// Every read and commit. Reads by this process's members are checked as they happen: a
/// record may be read again only at or after the last commit of its partition. The child's
/// reads arrive through a pipe, out of order with ours, so they are checked at the end.
#[derive(Default)]
struct Tracker {
    reads: HashMap<(i32, i64), u32>,
    committed: HashMap<i32, i64>,
    child_reads: BTreeSet<(i32, i64)>,
    child_committed: HashMap<i32, i64>,
}

impl Tracker {
    fn read(&mut self, partition: i32, offset: i64) {
        if self.reads.contains_key(&(partition, offset)) {
            let committed = self.committed.get(&partition).copied().unwrap_or(0);
            assert!(offset >= committed, "partition {partition} offset {offset} read again after commit {committed}");
        }
        *self.reads.entry((partition, offset)).or_default() += 1;
    }

    fn commit(&mut self, partition: i32, next: i64) {
        let committed = self.committed.entry(partition).or_default();
        *committed = (*committed).max(next);
    }

    fn child_read(&mut self, partition: i32, offset: i64) {
        self.child_reads.insert((partition, offset));
    }

    fn child_commit(&mut self, partition: i32, next: i64) {
        let committed = self.child_committed.entry(partition).or_default();
        *committed = (*committed).max(next);
    }

    /// Records read by the child and by us: only those the child had not committed.
    fn check_child_repeats(&self) {
        for &(partition, offset) in &self.child_reads {
            if self.reads.contains_key(&(partition, offset)) {
                let committed = self.child_committed.get(&partition).copied().unwrap_or(0);
                assert!(
                    offset >= committed,
                    "partition {partition} offset {offset} was read by the child, which committed {committed}, and read again"
                );
            }
        }
    }

    fn distinct(&self) -> usize {
        self.reads.keys().chain(self.child_reads.iter()).collect::<BTreeSet<_>>().len()
    }

    fn all_read(&self) -> BTreeSet<(i32, i64)> {
        self.reads.keys().chain(self.child_reads.iter()).copied().collect()
    }
}

fn poll_and_commit(consumer: &BaseConsumer, tracker: &mut Tracker) {
    if let Some(Ok(message)) = consumer.poll(Duration::from_millis(20)) {
        tracker.read(message.partition(), message.offset());
        match consumer.commit_message(&message, CommitMode::Sync) {
            // A member may commit a record after a rebalance (running in the client's own
            // threads meanwhile) gave its partition to another member: the classic protocol
            // checks only the member and generation, so Kafka accepts such a commit too, and it
            // can land after the new owner read its start offset. Only a commit made while the
            // member still owns the partition is a bookmark the next owner must see.
            Ok(()) if assigned(consumer).contains(&message.partition()) => {
                tracker.commit(message.partition(), message.offset() + 1)
            }
            Ok(()) => {}
            // Kafka refuses a commit from a generation a rebalance has just ended; the record
            // may then be read again, which the tracker allows since the commit did not happen.
            // KIP-848's refusals: an epoch the member's next heartbeat moves on.
            Err(KafkaError::ConsumerCommit(
                RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::StaleMemberEpoch
                | RDKafkaErrorCode::FencedMemberEpoch,
            )) => {}
            Err(e) => panic!("commit failed: {e}"),
        }
    }
}

fn assigned(consumer: &BaseConsumer) -> Vec<i32> {
    let mut partitions: Vec<i32> =
        consumer.assignment().expect("assignment").elements().iter().map(|e| e.partition()).collect();
    partitions.sort();
    partitions
}

/// True when the lists are all non-empty and hold every partition exactly once.
fn split_exactly_once(lists: &[Vec<i32>]) -> bool {
    let mut all: Vec<i32> = lists.iter().flatten().copied().collect();
    all.sort();
    lists.iter().all(|l| !l.is_empty()) && all == (0..PARTITIONS).collect::<Vec<_>>()
}

/// Polls until `done` holds; returns when it did.
fn poll_until(
    consumers: &[&BaseConsumer],
    tracker: &mut Tracker,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&mut Tracker) -> bool,
) -> Instant {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        for consumer in consumers {
            poll_and_commit(consumer, tracker);
        }
        if done(tracker) {
            return Instant::now();
        }
    }
    let now: Vec<Vec<i32>> = consumers.iter().map(|c| assigned(c)).collect();
    panic!("timed out waiting for {what}; assignments {now:?}");
}

/// The example `group_member` program, built by `cargo test` beside the test binaries.
fn spawn_member(bootstrap: &str, group: &str, topic: &str, protocol: &str) -> (Child, mpsc::Receiver<String>) {
    let exe = std::env::current_exe().expect("test binary");
    let program = exe.parent().and_then(|deps| deps.parent()).expect("target dir").join("examples/group_member");
    let mut child = Command::new(&program)
        .args([bootstrap, group, topic, protocol])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

/// Applies the child's output to the tracker; returns its latest assignment if it changed.
fn drain_child(lines: &mpsc::Receiver<String>, tracker: &mut Tracker, assignment: &mut Vec<i32>) {
    while let Ok(line) = lines.try_recv() {
        if let Some(list) = line.strip_prefix("assigned ") {
            *assignment = list.split(',').filter(|s| !s.is_empty()).map(|p| p.parse().expect("partition")).collect();
        } else if let Some((what, rest)) = line.split_once(' ') {
            let (partition, offset) = rest.split_once(' ').expect("partition and offset");
            let (partition, offset): (i32, i64) = (partition.parse().expect("p"), offset.parse().expect("o"));
            match what {
                "read" => tracker.child_read(partition, offset),
                "committed" => tracker.child_commit(partition, offset),
                _ => {}
            }
        }
    }
}

fn every_record(count: i32) -> BTreeSet<(i32, i64)> {
    (0..count).map(|i| (i % PARTITIONS, (i / PARTITIONS) as i64)).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

fn split_among(members: &[BaseConsumer]) -> bool {
    split_exactly_once(&members.iter().map(assigned).collect::<Vec<_>>())
}

#[test]
fn members_split_partitions_exactly_once_and_take_over_on_close_and_on_sigkill() {
    split_and_take_over("classic");
}

#[test]
fn consumer_protocol_members_split_partitions_exactly_once_and_take_over_on_close_and_on_sigkill() {
    split_and_take_over("consumer");
}

fn split_and_take_over(protocol: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("server.properties");
    std::fs::write(&config, CONSUMER_PROTOCOL_PROPERTIES).expect("config");
    let broker = BrokerProcess::start_with(dir.path(), "127.0.0.1:0", &["--config", config.to_str().expect("path")]);
    let bootstrap = broker.bootstrap();
    let rt = runtime();
    rt.block_on(create_topic(&bootstrap, "orders", PARTITIONS));
    rt.block_on(produce(&bootstrap, "orders", 0..800));
    let mut tracker = Tracker::default();

    // Three members: each partition goes to exactly one.
    let mut members: Vec<BaseConsumer> = (0..3).map(|_| member_with(&bootstrap, "workers", protocol)).collect();
    for m in &members {
        m.subscribe(&["orders"]).expect("subscribe");
    }
    let refs: Vec<&BaseConsumer> = members.iter().collect();
    poll_until(&refs, &mut tracker, Duration::from_secs(30), "three members to split 8 partitions", |_| {
        split_among(&members)
    });

    // One closes: the other two take its partitions.
    let closing = members.remove(0);
    closing.unsubscribe();
    drop(closing);
    let refs: Vec<&BaseConsumer> = members.iter().collect();
    poll_until(&refs, &mut tracker, Duration::from_secs(30), "two members to take over", |_| split_among(&members));

    // A third member in a child process joins, reads and commits, and is SIGKILLed.
    let (mut child, lines) = spawn_member(&bootstrap, "workers", "orders", protocol);
    let mut child_assignment = Vec::new();
    poll_until(&refs, &mut tracker, Duration::from_secs(40), "the child to get partitions", |t| {
        drain_child(&lines, t, &mut child_assignment);
        let mut lists: Vec<Vec<i32>> = members.iter().map(assigned).collect();
        lists.push(child_assignment.clone());
        split_exactly_once(&lists)
    });
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    let killed_at = Instant::now();
    drain_child(&lines, &mut tracker, &mut child_assignment);
    let taken_over = poll_until(&refs, &mut tracker, Duration::from_secs(40), "the survivors to take over", |t| {
        drain_child(&lines, t, &mut child_assignment);
        split_among(&members)
    });
    let after = taken_over - killed_at;
    eprintln!("survivors took the killed member's partitions {after:?} after the SIGKILL");
    assert!(after > Duration::from_millis(SESSION_TIMEOUT_MS - 1_000), "moved after only {after:?}");

    // Nothing is lost: every record, old and new, is read.
    rt.block_on(produce(&bootstrap, "orders", 800..1600));
    poll_until(&refs, &mut tracker, Duration::from_secs(30), "every record", |t| {
        drain_child(&lines, t, &mut child_assignment);
        t.distinct() == 1600
    });
    assert_eq!(tracker.all_read(), every_record(1600));
    tracker.check_child_repeats();
    drop(refs);
    drop(members);
    assert!(broker.terminate(), "clean shutdown");
}

#[test]
fn a_committed_offset_survives_a_broker_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    let rt = runtime();
    rt.block_on(create_topic(&bootstrap, "ledger", 1));
    let consumer = member(&bootstrap, "bookkeepers");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("ledger", 0, Offset::Offset(1234)).expect("offset");
    consumer.commit(&list, CommitMode::Sync).expect("commit");
    drop(consumer);
    let port = broker.addr.to_string();
    broker.kill();

    let broker = BrokerProcess::start_on(dir.path(), &port);
    let consumer = member(&broker.bootstrap(), "bookkeepers");
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("ledger", 0);
    let committed = consumer.committed_offsets(wanted, Duration::from_secs(10)).expect("committed");
    assert_eq!(committed.elements()[0].offset(), Offset::Offset(1234));
}

#[test]
fn a_consumer_protocol_members_commits_survive_a_broker_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("server.properties");
    std::fs::write(&config, CONSUMER_PROTOCOL_PROPERTIES).expect("config");
    let config = config.to_str().expect("path");
    let broker = BrokerProcess::start_with(dir.path(), "127.0.0.1:0", &["--config", config]);
    let bootstrap = broker.bootstrap();
    let rt = runtime();
    rt.block_on(create_topic(&bootstrap, "journal", PARTITIONS));
    rt.block_on(produce(&bootstrap, "journal", 0..80));
    let consumer = member_with(&bootstrap, "scribes", "consumer");
    consumer.subscribe(&["journal"]).expect("subscribe");
    let mut tracker = Tracker::default();
    // It reads everything, committing as it goes, as the group's only member.
    poll_until(&[&consumer], &mut tracker, Duration::from_secs(30), "every record", |t| t.distinct() == 80);
    let committed = tracker.committed.clone();
    assert_eq!(committed.values().sum::<i64>(), 80, "{committed:?}");
    let port = broker.addr.to_string();
    broker.kill();
    drop(consumer);

    let broker = BrokerProcess::start_with(dir.path(), &port, &["--config", config]);
    rt.block_on(produce(&broker.bootstrap(), "journal", 80..88));
    let again = member_with(&broker.bootstrap(), "scribes", "consumer");
    again.subscribe(&["journal"]).expect("subscribe");
    let mut after = Tracker::default();
    poll_until(&[&again], &mut after, Duration::from_secs(30), "the records after the commits", |t| t.distinct() == 8);
    // Only the new ones: the commits made before the crash held.
    assert_eq!(after.all_read(), (80..88).map(|i| (i % PARTITIONS, 10)).collect());
}

#[test]
fn a_classic_and_a_consumer_protocol_group_read_one_topic_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    let rt = runtime();
    rt.block_on(create_topic(&bootstrap, "shared", PARTITIONS));
    rt.block_on(produce(&bootstrap, "shared", 0..160));
    let classic = member_with(&bootstrap, "old-readers", "classic");
    let modern = member_with(&bootstrap, "new-readers", "consumer");
    classic.subscribe(&["shared"]).expect("subscribe");
    modern.subscribe(&["shared"]).expect("subscribe");
    let (mut classic_reads, mut modern_reads) = (Tracker::default(), Tracker::default());
    let deadline = Instant::now() + Duration::from_secs(30);
    while (classic_reads.distinct() < 160 || modern_reads.distinct() < 160) && Instant::now() < deadline {
        poll_and_commit(&classic, &mut classic_reads);
        poll_and_commit(&modern, &mut modern_reads);
    }
    // Each group reads every record, on its own.
    assert_eq!(classic_reads.all_read(), every_record(160));
    assert_eq!(modern_reads.all_read(), every_record(160));
}

/// The bytes of the files in `dir`. The log cleaner removes segments while this runs: a file
/// listed but gone before its size is read counts as nothing.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| match e.and_then(|e| e.metadata()) {
            Ok(metadata) => Some(metadata.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("size of a file in {}: {e}", dir.display()),
        })
        .sum()
}

#[test]
fn the_group_log_stays_small_under_steady_commits_and_keeps_the_last_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir.path().join("server.properties");
    // Small group-log segments and a busy cleaner, so compaction shows within the test.
    std::fs::write(&config, "offsets.topic.segment.bytes=16384\nlog.cleaner.backoff.ms=50\n").expect("config");
    let config = config.to_str().expect("path");
    let broker = BrokerProcess::start_with(dir.path(), "127.0.0.1:0", &["--config", config]);
    let bootstrap = broker.bootstrap();
    let rt = runtime();
    rt.block_on(create_topic(&bootstrap, "steady", 1));
    let consumer = member(&bootstrap, "committers");
    let group_log = dir.path().join("__consumer_offsets-0");
    let mut largest = 0;
    for round in 0..3_000i64 {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("steady", 0, Offset::Offset(round)).expect("offset");
        consumer.commit(&list, CommitMode::Sync).expect("commit");
        if round % 100 == 0 {
            largest = largest.max(dir_bytes(&group_log));
        }
    }
    // 3,000 commits write well over 300 KB; the cleaner keeps the log to a few segments.
    let deadline = Instant::now() + Duration::from_secs(20);
    while dir_bytes(&group_log) > 64 * 1024 {
        assert!(Instant::now() < deadline, "the group log still holds {} bytes", dir_bytes(&group_log));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(largest < 200 * 1024, "the group log reached {largest} bytes while committing");
    drop(consumer);
    let port = broker.addr.to_string();
    broker.kill();

    let broker = BrokerProcess::start_with(dir.path(), &port, &["--config", config]);
    let consumer = member(&broker.bootstrap(), "committers");
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("steady", 0);
    let committed = consumer.committed_offsets(wanted, Duration::from_secs(10)).expect("committed");
    assert_eq!(committed.elements()[0].offset(), Offset::Offset(2_999));
}
