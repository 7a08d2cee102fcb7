//! Transactions in one partition log: open transactions hold back the last stable offset,
//! markers end them, aborts enter the `.txnindex`, and all of it survives a clean close, a
//! crash (recovery derives lost index entries again) and retention.

use std::fs;

use runnel_log::control::ControlType;
use runnel_log::testing::{batch, transactional_batch};
use runnel_log::txn_index::{self, AbortedTxn};
use runnel_log::{LogConfig, PartitionLog};

fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 2_000, index_interval_bytes: 200, ..LogConfig::default() }
}

/// Producer 1 commits offsets 0..2 (marker 3); producer 2 writes 4..5, then plain records
/// 6..7 go in, producer 2 aborts (marker 8); producer 3 leaves 9..10 open.
fn three_transactions(log: &mut PartitionLog) {
    log.append(&transactional_batch(3, 0, (1, 0, 0)), 0).expect("append");
    log.append_marker(1, 0, ControlType::Commit, 0, 0).expect("commit");
    log.append(&transactional_batch(2, 0, (2, 0, 0)), 0).expect("append");
    log.append(&batch(2, 0, None), 0).expect("append");
    log.append_marker(2, 0, ControlType::Abort, 0, 0).expect("abort");
    log.append(&transactional_batch(2, 0, (3, 0, 0)), 0).expect("append");
}

const ABORTED: AbortedTxn = AbortedTxn { producer_id: 2, first_offset: 4, last_offset: 8, last_stable_offset: 9 };

fn check_three_transactions(log: &PartitionLog) {
    assert_eq!(log.next_offset(), 11);
    assert_eq!(log.last_stable_offset(), 9, "producer 3's open transaction starts at 9");
    assert!(log.has_open_transaction(3) && !log.has_open_transaction(2));
    assert_eq!(log.aborted_transactions(0, 11), vec![ABORTED]);
    assert_eq!(log.aborted_transactions(9, 11), vec![], "ended before the fetch offset");
    assert_eq!(log.aborted_transactions(0, 4), vec![], "starts at or after the upper bound");
    let markers: Vec<i64> =
        log.batch_headers(0).expect("headers").iter().filter(|h| h.is_control()).map(|h| h.base_offset).collect();
    assert_eq!(markers, vec![3, 8]);
}

#[test]
fn markers_end_transactions_and_the_stable_offset_follows_the_oldest_open_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    log.append(&transactional_batch(3, 0, (1, 0, 0)), 0).expect("append");
    assert_eq!((log.next_offset(), log.last_stable_offset()), (3, 0));
    log.append(&batch(2, 0, None), 0).expect("plain records append behind the open transaction");
    assert_eq!(log.last_stable_offset(), 0);
    log.append_marker(1, 0, ControlType::Commit, 0, 0).expect("commit");
    assert_eq!((log.next_offset(), log.last_stable_offset()), (6, 6));
    assert_eq!(log.aborted_transactions(0, 6), vec![], "a commit is not indexed");
    assert!(matches!(
        log.append(&runnel_log::control::marker_batch(1, 0, ControlType::Abort, 0, 0), 0),
        Err(runnel_log::LogError::InvalidRecord(_))
    ));
}

#[test]
fn transactions_survive_a_clean_close_and_a_crash_that_lost_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
        three_transactions(&mut log);
        check_three_transactions(&log);
        log.close().expect("close");
    }
    let (log, _) = PartitionLog::open(dir.path(), LogConfig::default(), true).expect("clean reopen");
    check_three_transactions(&log);
    drop(log);

    // A crash before the index entry reached the disk, and no snapshot after the abort: the
    // entry is derived again from the marker in the log.
    fs::remove_file(txn_index::index_path(dir.path(), 0)).expect("remove index");
    for entry in fs::read_dir(dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            fs::remove_file(path).expect("remove snapshot");
        }
    }
    let (log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("unclean reopen");
    check_three_transactions(&log);
    assert_eq!(txn_index::load(dir.path(), 0).expect("index"), vec![ABORTED], "the index file is written again");
}

#[test]
fn a_cut_tail_takes_its_abort_out_of_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    three_transactions(&mut log);
    let marker_at = log.batch_headers(8).expect("headers")[0];
    drop(log);
    // Cut the log inside the abort marker, as a crash in the middle of its write would.
    let segment = dir.path().join("00000000000000000000.log");
    let bytes = fs::read(&segment).expect("read");
    let marker_position = bytes.len() - log_tail_len(&bytes, marker_at.base_offset);
    fs::write(&segment, &bytes[..marker_position + 20]).expect("cut");
    let (log, report) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("reopen");
    assert!(report.truncated_bytes > 0);
    assert_eq!(log.next_offset(), 8);
    assert_eq!(log.aborted_transactions(0, 8), vec![], "the abort is gone with its marker");
    assert!(log.has_open_transaction(2), "so producer 2's transaction is open again");
    assert_eq!(log.last_stable_offset(), 4);
    assert_eq!(txn_index::load(dir.path(), 0).expect("index"), vec![]);
}

/// Bytes from the start of the batch at `offset` to the end of `segment`.
fn log_tail_len(segment: &[u8], offset: i64) -> usize {
    let mut position = 0;
    for item in runnel_log::batch::BatchWalker::new(segment) {
        let (at, header) = item.expect("valid");
        if header.base_offset == offset {
            position = at;
        }
    }
    segment.len() - position
}

#[test]
fn retention_drops_aborts_with_their_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { retention_bytes: 2_500, ..small_segments() };
    let (mut log, _) = PartitionLog::open(dir.path(), config, false).expect("open");
    log.append(&transactional_batch(3, 0, (7, 0, 0)), 0).expect("append");
    log.append_marker(7, 0, ControlType::Abort, 0, 0).expect("abort");
    assert_eq!(log.aborted_transactions(0, 4).len(), 1);
    for _ in 0..20 {
        log.append(&batch(10, 0, None), 0).expect("append");
    }
    assert!(log.segment_count() > 2);
    assert!(log.apply_retention(0).expect("retention") > 0);
    assert!(log.log_start_offset() > 3);
    assert_eq!(log.aborted_transactions(0, log.next_offset()), vec![]);
    assert!(!txn_index::index_path(dir.path(), 0).exists());
}
