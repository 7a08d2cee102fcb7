//! Joins through the test driver: stream-table (inner, left), table-table (inner, left,
//! outer) and windowed stream-stream (inner, left, outer), with late records.

use std::time::Duration;

use runnel_streams::serdes::{Nullable, Utf8};
use runnel_streams::{JoinWindows, StreamJoined, StreamsBuilder, TestDriver};

fn s(text: &str) -> String {
    text.to_string()
}

fn pipe(driver: &mut TestDriver, topic: &str, key: &str, value: Option<&str>, t: i64) {
    driver.pipe_kv(topic, &Utf8, &Nullable(Utf8), s(key), value.map(s), t).expect("pipe");
}

fn out(driver: &mut TestDriver) -> Vec<(String, Option<String>)> {
    driver.read_kv("out", &Utf8, &Nullable(Utf8)).expect("read")
}

fn some(pairs: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    pairs.iter().map(|(k, v)| (s(k), Some(s(v)))).collect()
}

#[test]
fn stream_table_join_enriches_stream_records_with_the_current_row() {
    let builder = StreamsBuilder::new();
    let users = builder.table("users", Utf8, Utf8, "users");
    let clicks = builder.stream("clicks", Utf8, Nullable(Utf8)).map_values(|v| v.unwrap_or_default());
    clicks.join_table(&users, |page, name| format!("{name} opened {page}")).map_values(Some).to(
        "out",
        Utf8,
        Nullable(Utf8),
    );
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    pipe(&mut driver, "clicks", "u1", Some("/early"), 1); // no row yet: dropped
    pipe(&mut driver, "users", "u1", Some("Ada"), 2);
    assert_eq!(out(&mut driver), vec![], "a table update alone emits nothing");
    pipe(&mut driver, "clicks", "u1", Some("/home"), 3);
    pipe(&mut driver, "users", "u1", Some("Ada L."), 4);
    pipe(&mut driver, "clicks", "u1", Some("/about"), 5);
    pipe(&mut driver, "users", "u1", None, 6); // deleted
    pipe(&mut driver, "clicks", "u1", Some("/gone"), 7);
    assert_eq!(out(&mut driver), some(&[("u1", "Ada opened /home"), ("u1", "Ada L. opened /about")]));
}

#[test]
fn stream_table_left_join_keeps_records_without_a_row() {
    let builder = StreamsBuilder::new();
    let users = builder.table("users", Utf8, Utf8, "users");
    builder
        .stream("clicks", Utf8, Nullable(Utf8))
        .left_join_table(&users, |page, name| {
            Some(format!("{}:{}", name.map_or("?", String::as_str), page.as_deref().unwrap_or("")))
        })
        .to("out", Utf8, Nullable(Utf8));
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    pipe(&mut driver, "clicks", "u1", Some("/a"), 1);
    pipe(&mut driver, "users", "u1", Some("Ada"), 2);
    pipe(&mut driver, "clicks", "u1", Some("/b"), 3);
    assert_eq!(out(&mut driver), some(&[("u1", "?:/a"), ("u1", "Ada:/b")]));
}

fn two_tables(join: &str) -> TestDriver {
    let builder = StreamsBuilder::new();
    let left = builder.table("left", Utf8, Utf8, "left");
    let right = builder.table("right", Utf8, Utf8, "right");
    let joined = match join {
        "inner" => left.join(&right, |l, r| format!("{l}+{r}")),
        "left" => left.left_join(&right, |l, r| format!("{l}+{}", r.map_or("-", String::as_str))),
        _ => left
            .outer_join(&right, |l, r| format!("{}+{}", l.map_or("-", String::as_str), r.map_or("-", String::as_str))),
    };
    joined.changes().to("out", Utf8, Nullable(Utf8));
    TestDriver::new(&builder.build().expect("build"))
}

#[test]
fn table_table_joins_follow_both_sides_and_retract_on_deletion() {
    let mut inner = two_tables("inner");
    pipe(&mut inner, "left", "k", Some("a"), 1);
    pipe(&mut inner, "right", "k", Some("x"), 2);
    pipe(&mut inner, "left", "k", Some("b"), 3);
    pipe(&mut inner, "right", "k", None, 4);
    assert_eq!(out(&mut inner), vec![(s("k"), Some(s("a+x"))), (s("k"), Some(s("b+x"))), (s("k"), None)]);

    let mut left = two_tables("left");
    pipe(&mut left, "left", "k", Some("a"), 1);
    pipe(&mut left, "right", "k", Some("x"), 2);
    pipe(&mut left, "right", "k", None, 3);
    assert_eq!(out(&mut left), some(&[("k", "a+-"), ("k", "a+x"), ("k", "a+-")]));

    let mut outer = two_tables("outer");
    pipe(&mut outer, "right", "k", Some("x"), 1);
    pipe(&mut outer, "left", "k", Some("a"), 2);
    pipe(&mut outer, "right", "k", None, 3);
    pipe(&mut outer, "left", "k", None, 4);
    assert_eq!(
        out(&mut outer),
        vec![(s("k"), Some(s("-+x"))), (s("k"), Some(s("a+x"))), (s("k"), Some(s("a+-"))), (s("k"), None)]
    );
}

