//! Windowed aggregations through the test driver: tumbling, hopping and session windows, late
//! records inside and past grace, emit-on-update and emit-final (once per window).

use std::time::Duration;

use runnel_streams::serdes::{I64, Nullable, Utf8};
use runnel_streams::{
    Emit, SessionWindows, SlidingWindows, StreamsBuilder, TestDriver, TimeWindows, Window, Windowed, WindowedSerde,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Counts = Vec<(Windowed<String>, Option<i64>)>;

/// Pipes one record of key `k` at `t`.
fn at(driver: &mut TestDriver, k: &str, t: i64) {
    driver.pipe_kv("in", &Utf8, &Utf8, k.to_string(), "v".to_string(), t).expect("pipe");
}

fn read(driver: &mut TestDriver) -> Counts {
    driver.read_kv("out", &WindowedSerde(Utf8), &Nullable(I64)).expect("read")
}

fn w(key: &str, start: i64, end: i64) -> Windowed<String> {
    Windowed { key: key.to_string(), window: Window { start, end } }
}

fn time_windowed(windows: TimeWindows, emit: Emit) -> TestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Utf8, Utf8)
        .group_by_key(Utf8, Utf8)
        .windowed_by(windows)
        .emit(emit)
        .count("counts")
        .changes()
        .to("out", WindowedSerde(Utf8), Nullable(I64));
    TestDriver::new(&builder.build().expect("build"))
}

#[test]
fn tumbling_windows_emit_every_update() {
    let mut driver = time_windowed(TimeWindows::tumbling(ms(10), ms(0)), Emit::OnUpdate);
    for t in [0, 5, 12] {
        at(&mut driver, "a", t);
    }
    assert_eq!(read(&mut driver), vec![(w("a", 0, 10), Some(1)), (w("a", 0, 10), Some(2)), (w("a", 10, 20), Some(1))]);
}

#[test]
fn hopping_windows_count_a_record_in_each_window_covering_it() {
    let mut driver = time_windowed(TimeWindows::hopping(ms(10), ms(5), ms(100)), Emit::OnUpdate);
    at(&mut driver, "a", 7);
    at(&mut driver, "a", 12);
    assert_eq!(
        read(&mut driver),
        vec![(w("a", 0, 10), Some(1)), (w("a", 5, 15), Some(1)), (w("a", 5, 15), Some(2)), (w("a", 10, 20), Some(1))]
    );
}

#[test]
fn emit_final_writes_each_window_once_counting_late_records_inside_grace_and_dropping_those_past_it() {
    let mut driver = time_windowed(TimeWindows::tumbling(ms(10), ms(5)), Emit::OnWindowClose);
    for t in [1, 3, 12, 14] {
        at(&mut driver, "a", t);
    }
    assert_eq!(read(&mut driver), vec![], "nothing is final before stream time passes end + grace");
    at(&mut driver, "a", 8); // late, but [0, 10) is open until stream time 15
    at(&mut driver, "b", 16); // stream time 16: [0, 10) closes
    assert_eq!(read(&mut driver), vec![(w("a", 0, 10), Some(3))]);
    at(&mut driver, "a", 9); // past grace: dropped
    at(&mut driver, "b", 17);
    assert_eq!(read(&mut driver), vec![], "a closed window is never emitted again");
    assert_eq!(driver.late_records(), 1);
    at(&mut driver, "b", 40); // closes [10, 20) for both keys
    let mut closed = read(&mut driver);
    closed.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(closed, vec![(w("a", 10, 20), Some(2)), (w("b", 10, 20), Some(2))]);
    assert_eq!(driver.store_get("counts", &Utf8, &I64, &"a".to_string()).expect("get"), None);
}

#[test]
fn time_windowed_reduce_combines_values_per_window() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Utf8, I64)
        .group_by_key(Utf8, I64)
        .windowed_by(TimeWindows::tumbling(ms(10), ms(0)))
        .reduce(|a, b| a + b, "sums")
        .to_stream()
        .to("out", WindowedSerde(Utf8), I64);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    for (v, t) in [(1, 1), (2, 2), (10, 11)] {
        driver.pipe_kv("in", &Utf8, &I64, "k".to_string(), v, t).expect("pipe");
    }
    let sums: Vec<i64> =
        driver.read_kv("out", &WindowedSerde(Utf8), &I64).expect("read").into_iter().map(|(_, v)| v).collect();
    assert_eq!(sums, vec![1, 3, 10]);
}

fn sessions(gap: u64, grace: u64, emit: Emit) -> TestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Utf8, Utf8)
        .group_by_key(Utf8, Utf8)
        .session_windowed_by(SessionWindows::with_gap(ms(gap), ms(grace)))
        .emit(emit)
        .count("sessions")
        .changes()
        .to("out", WindowedSerde(Utf8), Nullable(I64));
    TestDriver::new(&builder.build().expect("build"))
}

