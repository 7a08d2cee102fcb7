//! `runnel mirror` between two `runnel serve` brokers ("us" and "eu") on loopback: records keep
//! their partition, order, key, headers and timestamp; the topic's configs follow; a mirror
//! SIGKILLed mid-run and started again loses nothing (duplicates counted and bounded); a target
//! outage shows as a stall and a source restart loses nothing; two mirrors running opposite
//! ways copy each side's topics once and never loop; a consumer group that committed on the
//! source resumes on the target exactly where it was, across transaction markers and aborted
//! records; heartbeats reach the target.

mod broker_process;
mod delay_proxy;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use delay_proxy::DelayProxy;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;

/// A record as both sides must hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Copied {
    key: Vec<u8>,
    value: Vec<u8>,
    headers: Vec<(String, Vec<u8>)>,
    timestamp: i64,
}

fn runnel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runnel")).args(args).output().expect("run runnel")
}

/// A running `runnel mirror`, SIGKILLed if a test ends without stopping it.
struct MirrorProcess(Child);

impl MirrorProcess {
    /// SIGKILL, and wait for it to end.
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL the mirror");
        self.0.wait().expect("reap the mirror");
    }
}

impl Drop for MirrorProcess {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start_mirror(source: &str, target: &str, aliases: (&str, &str), log: &Path) -> MirrorProcess {
    start_mirror_with(source, target, aliases, log, &[])
}

fn start_mirror_with(source: &str, target: &str, aliases: (&str, &str), log: &Path, extra: &[&str]) -> MirrorProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["mirror", "--source", source, "--target", target, "--topics", "orders|eu\\..*|us\\..*"])
        .args(["--source-alias", aliases.0, "--target-alias", aliases.1, "--refresh-topics-secs", "0.5"])
        // A killed mirror's partitions move to the next one within seconds.
        .args(["-X", "source.session.timeout.ms=6000", "-X", "source.heartbeat.interval.ms=500"])
        .args(["--http-listen", "127.0.0.1:0", "--stall-secs", "1"])
        .args(extra)
        .env("RUNNEL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("create the mirror's log"))
        .spawn()
        .expect("start runnel mirror");
    MirrorProcess(child)
}

/// Writes `count` keyed records with a header and a timestamp, numbered from `first`.
fn produce(bootstrap: &str, topic: &str, first: usize, count: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    for n in first..first + count {
        let (key, value) = (format!("key-{}", n % 977), format!("record-{n}"));
        let headers = OwnedHeaders::new().insert(Header { key: "n", value: Some(n.to_string().as_bytes()) });
        let record = BaseRecord::<str, str>::to(topic)
            .key(&key)
            .payload(&value)
            .headers(headers)
            .timestamp(1_700_000_000_000 + n as i64);
        send_retrying(&producer, record);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

/// Sends `record`, serving delivery reports while the producer's queue is full.
fn send_retrying(producer: &BaseProducer, mut record: BaseRecord<'_, str, str>) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
        }
    }
}

/// Every record of each partition of `topic`, in offset order.
fn read_all(bootstrap: &str, topic: &str) -> BTreeMap<i32, Vec<Copied>> {
    read_all_with_offsets(bootstrap, topic)
        .into_iter()
        .map(|(p, records)| (p, records.into_iter().map(|(_, record)| record).collect()))
        .collect()
}

/// Records in all partitions of `topic` (0 while it does not exist).
fn count(bootstrap: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("a metadata client");
    (0..PARTITIONS)
        .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).map_or(0, |(low, high)| high - low))
        .sum()
}

