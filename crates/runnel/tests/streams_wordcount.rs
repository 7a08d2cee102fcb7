//! runnel-streams' `wordcount` example against `runnel serve`: two instances of one
//! application split the input partitions; one is SIGKILLed mid-run and the other takes over
//! its partitions, restoring their counts from the changelog. Exactly-once: every word's
//! committed counts are exactly 1, 2, ... up to the truth, each once. At-least-once: the final
//! counts are never lower than the truth. With stores on disk, an instance stopped cleanly
//! restarts from its checkpoint with nothing to restore, and one that crashed under
//! exactly-once throws its local state away and restores it in full.
//!
//! The example binary is built by `cargo build --workspace --all-targets` (or
//! `cargo build -p runnel-streams --examples`), as the test command does first.

mod broker_process;
mod streams_support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use streams_support::{create_topic, example, http_get, query_address};

const PARTITIONS: i32 = 4;
const LINES_PER_PHASE: usize = 1500;

/// The broker, with timed-out transactions aborted within a second (a killed instance's open
/// transaction then holds the partitions it wrote for about its 10 s timeout, not 20 s).
fn start_broker(dir: &Path) -> BrokerProcess {
    let properties = dir.join("server.properties");
    std::fs::write(&properties, "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000\n")
        .expect("write server.properties");
    let data = dir.join("data");
    BrokerProcess::start_with(&data, "127.0.0.1:0", &["--config", properties.to_str().expect("utf-8 path")])
}

/// Writes `LINES_PER_PHASE` lines of eight words from a 40-word vocabulary, spread over the
/// partitions, and adds each word's occurrences to `truth`.
fn produce_lines(bootstrap: &str, phase: usize, truth: &mut BTreeMap<String, i64>) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("producer");
    for line in 0..LINES_PER_PHASE {
        let n = phase * LINES_PER_PHASE + line;
        let words: Vec<String> = (0..8).map(|i| format!("w{}", (n * 7 + i * 13) % 40)).collect();
        for w in &words {
            *truth.entry(w.clone()).or_default() += 1;
        }
        let text = words.join(" ");
        let partition = (n % PARTITIONS as usize) as i32;
        loop {
            match producer.send(BaseRecord::<(), String>::to("lines").payload(&text).partition(partition)) {
                Ok(()) => break,
                Err((_, _)) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush the lines");
}

/// Waits until each partition of the counts' changelog holds records: every task has committed
/// state, so a task that changes hands has something to restore.
fn wait_for_state_in_every_changelog_partition(bootstrap: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "watermarks")
        .create()
        .expect("consumer");
    let started = Instant::now();
    loop {
        let filled = (0..PARTITIONS)
            .filter(|p| {
                consumer
                    .fetch_watermarks("wc-counts-changelog", *p, Duration::from_secs(5))
                    .is_ok_and(|(_, high)| high > 0)
            })
            .count();
        if filled == PARTITIONS as usize {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {filled} changelog partitions hold state after 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One wordcount instance, logging to `log`.
fn start_instance(bootstrap: &str, exactly_once: bool, log: &Path) -> Child {
    start_instance_with(bootstrap, exactly_once, None, log)
}

/// One wordcount instance, its stores on disk in `state_dir` when given.
fn start_instance_with(bootstrap: &str, exactly_once: bool, state_dir: Option<&Path>, log: &Path) -> Child {
    let mut command = Command::new(example("wordcount"));
    if let Some(dir) = state_dir {
        command.arg("--state-dir").arg(dir);
    }
    command.args(["--brokers", bootstrap, "--input", "lines", "--output", "counts", "--application-id", "wc"]);
    command.args(["-X", "consumer.session.timeout.ms=6000", "-X", "consumer.heartbeat.interval.ms=500"]);
    command.args(["--query-listen", "127.0.0.1:0"]);
    if exactly_once {
        command.arg("--exactly-once");
    } else {
        command.args(["--commit-interval-ms", "300"]);
    }
    command
        .env("RUNNEL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("create a log"))
        .spawn()
        .expect("start wordcount")
}

/// Every (word, count) on the output topic, per word in the order written.
fn read_counts(bootstrap: &str, isolation: &str) -> HashMap<String, Vec<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "counts-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset("counts", p, Offset::Beginning).expect("offset");
    }
    consumer.assign(&list).expect("assign");
    let mut counts: HashMap<String, Vec<i64>> = HashMap::new();
    let mut at_end = 0;
    let started = Instant::now();
    while at_end < PARTITIONS && started.elapsed() < Duration::from_secs(30) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let word = String::from_utf8(m.key().expect("a key").to_vec()).expect("utf-8 word");
                let count: i64 = std::str::from_utf8(m.payload().expect("a value"))
                    .expect("utf-8 count")
                    .parse()
                    .expect("a count in text");
                counts.entry(word).or_default().push(count);
            }
            Some(Err(KafkaError::PartitionEOF(_))) => at_end += 1,
            Some(Err(e)) => panic!("read counts: {e}"),
            None => {}
        }
    }
    counts
}

