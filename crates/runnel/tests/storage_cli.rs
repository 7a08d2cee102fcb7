//! `runnel storage random-uuid` and `runnel storage format`, run as a user would, and `serve`
//! adopting a formatted directory's cluster id.

mod broker_process;

use std::process::Command;

use broker_process::BrokerProcess;

fn runnel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_runnel")).args(args).output().expect("run runnel")
}

#[test]
fn random_uuid_prints_a_22_character_kafka_cluster_id() {
    let output = runnel(&["storage", "random-uuid"]);
    assert!(output.status.success());
    let id = String::from_utf8(output.stdout).expect("utf8");
    let id = id.trim();
    assert_eq!(id.len(), 22, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
}

#[test]
fn format_writes_meta_properties_refuses_another_id_and_serve_uses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("path");
    let id = String::from_utf8(runnel(&["storage", "random-uuid"]).stdout).expect("utf8").trim().to_string();
    let output = runnel(&["storage", "format", "--cluster-id", &id, "--data-dir", data_arg]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let meta = std::fs::read_to_string(data.join("meta.properties")).expect("meta.properties");
    assert!(meta.contains(&format!("cluster.id={id}")) && meta.contains("version=1"), "{meta}");

    let other = String::from_utf8(runnel(&["storage", "random-uuid"]).stdout).expect("utf8").trim().to_string();
    let refused = runnel(&["storage", "format", "--cluster-id", &other, "--data-dir", data_arg]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains(&format!("already formatted with cluster id {id}")), "{message}");

    let bad = runnel(&["storage", "format", "--cluster-id", "not-an-id", "--data-dir", data_arg]);
    assert!(!bad.status.success());

    // serve keeps the formatted identity.
    let broker = BrokerProcess::start(&data);
    drop(broker);
    let meta_after = std::fs::read_to_string(data.join("meta.properties")).expect("meta.properties");
    assert!(meta_after.contains(&format!("cluster.id={id}")));
}

#[test]
fn a_second_broker_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _running = BrokerProcess::start(dir.path());
    let second = runnel(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().expect("path")]);
    assert!(!second.status.success());
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(message.contains("is in use by another runnel process"), "{message}");
}

#[test]
fn output_to_a_reader_that_went_away_ends_quietly_as_a_sigpipe_would() {
    // `runnel ... | head` after head exits: a write to a pipe with no reader.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["storage", "random-uuid"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run runnel");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "no panic message or backtrace: {stderr}");
}