fn wait_for_count(bootstrap: &str, topic: &str, at_least: i64, log: &Path) {
    let started = Instant::now();
    while count(bootstrap, topic) < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{topic} has {} of {at_least} records after 90 s; the mirror's log:\n{}",
            count(bootstrap, topic),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The us→eu mirror group's committed offsets of `orders` on the source, per partition (its
/// heartbeats, copied too, always have a second's worth waiting).
fn mirror_offsets(source: &str) -> Vec<serde_json::Value> {
    let group = runnel(&["group", "describe", "runnel-mirror-us-eu", "--brokers", source, "--output", "json"]);
    let described: serde_json::Value = serde_json::from_slice(&group.stdout).unwrap_or_default();
    let offsets = described["offsets"].as_array().cloned().unwrap_or_default();
    offsets.into_iter().filter(|o| o["topic"] == "orders").collect()
}

/// Its lag, summed over the partitions (`None` before it has committed every partition).
fn mirror_lag(source: &str) -> Option<i64> {
    let offsets = mirror_offsets(source);
    if offsets.len() < PARTITIONS as usize {
        return None;
    }
    offsets.iter().map(|p| p["lag"].as_i64()).sum()
}

/// Its committed offsets, summed.
fn mirror_committed(source: &str) -> i64 {
    mirror_offsets(source).iter().filter_map(|p| p["committed"].as_i64()).sum()
}

/// The mirror's `/metrics`, at the address its log names.
fn mirror_metrics(log: &Path) -> String {
    mirror_http(log, "/metrics")
}

/// A page the mirror serves at `path`, at the address its log names.
fn mirror_http(log: &Path, path: &str) -> String {
    use std::io::{Read, Write};
    let started = Instant::now();
    let address = loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(at) = text.rfind("metrics at http://") {
            let rest = &text[at + "metrics at http://".len()..];
            break rest.split('/').next().expect("an address").to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the mirror never logged its metrics address:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stream = std::net::TcpStream::connect(&address).expect("connect to /metrics");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("ask");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the mirror's answer");
    response
}

/// The sum of a metric's samples.
fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the mirror has committed the source's end and the target holds `records`
/// records, then checks that each of them is there.
fn assert_every_record_arrives(source: &str, target: &str, records: usize, log: &Path) {
    let started = Instant::now();
    while mirror_lag(source) != Some(0) || count(target, "us.orders") < records as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the mirror did not catch up:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let copied: std::collections::HashSet<Vec<u8>> =
        read_all(target, "us.orders").values().flatten().map(|r| r.value.clone()).collect();
    assert_eq!(copied.len(), records, "every record reached the target");
}

/// A free loopback port, for a broker that must come back on the same address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

fn create(bootstrap: &str, topic: &str, configs: &[&str]) {
    let partitions = PARTITIONS.to_string();
    let mut args = vec!["topic", "create", topic, "--partitions", &partitions, "--brokers", bootstrap];
    for config in configs {
        args.extend(["-c", config]);
    }
    let output = runnel(&args);
    assert!(output.status.success(), "create {topic}: {}", String::from_utf8_lossy(&output.stderr));
}

fn stop(mut mirror: MirrorProcess, log: &Path) {
    let _ = Command::new("kill").args(["-TERM", &mirror.0.id().to_string()]).status();
    let status = mirror.0.wait().expect("wait for the mirror");
    assert!(status.success(), "the mirror stops cleanly:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

#[test]
fn one_way_mirror_keeps_every_record_in_order_across_a_sigkill() {
    one_way_mirror_across_a_sigkill(&[], "with the mirror's own pipelined batches");
}

#[test]
fn one_way_mirror_through_librdkafkas_producer_keeps_every_record_in_order_across_a_sigkill() {
    one_way_mirror_across_a_sigkill(&["--target-writer", "librdkafka"], "through librdkafka's producer");
}

/// 100,000 records mirrored, more written while the mirror runs, the mirror SIGKILLed and
/// started again: every record arrives in order with its key, headers and timestamp, with
/// few duplicates. `writer` names who wrote to the target, as the mirror's log says.
fn one_way_mirror_across_a_sigkill(extra: &[&str], writer: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (us, eu) = (BrokerProcess::start(&dir.path().join("us")), BrokerProcess::start(&dir.path().join("eu")));
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &["retention.ms=86400000"]);
    produce(&us_b, "orders", 0, 100_000);
    let log = dir.path().join("mirror.log");

    let mut mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, extra);
    wait_for_count(&eu_b, "us.orders", 100_000, &log);
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(said.contains(&format!("writing to the target {writer}")), "{said}");
    // Once the first 100,000 are committed, more records come while it runs; it dies partway
    // through them and comes back.
    let started = Instant::now();
    while mirror_committed(&us_b) < 100_000 {
        assert!(started.elapsed() < Duration::from_secs(30), "the mirror never committed what it copied");
        std::thread::sleep(Duration::from_millis(100));
    }
    let writer = {
        let us_b = us_b.clone();
        std::thread::spawn(move || produce(&us_b, "orders", 100_000, 50_000))
    };
    wait_for_count(&eu_b, "us.orders", 110_000, &log);
    mirror.kill();
    writer.join().expect("the writer");
    // Records written while the mirror is down: the restarted mirror has these to copy even
    // when the killed one had copied the whole burst before it died.
    produce(&us_b, "orders", 150_000, 10_000);
    let mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, extra);
    // Copies made twice count too: done when the mirror's committed offsets (which follow the
    // target's acknowledgements) reach the source's end.
    let started = Instant::now();
    while mirror_lag(&us_b) != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(90), "the restarted mirror never caught up");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Caught up: its metrics show every partition copied, nothing waiting, no stall.
    let metrics = mirror_metrics(&log);
    assert_eq!(metric_sum(&metrics, "runnel_mirror_lag_records"), 0.0, "{metrics}");
    assert!(metric_sum(&metrics, "runnel_mirror_records_total") > 0.0, "{metrics}");
    assert!(metrics.contains("runnel_mirror_stalled{source=\"us\",target=\"eu\"} 0"), "{metrics}");
    stop(mirror, &log);

    let (source, target) = (read_all(&us_b, "orders"), read_all(&eu_b, "us.orders"));
    let mut duplicates = 0;
    for p in 0..PARTITIONS {
        let (source, target) = (&source[&p], &target[&p]);
        // The copy is the source, once with no gap, except that a resumed mirror may write
        // again a stretch it had written before its last commit: each record's first copy
        // comes in source order.
        let mut seen: HashMap<&[u8], usize> = HashMap::new();
        let mut firsts = Vec::new();
        for record in target {
            let copies = seen.entry(&record.value).or_default();
            *copies += 1;
            if *copies == 1 {
                firsts.push(record);
            } else {
                duplicates += 1;
            }
        }
        assert_eq!(firsts.len(), source.len(), "partition {p}: every record copied");
        for (copy, original) in firsts.iter().zip(source) {
            assert_eq!(*copy, original, "partition {p}: key, value, headers and timestamp kept, in order");
        }
    }
    eprintln!("{duplicates} duplicates after the SIGKILL");
    assert!(duplicates <= 50_000, "duplicates stay within what the killed mirror copied since its last commit");

    // The topic's config followed it.
    let topic = runnel(&["topic", "describe", "us.orders", "--brokers", &eu_b, "--output", "json"]);
    let configs: serde_json::Value = serde_json::from_slice(&topic.stdout).expect("JSON");
    assert_eq!(configs["configs"]["retention.ms"], "86400000", "{configs}");
}

