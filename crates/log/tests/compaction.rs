//! Log compaction on a partition log: the last record per key survives with its offset,
//! tombstones go after `delete.retention.ms`, compressed batches are re-encoded in their codec,
//! and a crash at every step of the segment swap reopens to the same records.

use std::collections::BTreeMap;

use kafka_protocol::records::{Compression, RecordBatchDecoder};
use runnel_log::cleaner::{self, PassSettings, SwapStep};
use runnel_log::testing::keyed_batch;
use runnel_log::{LogConfig, PartitionLog};

fn compacted() -> LogConfig {
    LogConfig { segment_bytes: 1_500, index_interval_bytes: 200, compact: true, ..LogConfig::default() }
}

const NOW: i64 = 1_000_000;

fn settings(now_ms: i64) -> PassSettings {
    PassSettings { now_ms, max_map_bytes: 1 << 20, max_bytes_per_second: 0 }
}

/// (offset, key, value) of every record, read from the log start.
fn records(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while let Some(slice) = log.read(offset, 1 << 20, true).expect("read") {
        let mut bytes = bytes::Bytes::from(slice.read().expect("read slice"));
        let mut last = offset;
        while !bytes.is_empty() {
            let set = RecordBatchDecoder::decode(&mut bytes).expect("decode");
            for r in set.records {
                let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).expect("utf8"));
                last = last.max(r.offset + 1);
                if r.offset >= offset {
                    out.push((r.offset, text(r.key).expect("key"), text(r.value)));
                }
            }
        }
        offset = last.max(offset + 1);
        if offset >= log.next_offset() {
            break;
        }
    }
    out
}

/// Writes 40 rounds of updates to keys k0..k4 (round r sets value `r`), with k4 deleted in the
/// last round, alternating codecs; then one more record so every update sits in a closed segment.
fn write_updates(log: &mut PartitionLog) {
    for round in 0..40 {
        let value = round.to_string();
        let mut batch: Vec<(String, Option<&str>)> = (0..5).map(|k| (format!("k{k}"), Some(value.as_str()))).collect();
        if round == 39 {
            batch[4].1 = None;
        }
        let refs: Vec<(&str, Option<&str>)> = batch.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let codec = if round % 2 == 0 { Compression::None } else { Compression::Lz4 };
        log.append(&keyed_batch(&refs, 1_000 + round, codec), NOW).expect("append");
    }
    log.roll().expect("roll");
    log.append(&keyed_batch(&[("k0", Some("tail"))], 2_000, Compression::None), NOW).expect("append");
}

fn latest(records: &[(i64, String, Option<String>)]) -> BTreeMap<String, (i64, Option<String>)> {
    records.iter().map(|(o, k, v)| (k.clone(), (*o, v.clone()))).collect()
}

fn clean_once(log: &mut PartitionLog, first_dirty: i64, now_ms: i64, stop: Option<SwapStep>) -> i64 {
    let plan = log.clean_plan(first_dirty, now_ms).expect("something to clean");
    let cleaned = cleaner::clean(&plan, settings(now_ms)).expect("clean");
    let to = cleaned.stats.cleaned_to;
    assert!(log.finish_clean(cleaned, stop).expect("swap"));
    to
}

#[test]
fn the_last_record_of_each_key_survives_with_its_offset_and_tombstones_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), compacted(), false).expect("open");
    write_updates(&mut log);
    let before = records(&log);
    assert_eq!(before.len(), 201);
    let size_before = log.size_bytes();

    let cleaned_to = clean_once(&mut log, 0, NOW, None);
    assert_eq!(cleaned_to, 200, "every closed segment was dirty");
    let after = records(&log);
    assert_eq!(latest(&after), latest(&before), "the same final value per key, at the same offsets");
    let keys: Vec<&str> = after.iter().map(|(_, k, _)| k.as_str()).collect();
    // k0's last update in the closed segments stays: the active segment (k0=tail) is not
    // mapped until it closes, as in Kafka.
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4", "k0"]);
    assert_eq!(after[4], (199, "k4".to_string(), None), "the tombstone stays within delete.retention.ms");
    assert!(log.size_bytes() < size_before / 5, "{} of {size_before} bytes left", log.size_bytes());
    assert!(log.clean_plan(cleaned_to, NOW).is_none(), "nothing dirty since");

    // Reopened (with and without a crash scan), the compacted batches are valid as stored.
    drop(log);
    for clean_shutdown in [false, true] {
        let (log, _) = PartitionLog::open(dir.path(), compacted(), clean_shutdown).expect("reopen");
        assert_eq!(records(&log), after);
    }

    // Once the tombstone's batch is older than delete.retention.ms, a pass removes it.
    let (mut log, _) = PartitionLog::open(dir.path(), compacted(), true).expect("reopen");
    clean_once(&mut log, 0, 1_000 + 39 + LogConfig::default().delete_retention_ms + 1, None);
    let keys: Vec<String> = records(&log).into_iter().map(|(_, k, _)| k).collect();
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k0"]);
}

