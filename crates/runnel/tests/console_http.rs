//! The console on `runnel serve`'s HTTP listener: pages answer, bad input gets a 4xx, names
//! are escaped, settings are checked, and history stays within its retention on disk and in
//! memory. (The browser test in tests/python/test_console_page.py drives the pages in Chromium.)

mod broker_process;
mod raw_client;
mod scrape;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use scrape::{http, sample, scrape};

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
}

/// GETs `path` until its page contains `text`.
fn wait_for_page(addr: SocketAddr, path: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, page) = get(addr, path);
        if status == 200 && page.contains(text) {
            return page;
        }
        assert!(Instant::now() < deadline, "{path} never showed {text:?}: {status} {page}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn fast_console(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("server.properties");
    std::fs::write(&path, format!("console.sample.interval.ms=100\n{extra}")).expect("write properties");
    path
}

#[test]
fn pages_answer_bad_input_gets_a_4xx_and_names_are_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fast_console(dir.path(), "");
    let broker =
        BrokerProcess::start_with(&dir.path().join("data"), "127.0.0.1:0", &["-c", config.to_str().expect("utf-8")]);
    let addr = broker.http.expect("HTTP listener");
    assert_eq!(raw_client::create_topic(&mut raw_client::connect(&broker), "orders", 1, &[]).0, 0);
    let hostile = "<img src=x onerror=alert(1)>";
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", hostile)
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset("orders", 0, Offset::Offset(0)).expect("offset");
    consumer.commit(&offsets, CommitMode::Sync).expect("commit");

    let topics = wait_for_page(addr, "/topics", "href=\"/topics/orders\"");
    assert!(!topics.contains("__runnel_console"), "runnel's own topics are not listed: {topics}");
    let groups = wait_for_page(addr, "/groups", "&lt;img src=x onerror=alert(1)&gt;");
    assert!(!groups.contains(hostile), "a group id is escaped: {groups}");
    assert!(groups.contains("href=\"/groups/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\""), "{groups}");
    let (status, group) = get(addr, "/groups/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E");
    assert_eq!(status, 200, "{group}");
    assert!(!group.contains(hostile), "{group}");
    for path in ["/", "/topics/orders", "/alerts", "/?range=24h", "/assets/uPlot.iife.min.js", "/assets/console.js"] {
        assert_eq!(get(addr, path).0, 200, "{path}");
    }
    for (path, status) in [
        ("/topics/missing", 404),
        ("/groups/missing", 404),
        ("/assets/missing.js", 404),
        ("/?range=7d", 400),
        ("/topics/orders?range=", 400),
    ] {
        assert_eq!(get(addr, path).0, status, "{path}");
    }
    assert_eq!(http(addr, "DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").0, 405);
    assert_eq!(raw_client::create_topic(&mut raw_client::connect(&broker), "still-served", 1, &[]).0, 0);
}

#[test]
fn history_stays_within_its_retention_on_disk_and_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fast_console(dir.path(), "console.history.retention.ms=1500\nlog.retention.check.interval.ms=200\n");
    let broker =
        BrokerProcess::start_with(&dir.path().join("data"), "127.0.0.1:0", &["-c", config.to_str().expect("utf-8")]);
    let addr = broker.http.expect("HTTP listener");
    std::thread::sleep(Duration::from_secs(4));
    let labels = [("topic", "__runnel_console"), ("partition", "0")];
    let text = scrape(&broker);
    let oldest = sample(&text, "kafka_topic_partition_oldest_offset", &labels).expect("history topic");
    let end = sample(&text, "kafka_topic_partition_current_offset", &labels).expect("history topic");
    assert!(end >= 30.0, "about 40 samples written in 4 s: {end}");
    assert!(oldest > 0.0 && end - oldest <= 30.0, "retention removed old samples: {oldest}..{end}");
    let (_, overview) = get(addr, "/?range=all");
    let kept: usize = overview
        .split_once("<p class=\"note\">")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the overview says how many samples it keeps");
    assert!((10..=17).contains(&kept), "1.5 s of samples every 100 ms in memory: {kept}");
}

#[test]
fn a_bad_console_setting_stops_serve_with_a_message_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (properties, named) in [
        ("console.sample.interval.ms=0\n", "console.sample.interval.ms=0"),
        ("console.alert.webhook=ftp://x\n", "expected an http:// URL"),
        ("console.colour=blue\n", "console.colour"),
    ] {
        let config = dir.path().join("server.properties");
        std::fs::write(&config, properties).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "-c"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .output()
            .expect("run serve");
        assert!(!out.status.success(), "{properties}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{properties}: {stderr}");
    }
}