#[test]
fn two_mirrors_running_opposite_ways_copy_each_side_once_and_never_loop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (us, eu) = (BrokerProcess::start(&dir.path().join("us")), BrokerProcess::start(&dir.path().join("eu")));
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &[]);
    create(&eu_b, "orders", &[]);
    produce(&us_b, "orders", 0, 3_000);
    produce(&eu_b, "orders", 1_000_000, 2_000);
    let (log_ue, log_eu) = (dir.path().join("us-eu.log"), dir.path().join("eu-us.log"));
    let us_to_eu = start_mirror(&us_b, &eu_b, ("us", "eu"), &log_ue);
    // The other way runs from a MirrorMaker 2 properties file.
    let mm2 = dir.path().join("mm2.properties");
    std::fs::write(
        &mm2,
        format!(
            "clusters = us, eu\nus.bootstrap.servers = {us_b}\neu.bootstrap.servers = {eu_b}\n\
             eu->us.enabled = true\nus->eu.enabled = false\n\
             eu->us.topics = orders, eu\\..*, us\\..*\nrefresh.topics.interval.seconds = 0.5\n"
        ),
    )
    .expect("write mm2.properties");
    let eu_to_us = MirrorProcess(
        Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args(["mirror", "--config", mm2.to_str().expect("utf-8"), "--http-listen", "off"])
            .env("RUNNEL_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_eu).expect("create the mirror's log"))
            .spawn()
            .expect("start runnel mirror"),
    );
    wait_for_count(&eu_b, "us.orders", 3_000, &log_ue);
    wait_for_count(&us_b, "eu.orders", 2_000, &log_eu);
    // Several topic refreshes later: still no copy of a copy, and each copy holds its side once.
    std::thread::sleep(Duration::from_secs(3));
    for (bootstrap, side) in [(&us_b, "us"), (&eu_b, "eu")] {
        let listed = runnel(&["topic", "list", "--brokers", bootstrap, "--output", "json"]);
        let names: Vec<String> = serde_json::from_slice::<serde_json::Value>(&listed.stdout)
            .expect("JSON")
            .as_array()
            .expect("topics")
            .iter()
            .map(|t| t["name"].as_str().expect("a name").to_string())
            .collect();
        let copies_of_copies: Vec<&String> =
            names.iter().filter(|n| !n.ends_with(".internal") && n.matches('.').count() > 1).collect();
        assert!(copies_of_copies.is_empty(), "{side} has a copy of a copy: {copies_of_copies:?}");
    }
    assert_eq!(count(&eu_b, "us.orders"), 3_000);
    assert_eq!(count(&us_b, "eu.orders"), 2_000);
    stop(us_to_eu, &log_ue);
    stop(eu_to_us, &log_eu);
}

#[test]
fn a_target_outage_shows_as_a_stall_and_the_mirror_resumes_without_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let us = BrokerProcess::start(&dir.path().join("us"));
    let eu_listen = format!("127.0.0.1:{}", free_port());
    let eu = BrokerProcess::start_on(&dir.path().join("eu"), &eu_listen);
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &[]);
    produce(&us_b, "orders", 0, 5_000);
    let log = dir.path().join("mirror.log");
    let mirror = start_mirror(&us_b, &eu_b, ("us", "eu"), &log);
    wait_for_count(&eu_b, "us.orders", 5_000, &log);

    // The target goes away for 30 s while the source gets more: records wait, and the mirror
    // says so.
    assert!(eu.terminate(), "the target stops cleanly");
    let down_since = Instant::now();
    produce(&us_b, "orders", 5_000, 5_000);
    let started = Instant::now();
    loop {
        let metrics = mirror_metrics(&log);
        if metrics.contains("runnel_mirror_stalled{source=\"us\",target=\"eu\"} 1") {
            assert!(metric_sum(&metrics, "runnel_mirror_lag_records") > 0.0, "{metrics}");
            // The status page says so too.
            let page = mirror_http(&log, "/");
            assert!(page.contains("Stalled:") && page.contains("records wait on the source"), "{page}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no stall shown while the target is down:\n{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }

    if let Some(rest) = Duration::from_secs(30).checked_sub(down_since.elapsed()) {
        std::thread::sleep(rest);
    }
    // It comes back on the same address: the mirror carries on by itself.
    let eu = BrokerProcess::start_on(&dir.path().join("eu"), &eu_listen);
    assert_every_record_arrives(&us_b, &eu.bootstrap(), 10_000, &log);
    let metrics = mirror_metrics(&log);
    assert!(metrics.contains("runnel_mirror_stalled{source=\"us\",target=\"eu\"} 0"), "{metrics}");
    let page = mirror_http(&log, "/");
    assert!(page.contains("Caught up.") && page.contains("<td>orders</td>"), "{page}");
    stop(mirror, &log);
}

#[test]
fn a_source_broker_restart_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let us_listen = format!("127.0.0.1:{}", free_port());
    let us = BrokerProcess::start_on(&dir.path().join("us"), &us_listen);
    let eu = BrokerProcess::start(&dir.path().join("eu"));
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &[]);
    produce(&us_b, "orders", 0, 5_000);
    let log = dir.path().join("mirror.log");
    let mirror = start_mirror(&us_b, &eu_b, ("us", "eu"), &log);
    wait_for_count(&eu_b, "us.orders", 5_000, &log);

    // The source restarts (a clean stop), then gets more records: the mirror reconnects and
    // copies them, from where its committed offsets say.
    assert!(us.terminate(), "the source stops cleanly");
    let us = BrokerProcess::start_on(&dir.path().join("us"), &us_listen);
    produce(&us.bootstrap(), "orders", 5_000, 5_000);
    assert_every_record_arrives(&us_b, &eu_b, 10_000, &log);
    stop(mirror, &log);
}

