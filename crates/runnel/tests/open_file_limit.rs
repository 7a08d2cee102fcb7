//! `runnel serve` raises its open-file soft limit to the hard limit, since every partition
//! keeps three files open and the usual soft limit (1024) is too low for a thousand partitions.

mod broker_process;

use std::process::Command;

use broker_process::BrokerProcess;

/// (soft, hard) "Max open files" of a process.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("open files line");
    let fields: Vec<&str> = line["Max open files".len()..].split_whitespace().collect();
    (fields[0].to_string(), fields[1].to_string())
}

#[test]
fn serve_raises_the_open_file_soft_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"ulimit -Sn 256 && exec "$0" serve --listen 127.0.0.1:0 --data-dir "$1""#])
        .arg(env!("CARGO_BIN_EXE_runnel"))
        .arg(dir.path());
    let broker = BrokerProcess::spawn(command, dir.path());
    let (soft, hard) = open_file_limits(broker.pid());
    assert_ne!(soft, "256", "the soft limit was not raised");
    assert_eq!(soft, hard);
}
