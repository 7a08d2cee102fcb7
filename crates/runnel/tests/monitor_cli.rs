//! `runnel monitor` reads another cluster (here a second `runnel serve`, standing in for Apache
//! Kafka or Redpanda) through the Kafka protocol and reports the same topic, group and lag
//! metrics as the broker reports for itself, and serves the same console.

mod broker_process;
mod raw_client;
mod scrape;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_process::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use scrape::{http, sample, scrape, scrape_at};

/// `runnel monitor` on a free port, its history in a temporary directory; killed on drop.
struct Monitor {
    child: Child,
    addr: SocketAddr,
    _history: tempfile::TempDir,
}

impl Monitor {
    fn start(brokers: &str, extra: &[&str]) -> Monitor {
        let history = tempfile::tempdir().expect("tempdir");
        let history_dir = history.path().to_str().expect("utf-8 path").to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args(["monitor", "--brokers", brokers, "--http-listen", "127.0.0.1:0", "--history-dir", &history_dir])
            .args(extra)
            .env("RUNNEL_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn runnel monitor");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the first line");
        let addr = line
            .strip_prefix("runnel monitor listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line from runnel monitor: {line:?}"))
            .parse()
            .expect("address");
        Monitor { child, addr, _history: history }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_the_same_offsets_lag_and_time_lag_as_the_broker_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    assert_eq!(raw_client::create_topic(&mut raw_client::connect(&broker), "watched", 1, &[]).0, 0);
    let base = now_ms() - 7_200_000;
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", &bootstrap).set("linger.ms", "5").create().expect("producer");
    for i in 0..200i64 {
        let value = format!("record {i}");
        let record = FutureRecord::<str, str>::to("watched").partition(0).payload(&value).timestamp(base + i * 1_000);
        producer.send(record, Duration::from_secs(10)).await.expect("produce");
    }
    for (group, offset) in [("behind", 50), ("caught-up", 200)] {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset("watched", 0, Offset::Offset(offset)).expect("offset");
        consumer.commit(&offsets, CommitMode::Sync).expect("commit");
    }

    let monitor = Monitor::start(&bootstrap, &[]);
    let asked = now_ms();
    let (embedded, watched) = (scrape(&broker), scrape_at(monitor.addr));
    let answered = now_ms();
    let partition = [("topic", "watched"), ("partition", "0")];
    for name in ["kafka_topic_partition_current_offset", "kafka_topic_partition_oldest_offset"] {
        assert_eq!(sample(&watched, name, &partition), sample(&embedded, name, &partition), "{name}");
    }
    assert_eq!(sample(&watched, "kafka_topic_partition_current_offset", &partition), Some(200.0));
    assert_eq!(sample(&watched, "kafka_topic_partitions", &[("topic", "watched")]), Some(1.0));
    for (group, lag) in [("behind", 150.0), ("caught-up", 0.0)] {
        let labels = [("consumergroup", group), ("topic", "watched"), ("partition", "0")];
        for name in ["kafka_consumergroup_current_offset", "kafka_consumergroup_lag"] {
            assert_eq!(sample(&watched, name, &labels), sample(&embedded, name, &labels), "{name} of {group}");
        }
        assert_eq!(sample(&watched, "kafka_consumergroup_lag", &labels), Some(lag), "{group}");
        let members = [("consumergroup", group)];
        assert_eq!(sample(&watched, "kafka_consumergroup_members", &members), Some(0.0), "{group}");
        let time_labels = [("group", group), ("topic", "watched"), ("partition", "0")];
        let seen = sample(&watched, "kafka_consumergroup_group_lag_seconds", &time_labels).expect("monitor's time lag");
        let own = sample(&embedded, "kafka_consumergroup_group_lag_seconds", &time_labels).expect("broker's time lag");
        if lag == 0.0 {
            assert_eq!((seen, own), (0.0, 0.0), "caught up");
        } else {
            // Record 50 of the hour-old run: both read its timestamp, at slightly different times.
            let expected = (asked - (base + 50_000)) as f64 / 1000.0;
            let window = (answered - asked) as f64 / 1000.0 + 0.01;
            assert!((seen - expected).abs() <= window, "monitor's time lag {seen}, expected {expected}");
            assert!((own - expected).abs() <= window, "broker's time lag {own}, expected {expected}");
        }
    }
    assert_eq!(http(monitor.addr, "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").0, 404);

    // The console shows the same lag for the group on both, once each has sampled.
    for (name, addr) in [("monitor", monitor.addr), ("broker", broker.http.expect("http"))] {
        let page = wait_for_page(addr, "/groups/behind", "<span class=\"lag\">150</span>");
        assert!(page.contains("<td>50</td>"), "{name}'s console shows the committed offset: {page}");
    }
    let (status, overview) = get(monitor.addr, "/");
    assert_eq!(status, 200);
    assert!(overview.contains(&format!("Kafka cluster at {bootstrap}")), "{overview}");
}

/// GETs `path` at `addr`.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
}

/// GETs `path` until its page contains `text` (the console samples every 15 s by default, the
/// first time at start).
fn wait_for_page(addr: SocketAddr, path: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, page) = get(addr, path);
        if status == 200 && page.contains(text) {
            return page;
        }
        assert!(std::time::Instant::now() < deadline, "{path} never showed {text:?}: {status} {page}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn monitor_answers_503_while_the_cluster_does_not() {
    let config = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(config.path(), "console.sample.interval.ms=300\nconsole.alert.window.ms=1000\n").expect("write");
    let monitor = Monitor::start("127.0.0.1:1", &["-c", config.path().to_str().expect("utf-8 path")]);
    let (status, body) = http(monitor.addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no answer from 127.0.0.1:1"), "{body}");
    // The console says so (each read gives up after 5 s), and fires RunnelBrokerDown once the
    // cluster has been down for a fifth of the window.
    wait_for_page(monitor.addr, "/alerts", "cluster unreachable");
    let page = wait_for_page(monitor.addr, "/alerts", "<span class=\"status firing\">firing</span>");
    assert!(page.contains("<b class=\"alertname\">RunnelBrokerDown</b>"), "{page}");
}

#[test]
fn a_second_monitor_on_the_same_history_directory_is_refused() {
    let first = Monitor::start("127.0.0.1:1", &[]);
    let dir = first._history.path().to_str().expect("utf-8 path");
    let second = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["monitor", "--brokers", "127.0.0.1:1", "--http-listen", "127.0.0.1:0", "--history-dir", dir])
        .output()
        .expect("run a second monitor");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another runnel monitor"), "{stderr}");
}