/// Writes `rounds` transactions of 200 records each, numbered from `first`, aborting every
/// third: the source log gets transaction markers and aborted records, gaps in the offsets a
/// reader sees. Returns the numbers committed.
fn produce_transactions(bootstrap: &str, topic: &str, first: usize, rounds: usize) -> Vec<usize> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", "mirror-test-transactions")
        .set("partitioner", "murmur2_random")
        .create()
        .expect("transactional producer");
    producer.init_transactions(Duration::from_secs(30)).expect("init transactions");
    let mut committed = Vec::new();
    for round in 0..rounds {
        producer.begin_transaction().expect("begin");
        let numbers: Vec<usize> = (first + round * 200..first + (round + 1) * 200).collect();
        for &n in &numbers {
            let (key, value) = (format!("key-{}", n % 977), format!("record-{n}"));
            send_retrying(&producer, BaseRecord::<str, str>::to(topic).key(&key).payload(&value));
        }
        // A BaseProducer's delivery reports are served by polling, which flush does.
        producer.flush(Duration::from_secs(30)).expect("flush the transaction's records");
        if round % 3 == 2 {
            producer.abort_transaction(Duration::from_secs(30)).expect("abort");
        } else {
            producer.commit_transaction(Duration::from_secs(30)).expect("commit");
            committed.extend(numbers);
        }
    }
    committed
}

/// A consumer in `group` on `bootstrap` reading `topic` from its committed offsets (or the
/// beginning): the values of up to `per_partition` records of each partition, then its
/// position is committed. Reads to the end when `per_partition` is `None`.
fn consume_in_group(bootstrap: &str, group: &str, topic: &str, per_partition: Option<usize>) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("group consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut values = Vec::new();
    let mut read = [0usize; PARTITIONS as usize];
    let mut done = std::collections::HashSet::new();
    let started = Instant::now();
    while done.len() < PARTITIONS as usize {
        assert!(started.elapsed() < Duration::from_secs(60), "{group} read {} records in 60 s", values.len());
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let p = m.partition();
                done.remove(&p);
                values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
                read[p as usize] += 1;
                if per_partition.is_some_and(|limit| read[p as usize] >= limit) {
                    let mut paused = TopicPartitionList::new();
                    paused.add_partition(topic, p);
                    consumer.pause(&paused).expect("pause");
                    done.insert(p);
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                done.insert(p);
            }
            Some(Err(e)) => panic!("{group} reading {topic}: {e}"),
            None => {}
        }
    }
    if !values.is_empty() {
        consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync).expect("commit");
    }
    values
}

/// The committed offsets of `group` on `bootstrap`, per topic and partition.
fn group_offsets(bootstrap: &str, group: &str) -> BTreeMap<(String, i64), i64> {
    let described = runnel(&["group", "describe", group, "--brokers", bootstrap, "--output", "json"]);
    let described: serde_json::Value = serde_json::from_slice(&described.stdout).unwrap_or_default();
    described["offsets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| Some(((o["topic"].as_str()?.to_string(), o["partition"].as_i64()?), o["committed"].as_i64()?)))
        .collect()
}

/// Every record of partition 0 of `topic`, key and value.
fn read_partition_zero(bootstrap: &str, topic: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "mirror-test-internal-reader")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Beginning).expect("offset");
    consumer.assign(&list).expect("assign");
    let mut records = Vec::new();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "reading {topic} took over 30 s");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records.push((m.key().unwrap_or_default().to_vec(), m.payload().unwrap_or_default().to_vec()))
            }
            Some(Err(KafkaError::PartitionEOF(_))) => return records,
            Some(Err(e)) => panic!("read {topic}: {e}"),
            None => {}
        }
    }
}