fn wait_for_line(log: &Path, needle: &str, limit: Duration) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if std::fs::read_to_string(log).unwrap_or_default().contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} never logged {needle:?}:\n{}", log.display(), std::fs::read_to_string(log).unwrap_or_default());
}

/// A broker with the input and output topics, and the first phase of lines written.
fn start_with_first_lines(dir: &Path) -> (BrokerProcess, String, BTreeMap<String, i64>) {
    let broker = start_broker(dir);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "lines", PARTITIONS);
    create_topic(&bootstrap, "counts", PARTITIONS);
    let mut truth = BTreeMap::new();
    produce_lines(&bootstrap, 0, &mut truth);
    (broker, bootstrap, truth)
}

fn survives_a_sigkill(exactly_once: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (broker, bootstrap, mut truth) = start_with_first_lines(dir.path());

    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut a = start_instance(&bootstrap, exactly_once, &log_a);
    wait_for_line(&log_a, "tasks assigned", Duration::from_secs(30));
    let mut b = start_instance(&bootstrap, exactly_once, &log_b);
    wait_for_line(&log_b, "tasks assigned", Duration::from_secs(30));
    // Both run: the second joining split the tasks. Once both have committed counts (every
    // changelog partition holds some), more lines come and one instance dies mid-run.
    wait_for_state_in_every_changelog_partition(&bootstrap);
    produce_lines(&bootstrap, 1, &mut truth);
    a.kill().expect("SIGKILL instance a");
    a.wait().expect("reap instance a");
    produce_lines(&bootstrap, 2, &mut truth);

    let isolation = if exactly_once { "read_committed" } else { "read_uncommitted" };
    let counts = wait_for_truth(&bootstrap, isolation, &truth, &log_b);
    let b_log = std::fs::read_to_string(&log_b).unwrap_or_default();
    assert!(b_log.contains("restored the task's state"), "b took over a's counts from the changelog:\n{b_log}");
    let last_assignment = b_log.lines().rfind(|l| l.contains("tasks assigned")).expect("an assignment");
    for task in ["0_0", "0_1", "0_2", "0_3", "1_0", "1_1", "1_2", "1_3"] {
        assert!(last_assignment.contains(task), "b runs every task after a's death: {last_assignment}");
    }
    if std::env::var_os("KEEP_STREAMS_LOGS").is_some() {
        std::fs::copy(&log_a, format!("/tmp/wordcount-a-{exactly_once}.log")).ok();
        std::fs::copy(&log_b, format!("/tmp/wordcount-b-{exactly_once}.log")).ok();
    }

    for (word, n) in &truth {
        let seen = &counts[word];
        if exactly_once {
            let expected: Vec<i64> = (1..=*n).collect();
            assert_eq!(seen, &expected, "{word}: every count exactly once, in order");
        } else {
            assert!(seen.iter().max() >= Some(n), "{word}: final count {:?} below the truth {n}", seen.iter().max());
        }
    }
    // Interactive queries: b now holds every count; its final values are the ones written last.
    let queries = query_address(&log_b).expect("b serves queries");
    for (word, seen) in counts.iter().take(5) {
        let body = http_get(&queries, &format!("/stores/counts/{word}"));
        assert!(body.contains(&format!("\"value\":{}", seen.last().expect("a count"))), "{word}: {body}");
    }
    let missing = http_get(&queries, "/stores/counts/never-seen");
    assert!(missing.starts_with("HTTP/1.1 404") && missing.contains("no value"), "{missing}");
    let metrics = http_get(&queries, "/metrics");
    assert!(metrics.contains("runnel_streams_records_processed_total{application_id=\"wc\"}"), "{metrics}");

    let _ = Command::new("kill").args(["-TERM", &b.id().to_string()]).status();
    let status = b.wait().expect("wait for instance b");
    assert!(status.success(), "instance b stops cleanly on SIGTERM:\n{b_log}");
    drop(broker);
}

