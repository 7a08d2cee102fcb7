//! `runnel bench` against a real broker on a small workload, with its JSON checked.

mod broker_process;

use std::process::Command;

use broker_process::BrokerProcess;
use serde_json::Value;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runnel")).arg("bench").args(args).output().expect("run runnel bench")
}

fn bench_json(args: &[&str]) -> Value {
    let output = bench(args);
    assert!(output.status.success(), "runnel bench {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("runnel bench {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
    })
}

fn number(report: &Value, field: &str) -> f64 {
    report[field].as_f64().unwrap_or_else(|| panic!("{field} missing in {report}"))
}

fn check_latency(report: &Value) {
    let latency = &report["latency_ms"];
    let p = |q: &str| latency[q].as_f64().unwrap_or_else(|| panic!("latency {q} missing in {report}"));
    assert!(p("p50") > 0.0);
    assert!(p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("p999") && p("p999") <= p("max"));
    assert_eq!(latency["count"], report["records"]);
}

#[test]
fn produce_consume_and_e2e_report_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let b = broker.bootstrap();
    let common = ["--brokers", &b, "--topic", "bench", "--partitions", "4", "--record-size", "512", "--output", "json"];

    let produced = bench_json(
        &[&["produce"], &common[..], &["--records", "3000", "--producers", "2", "--compression", "zstd"]].concat(),
    );
    assert_eq!(produced["bench"], "produce");
    assert_eq!((produced["records"].as_u64(), produced["errors"].as_u64()), (Some(3000), Some(0)));
    assert_eq!(produced["bytes"].as_u64(), Some(3000 * 512));
    assert_eq!((produced["clients"].as_u64(), produced["compression"].as_str()), (Some(2), Some("zstd")));
    assert!(number(&produced, "records_per_s") > 0.0 && number(&produced, "mb_per_s") > 0.0);
    check_latency(&produced);

    let consumed = bench_json(&[&["consume"], &common[..], &["--records", "3000", "--consumers", "2"]].concat());
    assert_eq!((consumed["records"].as_u64(), consumed["partitions"].as_u64()), (Some(3000), Some(4)));
    assert!(consumed["latency_ms"].is_null());

    let e2e = bench_json(&[&["e2e"], &common[..], &["--records", "200", "--rate", "2000"]].concat());
    assert_eq!(e2e["records"].as_u64(), Some(200));
    check_latency(&e2e);

    let timed = bench_json(&[&["produce"], &common[..], &["--duration", "0.5"]].concat());
    assert!(timed["records"].as_u64().expect("records") > 0);
    assert!(number(&timed, "elapsed_s") >= 0.5);
}

#[test]
fn the_table_names_every_figure_and_errors_name_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let b = broker.bootstrap();
    let output = bench(&["produce", "--brokers", &b, "--records", "500", "--partitions", "1"]);
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    for row in ["bench", "records", "acks", "throughput", "latency (ack)"] {
        assert!(table.lines().any(|l| l.starts_with(row)), "no {row} row in:\n{table}");
    }
    // More records asked than the topic holds: a clear error and a non-zero exit.
    let output = bench(&["consume", "--brokers", &b, "--records", "600"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("read only 500 of 600 records"), "{stderr}");
}

#[test]
fn client_properties_reach_librdkafka_and_malformed_ones_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let b = broker.bootstrap();
    let base = ["produce", "--brokers", &b, "--records", "10", "--partitions", "1"];
    let ok = bench(&[&base[..], &["-X", "linger.ms=1", "--output", "json"]].concat());
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let unknown = bench(&[&base[..], &["-X", "no.such.property=1"]].concat());
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no.such.property"));
    let malformed = bench(&[&base[..], &["-X", "linger.ms"]].concat());
    assert!(!malformed.status.success());
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("expected KEY=VALUE"));
}

#[test]
fn transactional_produce_commits_every_n_records_and_read_committed_consume_reads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let b = broker.bootstrap();
    let common =
        ["--brokers", &b, "--topic", "txn-bench", "--partitions", "2", "--record-size", "100", "--output", "json"];
    let produced = bench_json(
        &[&["produce"], &common[..], &["--records", "2500", "--producers", "2", "--transaction-records", "500"]]
            .concat(),
    );
    assert_eq!((produced["records"].as_u64(), produced["errors"].as_u64()), (Some(2500), Some(0)));
    assert_eq!(produced["transaction_records"].as_u64(), Some(500));
    check_latency(&produced);
    let flushed = bench_json(&[&["produce"], &common[..], &["--records", "500", "--flush-records", "100"]].concat());
    assert_eq!((flushed["records"].as_u64(), flushed["flush_records"].as_u64()), (Some(500), Some(100)));
    // Every transaction committed and every flushed record landed: read_committed reads all.
    // (The markers in between are not records.)
    for isolation in ["read_committed", "read_uncommitted"] {
        let consumed =
            bench_json(&[&["consume"], &common[..], &["--records", "3000", "--isolation", isolation]].concat());
        assert_eq!(consumed["records"].as_u64(), Some(3000), "{isolation}");
        assert_eq!(consumed["isolation"].as_str(), Some(isolation));
    }
}

#[test]
fn stream_pipelines_report_their_rate_and_a_million_key_state_is_restored_with_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let b = broker.bootstrap();
    let common = ["streams", "--brokers", &b, "--records", "20000", "--keys", "500", "--output", "json"];
    for (pipeline, exactly_once) in [("copy", false), ("map", false), ("map", true), ("window-count", false)] {
        let mut args = [&common[..], &["--pipeline", pipeline]].concat();
        if exactly_once {
            args.push("--exactly-once");
        }
        let report = bench_json(&args);
        assert_eq!(report["records"].as_u64(), Some(20_000), "{pipeline}");
        assert_eq!(report["exactly_once"].as_bool(), Some(exactly_once), "{pipeline}");
        assert!(number(&report, "records_per_s") > 0.0, "{pipeline}");
    }

    // One instance counts a million distinct keys; a new one restores them from the changelog,
    // logging each store's size as it starts and the time it took at the end.
    let args = ["streams", "--brokers", &b, "--pipeline", "restore", "--records", "1000000", "--output", "json"];
    let output = bench(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "runnel bench {args:?} failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(report["restored"].as_u64().expect("restored") >= 1_000_000, "{report}");
    assert!(number(&report, "restore_seconds") > 0.0);
    let started = stderr.lines().filter(|l| l.contains("restoring a store from its changelog")).count();
    let finished = stderr.lines().filter(|l| l.contains("restored the task's state")).count();
    assert!(started >= 4 && finished >= 4, "four partitions, each restored with progress logged:\n{stderr}");
    eprintln!("restored 1M keys in {} s", report["restore_seconds"]);

    // On disk: a new instance restores into its own LSM store; the first, restarted on its
    // state after a clean stop, reads nothing.
    let state = dir.path().join("state");
    let state = state.to_str().expect("utf-8 path");
    let args = ["streams", "--brokers", &b, "--pipeline", "restore", "--records", "50000", "--state-dir", state];
    let report = bench_json(&[&args[..], &["--output", "json"]].concat());
    assert!(report["restored"].as_u64().expect("restored") >= 50_000, "{report}");
    assert_eq!(report["restart_restored"].as_u64(), Some(0), "{report}");
}