#[test]
fn a_crash_at_every_step_of_the_swap_reopens_to_the_same_records() {
    for stop in [None, Some(SwapStep::Marked), Some(SwapStep::IndexesRemoved), Some(SwapStep::Replaced)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = PartitionLog::open(dir.path(), compacted(), false).expect("open");
        write_updates(&mut log);
        let expected = latest(&records(&log));
        // A pass whose files are written but not swapped: the `.cleaned` files are discarded.
        let plan = log.clean_plan(0, NOW).expect("plan");
        drop(cleaner::clean(&plan, settings(NOW)).expect("clean"));
        drop(log);
        let (mut log, _) = PartitionLog::open(dir.path(), compacted(), false).expect("reopen");
        assert_eq!(records(&log).len(), 201, "an unfinished pass leaves the old segments");
        match stop {
            None => {}
            Some(step) => {
                clean_once(&mut log, 0, NOW, Some(step));
                drop(log);
                let (log, _) = PartitionLog::open(dir.path(), compacted(), false).expect("reopen after the crash");
                let after = records(&log);
                assert_eq!(latest(&after), expected, "stopped after {step:?}");
                assert_eq!(after.len(), 6, "the marked swap completes at open ({step:?})");
                let leftovers: Vec<String> = std::fs::read_dir(dir.path())
                    .expect("list")
                    .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".swap") || n.ends_with(".cleaned"))
                    .collect();
                assert!(leftovers.is_empty(), "{leftovers:?}");
            }
        }
    }
}

#[test]
fn aborted_records_go_and_a_marker_goes_once_its_transaction_left_nothing() {
    use runnel_log::control::ControlType;
    use runnel_log::testing::transactional_batch;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), compacted(), false).expect("open");
    // Producer 7: an aborted transaction (offsets 0-2, abort marker 3), then a committed one
    // (4-5, commit marker 6). Producer 8: a committed transaction (7-8, marker 9) whose keys
    // are written again later outside any transaction (10-11).
    log.append(&transactional_batch(3, 1_000, (7, 0, 0)), NOW).expect("append");
    log.append_marker(7, 0, ControlType::Abort, 0, NOW).expect("abort");
    log.append(&transactional_batch(2, 1_000, (7, 0, 3)), NOW).expect("append");
    log.append_marker(7, 0, ControlType::Commit, 0, NOW).expect("commit");
    let first_of_8 = transactional_batch(1, 1_000, (8, 0, 0));
    log.append(&first_of_8, NOW).expect("append");
    log.append(&transactional_batch(1, 1_000, (8, 0, 1)), NOW).expect("append");
    log.append_marker(8, 0, ControlType::Commit, 0, NOW).expect("commit");
    log.append(&keyed_batch(&[("key-0", Some("again"))], 1_000, Compression::None), NOW).expect("append");
    log.roll().expect("roll");
    log.append(&keyed_batch(&[("other", Some("x"))], 1_000, Compression::None), NOW).expect("append");
    let batches = |log: &PartitionLog| -> Vec<(i64, bool, i32)> {
        log.batch_headers(log.log_start_offset())
            .expect("headers")
            .iter()
            .map(|h| (h.base_offset, h.is_control(), h.record_count))
            .collect()
    };
    assert_eq!(batches(&log).len(), 9);

    // Within delete.retention.ms: aborted records go, every marker stays.
    clean_once(&mut log, 0, NOW, None);
    let kept = batches(&log);
    assert!(!kept.iter().any(|&(o, _, _)| o < 3), "the aborted records are gone: {kept:?}");
    assert_eq!(kept.iter().filter(|b| b.1).count(), 3, "markers stay within delete.retention.ms: {kept:?}");

    // Past it (markers carry the time they were written, NOW): the abort marker goes, as its
    // transaction left nothing; the commit markers stay, as records of theirs remain (each
    // producer's last batch is kept whole for its sequence state).
    let later = NOW + LogConfig::default().delete_retention_ms + 1;
    clean_once(&mut log, 0, later, None);
    let kept = batches(&log);
    let markers: Vec<i64> = kept.iter().filter(|b| b.1).map(|b| b.0).collect();
    assert_eq!(markers, [6, 9], "the abort marker at 3 went; the commits whose records remain stay: {kept:?}");
}
