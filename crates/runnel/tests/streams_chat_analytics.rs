//! runnel-streams' `chat_analytics` example against `runnel serve`, over chat-shaped topics
//! (room topics `chat.ROOM`, key the room, `user` header): messages per room per minute
//! emitted once per closed minute, user sessions emitted when they end, and messages joined
//! with a table of profiles through a repartition by user.

mod broker_process;
mod streams_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_process::BrokerProcess;
use streams_support::{create_topic, example, http_get, produce, query_address, wait_for};

/// A minute boundary, so that the first three messages share a minute.
const T0: i64 = 1_800_000_000_000;

fn start(bootstrap: &str, log: &Path) -> Child {
    Command::new(example("chat_analytics"))
        .args(["--brokers", bootstrap, "--application-id", "analytics", "--rooms", "general"])
        .args(["--commit-interval-ms", "100", "--query-listen", "127.0.0.1:0"])
        .env("RUNNEL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start chat_analytics")
}

#[test]
fn chat_analytics_counts_minutes_once_ends_sessions_and_enriches_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "chat.general", 1);
    create_topic(&bootstrap, "chat-analytics.profiles", 1);
    produce(
        &bootstrap,
        "chat-analytics.profiles",
        &[
            ("alice", r#"{"name":"Alice","country":"FR"}"#, None, T0),
            ("bob", r#"{"name":"Bob","country":"NL"}"#, None, T0),
        ],
    );
    let log = dir.path().join("analytics.log");
    let mut app = start(&bootstrap, &log);
    // The profiles are in the table before any message needs them.
    let started = Instant::now();
    while !query_address(&log).is_some_and(|addr| http_get(&addr, "/stores/profiles/bob").contains("\"Bob\"")) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "profiles never loaded:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let s = 1000;
    produce(
        &bootstrap,
        "chat.general",
        &[
            ("general", "hi", Some("alice"), T0 + s),
            ("general", "hello", Some("bob"), T0 + 2 * s),
            ("general", "how are you", Some("alice"), T0 + 30 * s),
            ("general", "fine", Some("bob"), T0 + 61 * s),
            ("general", "hey all", Some("carol"), T0 + 70 * s),
            // Twenty minutes on: closes both minutes and every session.
            ("general", "anyone?", Some("alice"), T0 + 1200 * s),
        ],
    );

    let minutes = wait_for(&bootstrap, "chat-analytics.messages-per-minute", 2, &log);
    let decoded: Vec<(String, i64)> = minutes
        .iter()
        .map(|(k, v)| (k.clone(), i64::from_be_bytes(v.as_bytes().try_into().expect("an 8-byte count"))))
        .collect();
    assert_eq!(decoded, vec![(format!("general@{T0}"), 3), (format!("general@{}", T0 + 60_000), 2)]);

    let sessions = wait_for(&bootstrap, "chat-analytics.sessions", 3, &log);
    let by_user: BTreeMap<String, serde_json::Value> = sessions
        .iter()
        .map(|(_, v)| {
            let json: serde_json::Value = serde_json::from_str(v).expect("session JSON");
            (json["user"].as_str().expect("user").to_string(), json)
        })
        .collect();
    assert_eq!(by_user.len(), 3, "{sessions:?}");
    assert_eq!(
        (by_user["alice"]["start_ms"].as_i64(), by_user["alice"]["end_ms"].as_i64()),
        (Some(T0 + s), Some(T0 + 30 * s))
    );
    assert_eq!(by_user["alice"]["messages"], 2);
    assert_eq!(by_user["bob"]["messages"], 2);
    assert_eq!(by_user["carol"]["messages"], 1);

    let enriched = wait_for(&bootstrap, "chat-analytics.enriched", 6, &log);
    let first: serde_json::Value = serde_json::from_str(&enriched[0].1).expect("JSON");
    assert_eq!(
        (enriched[0].0.as_str(), first["name"].as_str(), first["country"].as_str()),
        ("alice", Some("Alice"), Some("FR"))
    );
    let carol = enriched.iter().find(|(k, _)| k == "carol").expect("carol's message");
    assert!(carol.1.contains(r#""name":"carol""#), "no profile: the user name stands in: {}", carol.1);

    let _ = app.kill();
    let _ = app.wait();
    drop(broker);
}
