//! Custom processors through the test driver: stores, stream-time and wall-clock punctuators.

use std::time::Duration;

use runnel_streams::serdes::Utf8;
use runnel_streams::{CustomProcessor, ProcessorContext, PunctuationType, Record, StreamsBuilder, TestDriver};

/// Counts records per key in store `seen`; on each punctuation emits every key's count and
/// which kind of time fired it.
struct CountThenReport;

impl CustomProcessor<String, String, String, String> for CountThenReport {
    fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, record: Record<String, String>) {
        let key = record.key.into_bytes();
        let n = ctx.get("seen", &key).map_or(0, |b| i64::from_be_bytes(b.try_into().expect("8 bytes")));
        ctx.put("seen", key, (n + 1).to_be_bytes().to_vec());
    }

    fn punctuate(&mut self, ctx: &mut ProcessorContext<'_, String, String>, kind: PunctuationType, time: i64) {
        for (key, count) in ctx.range("seen", &[], None) {
            let n = i64::from_be_bytes(count.try_into().expect("8 bytes"));
            let key = String::from_utf8(key).expect("utf-8");
            ctx.forward(Record::new(key, format!("{kind:?}@{time}={n}"), time));
        }
    }
}

fn driver(kind: PunctuationType) -> TestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Utf8, Utf8)
        .process(|| CountThenReport, &[(kind, Duration::from_millis(10))], &["seen"])
        .to("out", Utf8, Utf8);
    TestDriver::new(&builder.build().expect("build"))
}

fn pipe(driver: &mut TestDriver, key: &str, t: i64) {
    driver.pipe_kv("in", &Utf8, &Utf8, key.to_string(), String::new(), t).expect("pipe");
}

#[test]
fn stream_time_punctuators_fire_on_interval_boundaries_as_records_move_stream_time() {
    let mut driver = driver(PunctuationType::StreamTime);
    pipe(&mut driver, "a", 1);
    pipe(&mut driver, "a", 5);
    pipe(&mut driver, "b", 9);
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read"), vec![], "stream time has not reached 10");
    pipe(&mut driver, "a", 12);
    assert_eq!(
        driver.read_kv("out", &Utf8, &Utf8).expect("read"),
        vec![("a".to_string(), "StreamTime@12=3".to_string()), ("b".to_string(), "StreamTime@12=1".to_string())]
    );
    pipe(&mut driver, "a", 35); // several intervals passed: fires once
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read").len(), 2);
    driver.advance_wall_clock(Duration::from_secs(60)).expect("advance");
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read"), vec![], "the wall clock does not drive it");
}

#[test]
fn wall_clock_punctuators_fire_without_records() {
    let mut driver = driver(PunctuationType::WallClockTime);
    pipe(&mut driver, "a", 1);
    driver.advance_wall_clock(Duration::from_millis(5)).expect("advance");
    driver.advance_wall_clock(Duration::from_millis(10)).expect("advance");
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read"), vec![("a".into(), "WallClockTime@15=1".into())]);
    pipe(&mut driver, "a", 1000);
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read"), vec![], "records do not drive it");
    driver.advance_wall_clock(Duration::from_millis(10)).expect("advance");
    assert_eq!(driver.read_kv("out", &Utf8, &Utf8).expect("read"), vec![("a".into(), "WallClockTime@25=2".into())]);
}