/// Waits until every record is copied and `group`'s offsets are on the target.
fn wait_for_group_on_target(source: &str, target: &str, group: &str, log: &Path) {
    let started = Instant::now();
    loop {
        let on_target = group_offsets(target, group);
        if mirror_lag(source) == Some(0)
            && on_target.keys().filter(|(t, _)| t == "us.orders").count() == PARTITIONS as usize
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{group}'s offsets never reached the target ({on_target:?}):\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_group_resumes_on_the_target_exactly_where_it_committed_on_the_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (us, eu) = (BrokerProcess::start(&dir.path().join("us")), BrokerProcess::start(&dir.path().join("eu")));
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &[]);
    // Plain records, then transactions (markers, and aborted records a reader never sees),
    // then plain records again.
    produce(&us_b, "orders", 0, 4_000);
    let mut committed: Vec<String> = (0..4_000).map(|n| format!("record-{n}")).collect();
    committed.extend(produce_transactions(&us_b, "orders", 100_000, 12).into_iter().map(|n| format!("record-{n}")));
    produce(&us_b, "orders", 200_000, 4_000);
    committed.extend((200_000..204_000).map(|n| format!("record-{n}")));

    // The group reads part of the topic on the source and commits where it stopped: in the
    // middle of every partition, past markers and aborted records.
    let read_on_source =
        consume_in_group(&us_b, "billing", "orders", Some(committed.len() * 3 / 5 / PARTITIONS as usize));
    let source_offsets = group_offsets(&us_b, "billing");
    assert_eq!(source_offsets.len(), PARTITIONS as usize, "billing committed every partition: {source_offsets:?}");

    let log = dir.path().join("mirror.log");
    let mut mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, &["--checkpoint-secs", "0.5"]);
    wait_for_group_on_target(&us_b, &eu_b, "billing", &log);
    // A second group commits while the mirror is down: the restarted mirror translates its
    // offsets from the points it reads back from the offset-syncs topic.
    mirror.kill();
    let audit_read_on_source =
        consume_in_group(&us_b, "audit", "orders", Some(committed.len() / 3 / PARTITIONS as usize));
    let mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, &["--checkpoint-secs", "0.5"]);
    wait_for_group_on_target(&us_b, &eu_b, "audit", &log);

    // Both groups fail over: on the target each reads exactly what it had not read on the
    // source.
    for (group, read_on_source) in [("billing", read_on_source), ("audit", audit_read_on_source)] {
        let read_on_target = consume_in_group(&eu_b, group, "us.orders", None);
        let on_source: std::collections::HashSet<&String> = read_on_source.iter().collect();
        let on_target: std::collections::HashSet<&String> = read_on_target.iter().collect();
        let duplicates = on_source.intersection(&on_target).count();
        let skipped: Vec<&String> =
            committed.iter().filter(|v| !on_source.contains(v) && !on_target.contains(v)).collect();
        eprintln!(
            "{group} read {} on the source and {} on the target; {} skipped, {duplicates} read twice",
            read_on_source.len(),
            read_on_target.len(),
            skipped.len()
        );
        assert!(
            skipped.is_empty(),
            "{group}: {} records skipped in the failover ({:?}…)",
            skipped.len(),
            skipped.first()
        );
        assert_eq!(duplicates, 0, "{group}: the translation is exact, nothing read twice");
        assert_eq!(read_on_target.len(), on_target.len(), "{group}: nothing read twice on the target");
    }

    // MirrorMaker 2's checkpoints are on the target; heartbeats came through.
    let checkpoints = read_partition_zero(&eu_b, "us.checkpoints.internal");
    let billing_key_prefix = [&[0u8, 7][..], b"billing", &[0, 9], b"us.orders"].concat();
    assert!(
        checkpoints.iter().any(|(key, value)| key.starts_with(&billing_key_prefix) && value.len() == 2 + 8 + 8 + 2),
        "a checkpoint of billing on us.orders, in MM2's format"
    );
    // The restarted mirror gets its partitions once the killed one's session times out.
    let started = Instant::now();
    let metrics = loop {
        let metrics = mirror_metrics(&log);
        if count(&eu_b, "us.heartbeats") > 0 && metrics.contains("runnel_mirror_heartbeat_latency_seconds{") {
            break metrics;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no heartbeat reached the target:\n{metrics}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(metric_sum(&metrics, "runnel_mirror_checkpoints_total") >= PARTITIONS as f64, "{metrics}");
    assert!(metric_sum(&metrics, "runnel_mirror_group_offsets_written_total") >= PARTITIONS as f64, "{metrics}");
    stop(mirror, &log);
}

#[test]
fn a_slow_link_to_the_target_loses_nothing_and_keeps_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let us = BrokerProcess::start(&dir.path().join("us"));
    // "eu" is 20 ms away each way: it is reached, and advertises itself, through a proxy that
    // delays every byte.
    let eu_port = free_port();
    let proxy = DelayProxy::start(format!("127.0.0.1:{eu_port}").parse().expect("address"), Duration::from_millis(20));
    let config = dir.path().join("eu.properties");
    std::fs::write(&config, format!("advertised.listeners=PLAINTEXT://{}\n", proxy.address)).expect("eu config");
    let eu_dir = dir.path().join("eu");
    let _eu =
        BrokerProcess::start_with(&eu_dir, &format!("127.0.0.1:{eu_port}"), &["-c", config.to_str().expect("utf-8")]);
    let (us_b, eu_b) = (us.bootstrap(), proxy.address.to_string());
    create(&us_b, "orders", &[]);
    produce(&us_b, "orders", 0, 20_000);
    let log = dir.path().join("mirror.log");
    let started = Instant::now();
    let mirror = start_mirror(&us_b, &eu_b, ("us", "eu"), &log);
    assert_every_record_arrives(&us_b, &eu_b, 20_000, &log);
    eprintln!(
        "20,000 records over a link 20 ms each way: {:.1} s from the mirror's start",
        started.elapsed().as_secs_f64()
    );
    stop(mirror, &log);
    let (source, target) = (read_all(&us_b, "orders"), read_all(&eu_b, "us.orders"));
    for p in 0..PARTITIONS {
        assert_eq!(source[&p], target[&p], "partition {p}: the copy is the source, in order, once");
    }

    // The same link with --preserve-offsets (its own pipelined writer), into `usp.orders`.
    let log = dir.path().join("preserving-mirror.log");
    let started = Instant::now();
    let mirror = start_mirror_with(&us_b, &eu_b, ("usp", "eu"), &log, &["--preserve-offsets"]);
    while high_watermarks(&eu_b, "usp.orders") != high_watermarks(&us_b, "orders") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the preserving mirror did not catch up over the slow link:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "20,000 records at their source offsets over the same link: {:.1} s from the mirror's start",
        started.elapsed().as_secs_f64()
    );
    stop(mirror, &log);
    let (source, target) = (read_all_with_offsets(&us_b, "orders"), read_all_with_offsets(&eu_b, "usp.orders"));
    assert_eq!(source, target, "every record at its source offset, once");
}