#[test]
fn wordcount_exactly_once_counts_every_word_once_across_a_sigkill() {
    survives_a_sigkill(true);
}

#[test]
fn wordcount_at_least_once_never_undercounts_across_a_sigkill() {
    survives_a_sigkill(false);
}

/// Waits until every word's count on the output reaches the truth (`log`: the running
/// instance's, shown if it never does).
fn wait_for_truth(
    bootstrap: &str,
    isolation: &str,
    truth: &BTreeMap<String, i64>,
    log: &Path,
) -> HashMap<String, Vec<i64>> {
    let started = Instant::now();
    loop {
        let counts = read_counts(bootstrap, isolation);
        if truth.iter().all(|(w, n)| counts.get(w).and_then(|c| c.iter().max()).is_some_and(|max| max >= n)) {
            return counts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "counts did not reach the truth in 120 s; the log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn stop_cleanly(mut child: Child, log: &Path) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().expect("wait for an instance");
    assert!(status.success(), "stops cleanly on SIGTERM:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

#[test]
fn wordcount_on_disk_restarts_from_its_checkpoint_and_after_a_crash_restores_in_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (broker, bootstrap, mut truth) = start_with_first_lines(dir.path());
    let (state_a, state_b) = (dir.path().join("state-a"), dir.path().join("state-b"));
    let log = |name: &str| dir.path().join(format!("{name}.log"));

    let mut a = start_instance_with(&bootstrap, true, Some(&state_a), &log("a"));
    wait_for_line(&log("a"), "tasks assigned", Duration::from_secs(30));
    let b = start_instance_with(&bootstrap, true, Some(&state_b), &log("b"));
    wait_for_line(&log("b"), "tasks assigned", Duration::from_secs(30));
    wait_for_state_in_every_changelog_partition(&bootstrap);
    produce_lines(&bootstrap, 1, &mut truth);
    a.kill().expect("SIGKILL instance a");
    a.wait().expect("reap instance a");
    produce_lines(&bootstrap, 2, &mut truth);
    wait_for_truth(&bootstrap, "read_committed", &truth, &log("b"));

    // b, now running every task, stops cleanly: a checkpoint per task.
    stop_cleanly(b, &log("b"));
    for task in ["0_0", "0_1", "0_2", "0_3", "1_0", "1_1", "1_2", "1_3"] {
        assert!(state_b.join("wc/checkpoints").join(task).exists(), "b wrote a checkpoint for task {task}");
    }
    // Restarted, b finds its stores current: nothing read from the changelogs.
    let b = start_instance_with(&bootstrap, true, Some(&state_b), &log("b2"));
    wait_for_line(&log("b2"), "tasks assigned", Duration::from_secs(30));
    let b2 = std::fs::read_to_string(log("b2")).unwrap_or_default();
    assert!(b2.contains("local state current up to offset"), "b restarts from its checkpoints:\n{b2}");
    assert!(!b2.contains("restoring a store from its changelog"), "b had nothing to restore:\n{b2}");
    produce_lines(&bootstrap, 3, &mut truth);
    wait_for_truth(&bootstrap, "read_committed", &truth, &log("b2"));

    // a comes back on the state it had when it was killed. Its stores may hold writes of
    // transactions that never committed: with no checkpoint for its tasks they are cleared and
    // restored from the changelog's start.
    let a = start_instance_with(&bootstrap, true, Some(&state_a), &log("a2"));
    wait_for_line(&log("a2"), "tasks assigned", Duration::from_secs(30));
    produce_lines(&bootstrap, 4, &mut truth);
    let counts = wait_for_truth(&bootstrap, "read_committed", &truth, &log("a2"));
    let a2 = std::fs::read_to_string(log("a2")).unwrap_or_default();
    assert!(a2.contains("restored the task's state"), "a restored its tasks:\n{a2}");
    for (word, n) in &truth {
        let expected: Vec<i64> = (1..=*n).collect();
        assert_eq!(&counts[word], &expected, "{word}: every count exactly once, in order");
    }
    stop_cleanly(a, &log("a2"));
    stop_cleanly(b, &log("b2"));
    drop(broker);
}