fn windowed(join: &str, window_ms: u64, grace_ms: u64) -> TestDriver {
    let builder = StreamsBuilder::new();
    let left = builder.stream("left", Utf8, Utf8);
    let right = builder.stream("right", Utf8, Utf8);
    let windows = JoinWindows::of(Duration::from_millis(window_ms), Duration::from_millis(grace_ms));
    let serdes = || StreamJoined::with(Utf8, Utf8, Utf8);
    let joined = match join {
        "inner" => left.join(&right, |l, r| format!("{l}+{r}"), windows, "j", serdes()),
        "left" => {
            left.left_join(&right, |l, r| format!("{l}+{}", r.map_or("-", String::as_str)), windows, "j", serdes())
        }
        _ => left.outer_join(
            &right,
            |l, r| format!("{}+{}", l.map_or("-", String::as_str), r.map_or("-", String::as_str)),
            windows,
            "j",
            serdes(),
        ),
    };
    joined.map_values(Some).to("out", Utf8, Nullable(Utf8));
    TestDriver::new(&builder.build().expect("build"))
}

fn send(driver: &mut TestDriver, topic: &str, value: &str, t: i64) {
    driver.pipe_kv(topic, &Utf8, &Utf8, s("k"), s(value), t).expect("pipe");
}

#[test]
fn windowed_inner_join_pairs_records_within_the_window_only() {
    let mut driver = windowed("inner", 10, 0);
    send(&mut driver, "left", "l0", 0);
    send(&mut driver, "right", "r5", 5);
    send(&mut driver, "right", "r20", 20);
    send(&mut driver, "left", "l25", 25);
    assert_eq!(out(&mut driver), some(&[("k", "l0+r5"), ("k", "l25+r20")]));
    let other_key = driver.pipe_kv("right", &Utf8, &Utf8, s("other"), s("r"), 26);
    other_key.expect("pipe");
    assert_eq!(out(&mut driver), vec![], "keys must be equal");
}

#[test]
fn windowed_join_drops_records_later_than_window_and_grace() {
    let mut driver = windowed("inner", 10, 5);
    send(&mut driver, "left", "l0", 0);
    send(&mut driver, "right", "r100", 100);
    send(&mut driver, "right", "r8", 8); // 8 + 10 + 5 < 100: late
    assert_eq!(out(&mut driver), vec![]);
    assert_eq!(driver.late_records(), 1);
}

#[test]
fn windowed_left_join_emits_a_lone_record_once_when_no_partner_can_come() {
    let mut driver = windowed("left", 10, 0);
    send(&mut driver, "left", "l0", 0);
    send(&mut driver, "left", "l1", 1);
    send(&mut driver, "right", "r9", 9);
    assert_eq!(out(&mut driver), some(&[("k", "l0+r9"), ("k", "l1+r9")]), "no premature lone results");
    send(&mut driver, "left", "l30", 30);
    assert_eq!(out(&mut driver), vec![], "l30's partners may still come until stream time passes 50");
    send(&mut driver, "right", "r51", 51);
    assert_eq!(out(&mut driver), some(&[("k", "l30+-")]));
    send(&mut driver, "right", "r200", 200);
    assert_eq!(out(&mut driver), vec![], "right records alone are not emitted by a left join");
}

#[test]
fn windowed_outer_join_emits_lone_records_of_either_side() {
    let mut driver = windowed("outer", 10, 0);
    send(&mut driver, "left", "l0", 0);
    send(&mut driver, "right", "r40", 40);
    send(&mut driver, "left", "l100", 100);
    assert_eq!(out(&mut driver), some(&[("k", "l0+-"), ("k", "-+r40")]));
}

#[test]
fn table_filter_and_map_values_delete_rows_that_stop_matching_and_materialize_keeps_them_joinable() {
    let builder = StreamsBuilder::new();
    let prices = builder.table("prices", Utf8, Utf8, "prices");
    let cheap = prices.filter(|_, p| p.len() < 3).map_values(|p| format!("${p}")).materialize("cheap", Utf8);
    cheap.changes().to("out", Utf8, Nullable(Utf8));
    builder
        .stream("orders", Utf8, Utf8)
        .join_table(&cheap, |qty, price| format!("{qty} at {price}"))
        .map_values(Some)
        .to("deals", Utf8, Nullable(Utf8));
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    pipe(&mut driver, "prices", "tea", Some("12"), 1);
    pipe(&mut driver, "prices", "gold", Some("999"), 2); // never matches: nothing downstream
    pipe(&mut driver, "prices", "tea", Some("1000"), 3); // stops matching: deleted downstream
    pipe(&mut driver, "prices", "tea", Some("9"), 4);
    assert_eq!(out(&mut driver), vec![(s("tea"), Some(s("$12"))), (s("tea"), None), (s("tea"), Some(s("$9")))]);
    assert_eq!(driver.store_get("cheap", &Utf8, &Utf8, &s("tea")).expect("get"), Some(s("$9")));
    pipe(&mut driver, "orders", "tea", Some("2"), 5);
    pipe(&mut driver, "orders", "gold", Some("1"), 6);
    assert_eq!(driver.read_kv("deals", &Utf8, &Nullable(Utf8)).expect("read"), some(&[("tea", "2 at $9")]));
}
