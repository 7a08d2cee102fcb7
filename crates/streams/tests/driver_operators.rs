//! Every stateless operator and every aggregation, through the test driver (no broker).

use std::sync::{Arc, Mutex};

use runnel_streams::serdes::{I64, Ignore, Json, Nullable, Utf8};
use runnel_streams::{Record, StreamsBuilder, StreamsError, TestDriver};

fn s(text: &str) -> String {
    text.to_string()
}

/// Pipes `(key, value)` pairs of text into `topic` at timestamps 1, 2, 3...
fn pipe_all(driver: &mut TestDriver, topic: &str, records: &[(&str, &str)]) {
    for (i, (k, v)) in records.iter().enumerate() {
        driver.pipe_kv(topic, &Utf8, &Utf8, s(k), s(v), i as i64 + 1).expect("pipe");
    }
}

#[test]
fn filter_keeps_only_matching_records() {
    let builder = StreamsBuilder::new();
    builder.stream("in", Utf8, Utf8).filter(|_, v| v.len() > 2).to("out", Utf8, Utf8);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    pipe_all(&mut driver, "in", &[("a", "x"), ("b", "long"), ("c", "yes")]);
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read"), vec![(s("b"), s("long")), (s("c"), s("yes"))]);
}

#[test]
fn map_and_map_values_change_records_and_keep_timestamps_and_headers() {
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", Utf8, Utf8);
    input.map(|k, v| (v, k)).to("swapped", Utf8, Utf8);
    input.map_values(|v| v.len() as i64).to("lengths", Utf8, I64);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    let mut record = Record::new(s("k"), s("value"), 42);
    record.headers.push((s("trace"), Some(b"1".to_vec())));
    driver.pipe("in", &Utf8, &Utf8, record).expect("pipe");
    let swapped = driver.read("swapped", &Utf8, &Utf8).expect("read");
    assert_eq!((swapped[0].key.as_str(), swapped[0].value.as_str(), swapped[0].timestamp), ("value", "k", 42));
    assert_eq!(swapped[0].headers, vec![(s("trace"), Some(b"1".to_vec()))]);
    assert_eq!(driver.read_kv("lengths", &Utf8, &I64).expect("read"), vec![(s("k"), 5)]);
}

#[test]
fn flat_map_and_flat_map_values_emit_zero_or_more_records() {
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", Utf8, Utf8);
    input
        .flat_map(|k, v| v.split(' ').map(|w| (w.to_string(), k.clone())).collect::<Vec<_>>())
        .to("by-word", Utf8, Utf8);
    input
        .flat_map_values(|v| v.chars().filter(|c| c.is_ascii_digit()).map(String::from).collect::<Vec<_>>())
        .to("digits", Utf8, Utf8);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    pipe_all(&mut driver, "in", &[("a", "x y"), ("b", "")]);
    assert_eq!(
        driver.read_kv("by-word", &Utf8, &Utf8).expect("read"),
        vec![(s("x"), s("a")), (s("y"), s("a")), (s(""), s("b"))]
    );
    pipe_all(&mut driver, "in", &[("c", "a1b22")]);
    assert_eq!(
        driver.read_kv("digits", &Utf8, &Utf8).expect("read"),
        vec![(s("c"), s("1")), (s("c"), s("2")), (s("c"), s("2"))]
    );
}

#[test]
fn peek_sees_every_record_and_passes_it_on() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let builder = StreamsBuilder::new();
    let log = seen.clone();
    builder.stream("in", Utf8, Utf8).peek(move |k, _| log.lock().unwrap().push(k.clone())).to("out", Utf8, Utf8);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    pipe_all(&mut driver, "in", &[("a", "1"), ("b", "2")]);
    assert_eq!(*seen.lock().unwrap(), vec![s("a"), s("b")]);
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read").len(), 2);
}

#[test]
fn branch_sends_each_record_to_the_first_matching_branch_and_drops_the_rest() {
    let builder = StreamsBuilder::new();
    let branches = builder.stream("in", Utf8, I64).branch(vec![Box::new(|_, v| *v < 0), Box::new(|_, v| *v < 10)]);
    branches[0].to("negative", Utf8, I64);
    branches[1].to("small", Utf8, I64);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    for (k, v) in [("a", -1), ("b", 5), ("c", 50), ("d", -7)] {
        driver.pipe_kv("in", &Utf8, &I64, s(k), v, 0).expect("pipe");
    }
    assert_eq!(driver.read_kv("negative", &Utf8, &I64).expect("read"), vec![(s("a"), -1), (s("d"), -7)]);
    assert_eq!(
        driver.read_kv("small", &Utf8, &I64).expect("read"),
        vec![(s("b"), 5)],
        "-1 went to the first branch only"
    );
}

#[test]
fn merge_interleaves_two_streams_in_arrival_order() {
    let builder = StreamsBuilder::new();
    let left = builder.stream("left", Utf8, Utf8);
    let right = builder.stream("right", Utf8, Utf8).map_values(|v| v.to_uppercase());
    left.merge(&right).to("out", Utf8, Utf8);
    let topology = builder.build().expect("build");
    assert_eq!(topology.describe().lines().count(), 1, "merged sources form one sub-topology: {}", topology.describe());
    let mut driver = TestDriver::new(&topology);
    pipe_all(&mut driver, "left", &[("a", "l1")]);
    pipe_all(&mut driver, "right", &[("b", "r1")]);
    pipe_all(&mut driver, "left", &[("c", "l2")]);
    assert_eq!(
        driver.read_kv("out", &Utf8, &Utf8).expect("read"),
        vec![(s("a"), s("l1")), (s("b"), s("R1")), (s("c"), s("l2"))]
    );
}