#[test]
fn sessions_grow_merge_and_retract_the_sessions_they_replace() {
    let mut driver = sessions(10, 100, Emit::OnUpdate);
    at(&mut driver, "a", 0);
    at(&mut driver, "a", 5);
    assert_eq!(read(&mut driver), vec![(w("a", 0, 0), Some(1)), (w("a", 0, 0), None), (w("a", 0, 5), Some(2))]);
    at(&mut driver, "a", 30);
    at(&mut driver, "a", 18); // 13 after the first session's end: a session of its own
    assert_eq!(read(&mut driver), vec![(w("a", 30, 30), Some(1)), (w("a", 18, 18), Some(1))]);
    at(&mut driver, "a", 24); // within the gap of both 18 and 30: merges them
    let merged = read(&mut driver);
    assert_eq!(merged.last(), Some(&(w("a", 18, 30), Some(3))));
    let retracted: Vec<&Windowed<String>> = merged.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k).collect();
    assert_eq!(retracted.len(), 2, "both merged sessions are retracted: {merged:?}");
}

#[test]
fn sessions_emit_final_once_after_gap_and_grace_and_drop_records_past_grace() {
    let mut driver = sessions(10, 5, Emit::OnWindowClose);
    at(&mut driver, "a", 0);
    at(&mut driver, "a", 4);
    at(&mut driver, "b", 18);
    assert_eq!(read(&mut driver), vec![], "session [0, 4] closes at stream time 4 + 10 + 5 = 19");
    at(&mut driver, "a", 2); // inside the open session
    at(&mut driver, "b", 19);
    assert_eq!(read(&mut driver), vec![(w("a", 0, 4), Some(3))]);
    at(&mut driver, "a", 3); // its session closed: dropped
    at(&mut driver, "b", 60);
    assert_eq!(read(&mut driver), vec![(w("b", 18, 19), Some(2))], "a's late record made no new session");
    assert_eq!(driver.late_records(), 1);
}

#[test]
fn session_reduce_merges_with_the_reducer() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Utf8, Utf8)
        .group_by_key(Utf8, Utf8)
        .session_windowed_by(SessionWindows::with_gap(ms(10), ms(100)))
        .reduce(|older, newer| format!("{older}{newer}"), "joined")
        .to_stream()
        .to("out", WindowedSerde(Utf8), Utf8);
    let mut driver = TestDriver::new(&builder.build().expect("build"));
    for (v, t) in [("a", 0), ("c", 20), ("b", 10)] {
        driver.pipe_kv("in", &Utf8, &Utf8, "k".to_string(), v.to_string(), t).expect("pipe");
    }
    let last = driver.read_kv("out", &WindowedSerde(Utf8), &Utf8).expect("read").pop().expect("a result");
    assert_eq!(last.0.window, Window { start: 0, end: 20 });
    assert_eq!(last.1.len(), 3, "one session of the three values: {}", last.1);
}

fn sliding(grace: u64, emit: Emit) -> TestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Utf8, Utf8)
        .group_by_key(Utf8, Utf8)
        .sliding_windowed_by(SlidingWindows::of(ms(10), ms(grace)))
        .emit(emit)
        .count("sliding")
        .changes()
        .to("out", WindowedSerde(Utf8), Nullable(I64));
    TestDriver::new(&builder.build().expect("build"))
}

#[test]
fn sliding_windows_make_one_window_per_distinct_set_of_nearby_records() {
    let mut driver = sliding(100, Emit::OnUpdate);
    at(&mut driver, "a", 20);
    assert_eq!(read(&mut driver), vec![(w("a", 10, 20), Some(1))]);
    at(&mut driver, "a", 25);
    // {20, 25} in 25's left window; {25} alone in 20's right window.
    assert_eq!(read(&mut driver), vec![(w("a", 15, 25), Some(2)), (w("a", 21, 31), Some(1))]);
    at(&mut driver, "a", 40);
    assert_eq!(read(&mut driver), vec![(w("a", 30, 40), Some(1))]);
    at(&mut driver, "a", 22); // late but within grace: joins every window covering 22
    assert_eq!(
        read(&mut driver),
        vec![
            (w("a", 12, 22), Some(2)),
            (w("a", 15, 25), Some(3)),
            (w("a", 21, 31), Some(2)),
            (w("a", 23, 33), Some(1)),
        ]
    );
}

#[test]
fn sliding_windows_emit_final_once_and_drop_records_past_grace() {
    let mut driver = sliding(0, Emit::OnWindowClose);
    at(&mut driver, "a", 20);
    assert_eq!(read(&mut driver), vec![]);
    at(&mut driver, "a", 25); // stream time 25 is past [10, 20]'s end: it closes
    assert_eq!(read(&mut driver), vec![(w("a", 10, 20), Some(1))]);
    at(&mut driver, "b", 50); // closes a's other windows
    assert_eq!(read(&mut driver), vec![(w("a", 15, 25), Some(2)), (w("a", 21, 31), Some(1))]);
    at(&mut driver, "a", 24); // 24 + 10 + 0 < 50: late
    assert_eq!(read(&mut driver), vec![], "a's closed windows are not emitted again");
    assert_eq!(driver.late_records(), 1);
}
