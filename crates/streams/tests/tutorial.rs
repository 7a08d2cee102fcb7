//! The topology of docs/streams.md's tutorial, built and run through the test driver, so that
//! the tutorial's code stays true.

use std::time::Duration;

use runnel_streams::serdes::{I64, Json, Utf8};
use runnel_streams::{Emit, JoinWindows, Record, StreamJoined, StreamsBuilder, TestDriver, TimeWindows};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Profile {
    name: String,
}

#[test]
fn the_tutorial_topology_counts_minutes_names_authors_and_joins_payments() {
    let builder = StreamsBuilder::new();
    let messages = builder.stream("chat.general", Utf8, Utf8);
    messages
        .group_by_key(Utf8, Utf8)
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(60), Duration::from_secs(10)))
        .emit(Emit::OnWindowClose)
        .count("messages-per-minute")
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
        .to("messages-per-minute", Utf8, I64);

    let profiles = builder.table("profiles", Utf8, Json::<Profile>::new(), "profiles");
    messages
        .map_record(|r| {
            let user = r
                .headers
                .iter()
                .find(|(k, _)| k == "user")
                .and_then(|(_, v)| v.clone())
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default();
            Record { key: user, value: r.value, timestamp: r.timestamp, headers: r.headers }
        })
        .repartition("messages-by-user", Utf8, Utf8)
        .left_join_table(&profiles, |text, p| format!("{}: {text}", p.map_or("?", |p| p.name.as_str())))
        .to("messages-with-names", Utf8, Utf8);

    let orders = builder.stream("orders", Utf8, Utf8);
    let payments = builder.stream("payments", Utf8, Utf8);
    orders
        .left_join(
            &payments,
            |o, p| format!("{o} paid by {}", p.map_or("nobody", |p| p.as_str())),
            JoinWindows::of(Duration::from_secs(300), Duration::from_secs(10)),
            "order-payments",
            StreamJoined::with(Utf8, Utf8, Utf8),
        )
        .to("paid-orders", Utf8, Utf8);

    let topology = builder.build().expect("build");
    let mut driver = TestDriver::new(&topology);
    driver
        .pipe_kv("profiles", &Utf8, &Json::<Profile>::new(), "ada".into(), Profile { name: "Ada".into() }, 0)
        .expect("pipe");
    let mut hi = Record::new("general".to_string(), "hi".to_string(), 1_000);
    hi.headers.push(("user".into(), Some(b"ada".to_vec())));
    driver.pipe("chat.general", &Utf8, &Utf8, hi).expect("pipe");
    driver.pipe_kv("chat.general", &Utf8, &Utf8, "general".into(), "later".into(), 200_000).expect("pipe");
    assert_eq!(driver.read_kv("messages-per-minute", &Utf8, &I64).expect("read"), vec![("general@0".to_string(), 1)]);
    let named = driver.read_kv("messages-with-names", &Utf8, &Utf8).expect("read");
    assert_eq!(named, vec![("ada".to_string(), "Ada: hi".to_string()), (String::new(), "?: later".to_string())]);
    driver.pipe_kv("orders", &Utf8, &Utf8, "o1".into(), "order 1".into(), 0).expect("pipe");
    driver.pipe_kv("payments", &Utf8, &Utf8, "o1".into(), "card".into(), 1_000).expect("pipe");
    assert_eq!(
        driver.read_kv("paid-orders", &Utf8, &Utf8).expect("read"),
        vec![("o1".into(), "order 1 paid by card".into())]
    );
}