#[test]
fn exactly_once_mirroring_copies_every_record_once_across_a_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (us, eu) = (BrokerProcess::start(&dir.path().join("us")), BrokerProcess::start(&dir.path().join("eu")));
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &[]);
    produce(&us_b, "orders", 0, 60_000);
    let log = dir.path().join("mirror.log");
    let mut mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, &["--exactly-once"]);
    wait_for_count(&eu_b, "us.orders", 20_000, &log);
    mirror.kill();
    // More records while it is down; it resumes from the offsets its transactions committed.
    produce(&us_b, "orders", 60_000, 20_000);
    let mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, &["--exactly-once"]);
    let started = Instant::now();
    let target = loop {
        let target = read_all(&eu_b, "us.orders");
        if target.values().map(Vec::len).sum::<usize>() >= 80_000 {
            break target;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the target holds {} committed records of 80,000:\n{}",
            target.values().map(Vec::len).sum::<usize>(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    stop(mirror, &log);
    eprintln!(
        "the target's log holds {} offsets (records of aborted transactions and markers included) for 80,000 records",
        count(&eu_b, "us.orders")
    );
    // A read_committed reader sees the source, once, in order: no duplicates at all.
    let source = read_all(&us_b, "orders");
    for p in 0..PARTITIONS {
        assert_eq!(source[&p], target[&p], "partition {p}: every record exactly once, in order");
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log_text.contains("mirroring, exactly once"), "{log_text}");
}

#[test]
fn a_second_exactly_once_mirror_fences_the_first_and_nothing_is_copied_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (us, eu) = (BrokerProcess::start(&dir.path().join("us")), BrokerProcess::start(&dir.path().join("eu")));
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &[]);
    produce(&us_b, "orders", 0, 20_000);
    let (first_log, second_log) = (dir.path().join("first.log"), dir.path().join("second.log"));
    let mut first = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &first_log, &["--exactly-once"]);
    wait_for_count(&eu_b, "us.orders", 20_000, &first_log);
    // The same aliases, so the same transactional id: the broker fences the first mirror.
    let second = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &second_log, &["--exactly-once"]);
    produce(&us_b, "orders", 20_000, 10_000);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = first.0.try_wait().expect("the first mirror's state") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first mirror still runs beside the second:\n{}\nthe second:\n{}",
            std::fs::read_to_string(&first_log).unwrap_or_default(),
            std::fs::read_to_string(&second_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let first_text = std::fs::read_to_string(&first_log).unwrap_or_default();
    assert!(!status.success(), "a fenced mirror stops with an error:\n{first_text}");
    assert!(
        first_text.contains("transactions stopped") || first_text.to_lowercase().contains("fenced"),
        "{first_text}"
    );
    let started = Instant::now();
    let target = loop {
        let target = read_all(&eu_b, "us.orders");
        if target.values().map(Vec::len).sum::<usize>() >= 30_000 {
            break target;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "the second mirror did not copy the rest");
        std::thread::sleep(Duration::from_millis(500));
    };
    stop(second, &second_log);
    let source = read_all(&us_b, "orders");
    for p in 0..PARTITIONS {
        assert_eq!(source[&p], target[&p], "partition {p}: every record exactly once, in order");
    }
}

