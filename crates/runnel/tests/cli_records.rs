//! `runnel produce`, `runnel consume` and `runnel group ...` against `runnel serve`: lines in,
//! lines out, the group bookmark committed exactly at what was printed, and the refusals.

mod broker_process;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use broker_process::BrokerProcess;
use serde_json::Value;

fn runnel(broker: &BrokerProcess, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .env("RUNNEL_BROKERS", broker.bootstrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run runnel");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait for runnel")
}

fn ok(broker: &BrokerProcess, args: &[&str], stdin: Option<&str>) -> String {
    let output = runnel(broker, args, stdin);
    assert!(output.status.success(), "runnel {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

fn json(broker: &BrokerProcess, args: &[&str]) -> Value {
    serde_json::from_str(&ok(broker, &[args, &["--output", "json"]].concat(), None)).expect("JSON")
}

#[test]
fn lines_go_in_as_records_and_come_out_as_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    ok(&broker, &["topic", "create", "chat", "-p", "1"], None);
    let produced: Value = serde_json::from_str(&ok(
        &broker,
        &["produce", "chat", "--key-separator", ":", "-H", "source=cli", "--output", "json"],
        Some("alice:hello\nbob:hi there\nno key here\n"),
    ))
    .expect("JSON");
    assert_eq!(produced["records"].as_u64(), Some(3));
    assert_eq!(produced["partitions"][0]["last_offset"].as_i64(), Some(2));

    let lines = ok(&broker, &["consume", "chat", "--from-beginning", "-e", "--format", "%o|%k|%v|%h"], None);
    assert_eq!(lines, "0|alice|hello|source=cli\n1|bob|hi there|source=cli\n2||no key here|source=cli\n");
    let from_one = ok(&broker, &["consume", "chat", "--offset", "1", "-n", "1"], None);
    assert_eq!(from_one, "hi there\n");
    let by_time = ok(&broker, &["consume", "chat", "--timestamp", "0", "-e", "--output", "json"], None);
    let records: Vec<Value> = by_time.lines().map(|l| serde_json::from_str(l).expect("NDJSON")).collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["key"].as_str(), Some("alice"));
    assert_eq!(records[2]["key"], Value::Null);

    // From a file, into a named partition.
    let file = dir.path().join("lines.txt");
    std::fs::write(&file, "x\ny\n").expect("write file");
    ok(&broker, &["topic", "create", "two", "-p", "2"], None);
    ok(&broker, &["produce", "two", "--file", file.to_str().expect("path"), "--partition", "1"], None);
    assert_eq!(ok(&broker, &["consume", "two", "--partition", "1", "--from-beginning", "-e"], None), "x\ny\n");
}

#[test]
fn a_group_commits_exactly_what_it_printed_and_seek_and_delete_follow_kafkas_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    ok(&broker, &["topic", "create", "feed", "-p", "1"], None);
    let lines: String = (0..10).map(|i| format!("m{i}\n")).collect();
    ok(&broker, &["produce", "feed"], Some(&lines));

    assert_eq!(
        ok(&broker, &["consume", "feed", "-g", "readers", "--from-beginning", "-n", "4"], None),
        "m0\nm1\nm2\nm3\n"
    );
    let described = json(&broker, &["group", "describe", "readers"]);
    assert_eq!(described["state"].as_str(), Some("Empty"));
    assert_eq!(described["offsets"][0]["committed"].as_i64(), Some(4));
    assert_eq!(described["offsets"][0]["lag"].as_i64(), Some(6));
    // The next reader in the group resumes at the bookmark.
    assert_eq!(ok(&broker, &["consume", "feed", "-g", "readers", "-n", "2"], None), "m4\nm5\n");

    let listed = json(&broker, &["group", "list"]);
    assert!(listed.as_array().expect("array").iter().any(|g| g["group"].as_str() == Some("readers")));

    let moved = json(&broker, &["group", "seek", "readers", "--to", "earliest"]);
    assert_eq!(moved[0]["committed"].as_i64(), Some(0));
    assert_eq!(ok(&broker, &["consume", "feed", "-g", "readers", "-n", "1"], None), "m0\n");
    let moved = json(&broker, &["group", "seek", "readers", "--to", "8", "--topic", "feed"]);
    assert_eq!(moved[0]["lag"].as_i64(), Some(2));

    // While a member is live: seek and delete are refused, describe shows the member.
    let mut member = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["consume", "feed", "-g", "readers"])
        .env("RUNNEL_BROKERS", broker.bootstrap())
        .stdout(Stdio::null())
        .spawn()
        .expect("start a member");
    let mut stable = Value::Null;
    for _ in 0..100 {
        stable = json(&broker, &["group", "describe", "readers"]);
        if stable["state"].as_str() == Some("Stable") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stable["state"].as_str(), Some("Stable"), "{stable}");
    assert_eq!(stable["members"][0]["assignment"][0][1][0].as_i64(), Some(0));
    let refused = runnel(&broker, &["group", "seek", "readers", "--to", "earliest"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("active member"));
    let refused = runnel(&broker, &["group", "delete", "readers"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("active members"));
    let _ = Command::new("kill").args(["-TERM", &member.id().to_string()]).status();
    assert!(member.wait().expect("member exits").success(), "a member stopped by SIGTERM exits cleanly");

    // Empty again: delete works, and a second delete names the group as missing.
    let mut deleted = runnel(&broker, &["group", "delete", "readers"], None);
    for _ in 0..50 {
        if deleted.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        deleted = runnel(&broker, &["group", "delete", "readers"], None);
    }
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let again = runnel(&broker, &["group", "delete", "readers"], None);
    assert!(String::from_utf8_lossy(&again.stderr).contains("does not exist"));
}
