//! `runnel plan`, `runnel topic ...` and `runnel cluster info` against `runnel serve`: JSON
//! output checked, refusals exit non-zero with one line naming the cause.

mod broker_process;

use std::process::{Command, Output};

use broker_process::BrokerProcess;
use serde_json::Value;

fn runnel(broker: Option<&BrokerProcess>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runnel"));
    command.args(args).env_remove("RUNNEL_BROKERS");
    if let Some(broker) = broker {
        command.env("RUNNEL_BROKERS", broker.bootstrap());
    }
    command.output().expect("run runnel")
}

fn json(broker: Option<&BrokerProcess>, args: &[&str]) -> Value {
    let output = runnel(broker, &[args, &["--output", "json"]].concat());
    assert!(output.status.success(), "runnel {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("runnel {args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

fn refused(broker: Option<&BrokerProcess>, args: &[&str]) -> String {
    let output = runnel(broker, args);
    assert!(!output.status.success(), "runnel {args:?} should have failed");
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    stderr
}

#[test]
fn the_planner_gives_the_notes_answers() {
    let one = json(None, &["plan", "--producer-rate", "1000", "--consumer-rate", "100"]);
    assert_eq!((one["throughput_floor"].as_u64(), one["partitions"].as_u64()), (Some(10), Some(16)));
    let ten = json(None, &["plan", "--producer-rate", "1000", "--consumer-rate", "100", "--broker-count", "10"]);
    assert_eq!((ten["broker_spread"].as_u64(), ten["partitions"].as_u64()), (Some(20), Some(32)));
    let text =
        String::from_utf8_lossy(&runnel(None, &["plan", "--producer-rate", "1000", "--consumer-rate", "100"]).stdout)
            .to_string();
    assert!(text.contains("recommendation: 16 partitions"), "{text}");
    assert!(text.contains("never removed"), "{text}");
    assert!(refused(None, &["plan", "--producer-rate", "0", "--consumer-rate", "1"]).contains("--producer-rate"));
}

#[test]
fn a_measured_plan_runs_against_the_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let plan = json(Some(&broker), &["plan", "--measure", "plan-probe", "--records", "5000"]);
    let measured = &plan["measured"];
    assert_eq!(measured["records"].as_u64(), Some(5000));
    let (p, c) = (
        measured["producer_records_per_s"].as_f64().expect("P"),
        measured["consumer_records_per_s"].as_f64().expect("C"),
    );
    assert!(p > 0.0 && c > 0.0);
    assert_eq!(plan["broker_count"].as_u64(), Some(1));
    let expected = ((p / c).ceil() as u64).max(2).next_power_of_two();
    assert_eq!(plan["partitions"].as_u64(), Some(expected));
}

#[test]
fn topics_are_created_listed_described_grown_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let b = Some(&broker);

    let created = json(b, &["topic", "create", "orders", "-p", "4", "-c", "retention.ms=86400000"]);
    assert_eq!((created["name"].as_str(), created["partitions"].as_u64()), (Some("orders"), Some(4)));
    let planned = json(b, &["topic", "create", "sized", "--producer-rate", "1000", "--consumer-rate", "100"]);
    assert_eq!(planned["partitions"].as_u64(), Some(16));
    assert_eq!(planned["planned"]["broker_count"].as_u64(), Some(1));
    assert!(refused(b, &["topic", "create", "orders", "-p", "1"]).contains("already exists"));

    let listed = json(b, &["topic", "list"]);
    let names: Vec<(&str, u64)> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|t| (t["name"].as_str().expect("name"), t["partitions"].as_u64().expect("partitions")))
        .collect();
    assert_eq!(names, vec![("orders", 4), ("sized", 16)]);

    let described = json(b, &["topic", "describe", "orders"]);
    assert_eq!(described["partitions"].as_array().expect("partitions").len(), 4);
    assert_eq!(described["partitions"][0]["latest"].as_i64(), Some(0));
    assert_eq!(described["configs"]["retention.ms"].as_str(), Some("86400000"));

    json(b, &["topic", "alter-config", "orders", "segment.bytes=1048576", "cleanup.policy=compact"]);
    json(b, &["topic", "alter-config", "orders", "--delete", "retention.ms"]);
    let configs = &json(b, &["topic", "describe", "orders"])["configs"];
    assert_eq!(configs["segment.bytes"].as_str(), Some("1048576"));
    assert_eq!(configs["cleanup.policy"].as_str(), Some("compact"));
    assert_eq!(configs["retention.ms"].as_str(), Some("604800000"), "back to the broker's default");
    let why = refused(b, &["topic", "alter-config", "orders", "retention.ms=soon"]);
    assert!(why.contains("INVALID_CONFIG") && why.contains("soon"), "{why}");
    let why = refused(b, &["topic", "alter-config", "nowhere", "retention.ms=1"]);
    assert!(why.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{why}");

    let why = refused(b, &["topic", "add-partitions", "orders", "--to", "2"]);
    assert!(why.contains("never removed"), "{why}");
    let grown = json(b, &["topic", "add-partitions", "orders", "--to", "6"]);
    assert_eq!((grown["partitions_before"].as_u64(), grown["partitions"].as_u64()), (Some(4), Some(6)));

    let info = json(b, &["cluster", "info"]);
    assert_eq!(info["brokers"][0]["port"].as_u64(), Some(broker.addr.port() as u64));
    assert_eq!(info["cluster_id"].as_str().map(str::len), Some(22));
    assert_eq!(info["topics"].as_u64(), Some(2));

    assert_eq!(json(b, &["topic", "delete", "sized"])["deleted"].as_str(), Some("sized"));
    assert!(refused(b, &["topic", "describe", "sized"]).contains("does not exist"));
}

#[test]
fn an_unreachable_cluster_is_one_line_naming_the_fix() {
    let output = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["topic", "list", "--brokers", "127.0.0.1:1"])
        .output()
        .expect("run runnel");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no answer from 127.0.0.1:1") && stderr.contains("runnel serve"), "{stderr}");
}