/// Every record of each partition of `topic` with its offset (read_committed, librdkafka's
/// default).
fn read_all_with_offsets(bootstrap: &str, topic: &str) -> BTreeMap<i32, Vec<(i64, Copied)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "mirror-test-offset-reader")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, Offset::Beginning).expect("offset");
    }
    consumer.assign(&list).expect("assign");
    let mut records: BTreeMap<i32, Vec<(i64, Copied)>> = (0..PARTITIONS).map(|p| (p, Vec::new())).collect();
    let (mut at_end, started) = (std::collections::HashSet::new(), Instant::now());
    while at_end.len() < PARTITIONS as usize {
        assert!(started.elapsed() < Duration::from_secs(60), "reading {topic} took over 60 s");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|hs| hs.iter().map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec())).collect())
                    .unwrap_or_default();
                let copied = Copied {
                    key: m.key().unwrap_or_default().to_vec(),
                    value: m.payload().unwrap_or_default().to_vec(),
                    headers,
                    timestamp: m.timestamp().to_millis().unwrap_or(-1),
                };
                records.get_mut(&m.partition()).expect("a known partition").push((m.offset(), copied));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("read {topic}: {e}"),
            None => {}
        }
    }
    records
}

/// Each partition's high watermark.
fn high_watermarks(bootstrap: &str, topic: &str) -> Vec<i64> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("a metadata client");
    (0..PARTITIONS)
        .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).map_or(-1, |(_, high)| high))
        .collect()
}

/// Waits until every partition of the copy ends where its source does.
fn wait_for_same_ends(source: &str, target: &str, log: &Path) {
    let started = Instant::now();
    while high_watermarks(source, "orders") != high_watermarks(target, "us.orders") {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the copy ends at {:?}, its source at {:?}; the mirror's log:\n{}",
            high_watermarks(target, "us.orders"),
            high_watermarks(source, "orders"),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Checks that every partition of the copy holds its source's records at their offsets.
fn assert_same_records_at_same_offsets(source: &str, target: &str) -> usize {
    let (source, target) = (read_all_with_offsets(source, "orders"), read_all_with_offsets(target, "us.orders"));
    for p in 0..PARTITIONS {
        assert_eq!(source[&p].len(), target[&p].len(), "partition {p}: as many records on both sides");
        for (original, copy) in source[&p].iter().zip(&target[&p]) {
            assert_eq!(original, copy, "partition {p}: the record at offset {} is its source's", original.0);
        }
    }
    target.values().map(Vec::len).sum()
}

/// `runnel produce` of `lines` to `topic`.
fn produce_cli(bootstrap: &str, topic: &str, lines: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["produce", topic, "--brokers", bootstrap, "--partition", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runnel produce");
    child.stdin.take().expect("stdin").write_all(lines.as_bytes()).expect("write lines");
    child.wait_with_output().expect("runnel produce")
}

#[test]
fn offset_preserving_mirror_keeps_every_offset_refuses_writers_until_promotion_and_needs_no_translation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (us, eu) = (BrokerProcess::start(&dir.path().join("us")), BrokerProcess::start(&dir.path().join("eu")));
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &["retention.ms=86400000"]);
    // Plain records, transactions (markers, and aborted records a reader never sees: gaps in
    // the offsets), plain records again.
    produce(&us_b, "orders", 0, 4_000);
    let mut committed: Vec<String> = (0..4_000).map(|n| format!("record-{n}")).collect();
    committed.extend(produce_transactions(&us_b, "orders", 100_000, 12).into_iter().map(|n| format!("record-{n}")));
    produce(&us_b, "orders", 200_000, 4_000);
    committed.extend((200_000..204_000).map(|n| format!("record-{n}")));
    let read_on_source =
        consume_in_group(&us_b, "billing", "orders", Some(committed.len() * 3 / 5 / PARTITIONS as usize));
    let source_offsets = group_offsets(&us_b, "billing");

    let log = dir.path().join("mirror.log");
    let preserve = ["--preserve-offsets", "--checkpoint-secs", "0.5"];
    let mut mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, &preserve);
    wait_for_same_ends(&us_b, &eu_b, &log);
    // More records while it runs; it is SIGKILLed partway through them and comes back.
    let writer = {
        let us_b = us_b.clone();
        std::thread::spawn(move || produce(&us_b, "orders", 300_000, 40_000))
    };
    committed.extend((300_000..340_000).map(|n| format!("record-{n}")));
    let started = Instant::now();
    while count(&eu_b, "us.orders") < count(&us_b, "orders").min(12_000 + 10_000) {
        assert!(started.elapsed() < Duration::from_secs(60), "the mirror stopped copying");
        std::thread::sleep(Duration::from_millis(20));
    }
    mirror.kill();
    eprintln!("mirror SIGKILLed with {} of {} records copied", count(&eu_b, "us.orders"), count(&us_b, "orders"));
    writer.join().expect("the writer");
    let mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, &preserve);
    wait_for_same_ends(&us_b, &eu_b, &log);

    // Every record at its source offset: same offsets, keys, values, headers and timestamps,
    // none twice, none missing.
    let copied = assert_same_records_at_same_offsets(&us_b, &eu_b);
    assert_eq!(copied, committed.len(), "every committed record once, no aborted one");

    // The copy is read-only: a producer gets POLICY_VIOLATION at once.
    let refused = produce_cli(&eu_b, "us.orders", "not allowed\n");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a write to a mirror topic is refused");
    assert!(stderr.contains("PolicyViolation"), "{stderr}");

    // Group offsets are copied as they are.
    wait_for_group_on_target(&us_b, &eu_b, "billing", &log);
    let on_target = group_offsets(&eu_b, "billing");
    for ((topic, partition), offset) in &source_offsets {
        assert_eq!(topic, "orders");
        assert_eq!(
            on_target.get(&("us.orders".to_string(), *partition)),
            Some(offset),
            "no translation: {on_target:?}"
        );
    }

    // Failover: promote the copy; it takes producers, the mirror stops writing it, and the
    // group goes on where it was.
    let promoted = runnel(&["mirror", "promote", "us.orders", "--target", &eu_b]);
    assert!(promoted.status.success(), "promote: {}", String::from_utf8_lossy(&promoted.stderr));
    assert!(String::from_utf8_lossy(&promoted.stdout).contains("promoted us.orders (was a mirror topic of link us)"));
    let again = runnel(&["mirror", "promote", "us.orders", "--target", &eu_b]);
    assert!(!again.status.success(), "promoting twice is an error");
    assert!(String::from_utf8_lossy(&again.stderr).contains("us.orders is not a mirror topic"));
    let local = produce_cli(&eu_b, "us.orders", "written in eu after the failover\n");
    assert!(local.status.success(), "a promoted topic takes producers: {}", String::from_utf8_lossy(&local.stderr));
    produce(&us_b, "orders", 400_000, 100);
    let started = Instant::now();
    // It notices at its next topic refresh, or at its next write, whichever comes first.
    let noticed = |text: String| {
        text.contains("stopped mirroring a topic the target promoted")
            || text.contains("not copied: on the target it is not a mirror topic of link us")
    };
    while !noticed(std::fs::read_to_string(&log).unwrap_or_default()) {
        assert!(started.elapsed() < Duration::from_secs(30), "the mirror never noticed the promotion");
        std::thread::sleep(Duration::from_millis(100));
    }
    let read_on_target = consume_in_group(&eu_b, "billing", "us.orders", None);
    let on_source: std::collections::HashSet<&String> = read_on_source.iter().collect();
    let on_target: std::collections::HashSet<&String> = read_on_target.iter().collect();
    let skipped = committed.iter().filter(|v| !on_source.contains(v) && !on_target.contains(v)).count();
    let twice = on_source.intersection(&on_target).count();
    eprintln!("billing read {} on the source, {} on the target", read_on_source.len(), read_on_target.len());
    assert_eq!((skipped, twice), (0, 0), "the group resumes exactly where it was");
    assert!(on_target.contains(&"written in eu after the failover".to_string()));
    assert!(!read_on_target.iter().any(|v| v.starts_with("record-4000")), "nothing copied after the promotion");
    stop(mirror, &log);
}

