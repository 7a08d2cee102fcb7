//! runnel-streams' `order_payments` example (a windowed stream-stream left join) against
//! `runnel serve`: an order paid within the window is written with its payment; an order
//! whose payment never came is written once with none, after its window closed. Every record
//! is written before the application reads any, so the result shows that a task reads its
//! partitions in timestamp order (the consumer may well fetch the payments first).

mod broker_process;
mod streams_support;

use std::process::{Command, Stdio};

use broker_process::BrokerProcess;
use streams_support::{create_topic, example, produce, wait_for};

const T0: i64 = 1_800_000_000_000;

#[test]
fn orders_meet_their_payments_and_unpaid_orders_are_reported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start(dir.path());
    let bootstrap = broker.bootstrap();
    for topic in ["orders", "payments", "paid-orders"] {
        create_topic(&bootstrap, topic, 1);
    }
    let log = dir.path().join("payments.log");
    let mut app = Command::new(example("order_payments"))
        .args(["--brokers", &bootstrap, "--application-id", "payments", "--window-s", "60", "--grace-s", "0"])
        .args(["--report-unpaid", "--commit-interval-ms", "100"])
        .env("RUNNEL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start order_payments");
    let s = 1000;
    produce(
        &bootstrap,
        "orders",
        &[
            ("o1", r#"{"customer":"ada","amount_cents":1200}"#, None, T0),
            ("o2", r#"{"customer":"bob","amount_cents":500}"#, None, T0 + s),
        ],
    );
    produce(&bootstrap, "payments", &[("o1", "pay-77", None, T0 + 30 * s), ("o2", "pay-too-late", None, T0 + 200 * s)]);
    // Ten minutes on: every window has closed.
    produce(&bootstrap, "orders", &[("o3", r#"{"customer":"cy","amount_cents":1}"#, None, T0 + 600 * s)]);

    let paid = wait_for(&bootstrap, "paid-orders", 2, &log);
    assert_eq!(paid[0].0, "o1");
    assert!(paid[0].1.contains(r#""payment":"pay-77""#), "{}", paid[0].1);
    assert_eq!(paid[1].0, "o2");
    assert!(paid[1].1.contains(r#""payment":null"#), "a payment 199 s later is outside the window: {}", paid[1].1);
    assert_eq!(paid.len(), 2, "o3's window is still open: {paid:?}");
    let _ = app.kill();
    let _ = app.wait();
    drop(broker);
}