#[test]
fn select_key_then_grouping_goes_through_a_repartition_topic() {
    let builder = StreamsBuilder::new();
    builder
        .stream("clicks", Ignore, Utf8)
        .select_key(|_, page| page.clone())
        .group_by_key(Utf8, Utf8)
        .count("clicks-per-page")
        .to_stream()
        .to("counts", Utf8, I64);
    let topology = builder.build().expect("build");
    let outline = topology.describe();
    assert!(outline.contains("writes [<app>-clicks-per-page-repartition]"), "{outline}");
    assert!(outline.contains("sources [<app>-clicks-per-page-repartition] stores [clicks-per-page]"), "{outline}");
    let mut driver = TestDriver::new(&topology);
    for page in ["/a", "/b", "/a"] {
        driver.pipe_kv("clicks", &Ignore, &Utf8, (), s(page), 0).expect("pipe");
    }
    assert_eq!(driver.read_kv("counts", &Utf8, &I64).expect("read"), vec![(s("/a"), 1), (s("/b"), 1), (s("/a"), 2)]);
    assert_eq!(driver.store_get("clicks-per-page", &Utf8, &I64, &s("/a")).expect("get"), Some(2));
}

#[test]
fn group_by_key_without_a_key_change_aggregates_in_place() {
    let builder = StreamsBuilder::new();
    builder.stream("in", Utf8, I64).group_by_key(Utf8, I64).count("n");
    let topology = builder.build().expect("build");
    assert_eq!(topology.describe().trim(), "sub-topology 0: sources [in] stores [n] writes []");
}

#[test]
fn reduce_combines_values_starting_from_the_first() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Utf8, I64)
        .group_by_key(Utf8, I64)
        .reduce(|a, b| a.max(b), "max")
        .to_stream()
        .to("out", Utf8, I64);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    for v in [3, 9, 4] {
        driver.pipe_kv("in", &Utf8, &I64, s("k"), v, 0).expect("pipe");
    }
    assert_eq!(driver.read_kv("out", &Utf8, &I64).expect("read"), vec![(s("k"), 3), (s("k"), 9), (s("k"), 9)]);
}

#[test]
fn aggregate_folds_into_a_json_state_and_changes_carry_old_values() {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, Default)]
    struct Stats {
        n: u32,
        sum: i64,
    }
    let builder = StreamsBuilder::new();
    let table = builder.stream("in", Utf8, I64).group_by(|_, v| v % 2 == 0, Json::<bool>::new(), I64).aggregate(
        Stats::default,
        |_, v, s| Stats { n: s.n + 1, sum: s.sum + v },
        "parity",
        Json::<Stats>::new(),
    );
    table.changes().to("changes", Json::<bool>::new(), Nullable(Json::<Stats>::new()));
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    for v in [1, 2, 3] {
        driver.pipe_kv("in", &Utf8, &I64, s("x"), v, 0).expect("pipe");
    }
    let changes = driver.read_kv("changes", &Json::<bool>::new(), &Nullable(Json::<Stats>::new())).expect("read");
    assert_eq!(changes.last(), Some(&(false, Some(Stats { n: 2, sum: 4 }))));
    assert_eq!(
        driver.store_get("parity", &Json::<bool>::new(), &Json::<Stats>::new(), &true).expect("get"),
        Some(Stats { n: 1, sum: 2 })
    );
}

#[test]
fn changelog_records_go_to_the_store_changelog_topic() {
    let builder = StreamsBuilder::new();
    builder.stream("in", Utf8, Utf8).group_by_key(Utf8, Utf8).count("n");
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    pipe_all(&mut driver, "in", &[("a", "1"), ("a", "2")]);
    assert_eq!(driver.read_kv("test-driver-n-changelog", &Utf8, &I64).expect("read"), vec![(s("a"), 1), (s("a"), 2)]);
}

#[test]
fn records_with_null_keys_are_dropped_by_aggregations() {
    let builder = StreamsBuilder::new();
    builder.stream("in", Nullable(Utf8), Utf8).group_by_key(Nullable(Utf8), Utf8).count("n").to_stream().to(
        "out",
        Nullable(Utf8),
        I64,
    );
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    driver.pipe_kv("in", &Nullable(Utf8), &Utf8, None, s("v"), 0).expect("pipe");
    driver.pipe_kv("in", &Nullable(Utf8), &Utf8, Some(s("k")), s("v"), 0).expect("pipe");
    assert_eq!(driver.read_kv("out", &Nullable(Utf8), &I64).expect("read"), vec![(Some(s("k")), 1)]);
}

#[test]
fn an_undecodable_record_fails_with_its_topic_and_offset() {
    let builder = StreamsBuilder::new();
    builder.stream("in", Utf8, I64).to("out", Utf8, I64);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    driver.pipe_kv("in", &Utf8, &I64, s("k"), 1, 0).expect("pipe");
    let error = driver.pipe_kv("in", &Utf8, &Utf8, s("k"), s("not eight bytes"), 0).unwrap_err();
    assert!(matches!(error, StreamsError::Deserialize { what: "value", offset: 1, .. }), "{error}");
    assert!(error.to_string().contains("in-0 at offset 1"), "{error}");
}

#[test]
fn a_topic_read_twice_or_a_store_named_twice_is_refused_at_build() {
    let builder = StreamsBuilder::new();
    builder.stream("in", Utf8, Utf8);
    builder.stream("in", Utf8, Utf8);
    assert!(builder.build().is_err());
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", Utf8, Utf8);
    input.group_by_key(Utf8, Utf8).count("n");
    input.group_by_key(Utf8, Utf8).count("n");
    assert!(builder.build().unwrap_err().to_string().contains("store name n is used twice"));
}