#[test]
fn offset_preserving_mirror_rides_out_a_target_crash_and_a_source_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (us_listen, eu_listen) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let us = BrokerProcess::start_on(&dir.path().join("us"), &us_listen);
    let eu = BrokerProcess::start_on(&dir.path().join("eu"), &eu_listen);
    let (us_b, eu_b) = (us.bootstrap(), eu.bootstrap());
    create(&us_b, "orders", &[]);
    produce(&us_b, "orders", 0, 5_000);
    let log = dir.path().join("mirror.log");
    let mirror = start_mirror_with(&us_b, &eu_b, ("us", "eu"), &log, &["--preserve-offsets"]);
    wait_for_same_ends(&us_b, &eu_b, &log);

    // The target is SIGKILLed while records come, and is down for 5 s: what it acknowledged
    // was fsynced, and the mirror goes on from the log ends it finds when it is back.
    let writer = {
        let us_b = us_b.clone();
        std::thread::spawn(move || produce(&us_b, "orders", 5_000, 30_000))
    };
    let started = Instant::now();
    while count(&eu_b, "us.orders") < 8_000 {
        assert!(started.elapsed() < Duration::from_secs(60), "the mirror stopped copying");
        std::thread::sleep(Duration::from_millis(20));
    }
    eu.kill();
    writer.join().expect("the writer");
    std::thread::sleep(Duration::from_secs(5));
    let eu = BrokerProcess::start_on(&dir.path().join("eu"), &eu_listen);
    wait_for_same_ends(&us_b, &eu_b, &log);

    // The source restarts, then gets more records.
    assert!(us.terminate(), "the source stops cleanly");
    let us = BrokerProcess::start_on(&dir.path().join("us"), &us_listen);
    produce(&us.bootstrap(), "orders", 35_000, 5_000);
    wait_for_same_ends(&us_b, &eu_b, &log);
    let copied = assert_same_records_at_same_offsets(&us_b, &eu.bootstrap());
    assert_eq!(copied, 40_000, "every record once");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("going on from its log ends"), "the mirror saw the target go:\n{text}");
    stop(mirror, &log);
}
