//! Behaviour of a partition log through its public API: append, read, roll, reopen, retention.

use std::fs;
use std::path::Path;

use runnel_log::batch::BatchWalker;
use runnel_log::testing::batch;
use runnel_log::{LogConfig, LogError, PartitionLog};

fn small_segments() -> LogConfig {
    LogConfig { segment_bytes: 2_000, index_interval_bytes: 200, ..LogConfig::default() }
}

fn read_all_offsets(log: &PartitionLog) -> Vec<i64> {
    let headers = log.batch_headers(log.log_start_offset()).expect("read batches");
    headers.iter().flat_map(|h| h.base_offset..=h.last_offset()).collect()
}

#[test]
fn appended_batches_get_consecutive_offsets_and_read_back_as_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, report) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    assert_eq!(report.next_offset, 0);
    let mut expected = 0;
    for n in 1..=10 {
        let result = log.append(&batch(n, 1_000 * n as i64, None), 5).expect("append");
        assert_eq!(result.base_offset, expected);
        expected += n as i64;
        assert_eq!(result.next_offset, expected);
        assert!(!result.duplicate);
    }
    assert_eq!(read_all_offsets(&log), (0..expected).collect::<Vec<_>>());
    // A read in the middle of a batch starts at that batch, as Kafka's fetch does.
    let slice = log.read(4, 1 << 20, true).expect("read").expect("data");
    let bytes = slice.read().expect("read slice");
    let first = BatchWalker::new(&bytes).next().expect("a batch").expect("valid");
    assert_eq!(first.1.base_offset, 3);
    assert!(log.read(expected, 1 << 20, true).expect("read at end").is_none());
    assert!(matches!(log.read(expected + 1, 1 << 20, true), Err(LogError::OffsetOutOfRange { .. })));
}

#[test]
fn segments_roll_at_segment_bytes_with_twenty_digit_names_and_reopen_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    for i in 0..40 {
        log.append(&batch(3, i, None), i).expect("append");
    }
    assert!(log.segment_count() > 3, "expected several segments, got {}", log.segment_count());
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(names.iter().all(|n| n.len() == 24), "{names:?}");
    assert!(names.contains(&"00000000000000000000.log".to_string()));
    let offsets = read_all_offsets(&log);
    drop(log);
    for clean in [false, true] {
        let (log, report) = PartitionLog::open(dir.path(), small_segments(), clean).expect("reopen");
        assert_eq!(report.next_offset, 120);
        assert_eq!(read_all_offsets(&log), offsets);
    }
}

#[test]
fn a_retried_idempotent_batch_is_a_duplicate_also_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    let first = batch(2, 0, Some((9, 0, 0)));
    let second = batch(2, 0, Some((9, 0, 2)));
    assert_eq!(log.append(&first, 0).expect("first").base_offset, 0);
    assert_eq!(log.append(&second, 0).expect("second").base_offset, 2);
    let retry = log.append(&first, 0).expect("retry");
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 0);
    assert_eq!(log.next_offset(), 4);
    drop(log);
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("reopen");
    assert!(log.append(&second, 0).expect("retry after reopen").duplicate);
    let gap = log.append(&batch(1, 0, Some((9, 0, 10))), 0);
    assert!(matches!(gap, Err(LogError::Sequence(_))), "{gap:?}");
}

#[test]
fn oversized_and_corrupt_batches_are_refused_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { max_message_bytes: 300, ..LogConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), config, false).expect("open");
    assert!(matches!(log.append(&batch(50, 0, None), 0), Err(LogError::MessageTooLarge { .. })));
    let mut corrupt = batch(1, 0, None).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert!(matches!(log.append(&corrupt, 0), Err(LogError::Batch(_))));
    assert_eq!(log.next_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn retention_by_bytes_and_by_time_deletes_oldest_segments_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { retention_bytes: 4_000, ..small_segments() };
    let (mut log, _) = PartitionLog::open(dir.path(), config, false).expect("open");
    for i in 0..60 {
        log.append(&batch(3, 1_000 + i, None), 1_000).expect("append");
    }
    let deleted = log.apply_retention(2_000).expect("retention");
    assert!(deleted > 0);
    assert!(log.size_bytes() <= 4_000 + 2_000, "size {}", log.size_bytes());
    assert!(log.log_start_offset() > 0);
    assert_eq!(log.next_offset(), 180);
    let offsets = read_all_offsets(&log);
    assert_eq!(offsets.first().copied(), Some(log.log_start_offset()));

    let config = LogConfig { retention_ms: 10_000, ..small_segments() };
    log.set_config(config);
    log.apply_retention(1_000_000).expect("time retention");
    assert_eq!(log.log_start_offset(), 180, "every record expired");
    assert_eq!(log.next_offset(), 180);
    let appended = log.append(&batch(1, 0, None), 1_000_000).expect("append");
    assert_eq!((appended.base_offset, appended.log_start_offset), (180, 180));
}

#[test]
fn delete_records_moves_the_log_start_inside_a_segment_and_drops_whole_segments_below_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    for i in 0..60 {
        log.append(&batch(3, 1_000 + i, None), 1_000).expect("append");
    }
    let segments = log.segment_count();
    assert!(segments > 3);
    assert_eq!(log.log_start_inside_segment(), None);
    assert_eq!(log.advance_log_start(100).expect("advance"), 100);
    assert_eq!(log.advance_log_start(50).expect("lower changes nothing"), 100);
    assert!(matches!(log.advance_log_start(181), Err(LogError::OffsetOutOfRange { .. })));
    assert!(matches!(log.read(99, 1_000, true), Err(LogError::OffsetOutOfRange { log_start: 100, .. })));
    assert!(log.read(100, 1_000, true).expect("read").is_some());
    // Record 100 has timestamp 1_033: a search for an earlier time answers the first kept record.
    assert_eq!(log.offset_for_timestamp(0).expect("search").map(|(o, _)| o), Some(100));

    let deleted = log.delete_segments_below_start().expect("delete");
    assert!(deleted > 0 && log.segment_count() == segments - deleted);
    assert_eq!(log.log_start_offset(), 100);
    assert_eq!(log.log_start_inside_segment(), Some(100), "the first kept segment starts below 100");
    let offsets = read_all_offsets(&log);
    assert!(offsets.iter().all(|&o| o >= 99), "only the batch holding 100 starts below it");

    // After a restart the segments alone say less; the checkpointed start is restored.
    log.close().expect("close");
    drop(log);
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), true).expect("reopen");
    assert!(log.log_start_offset() < 100);
    log.restore_log_start(100);
    assert_eq!(log.log_start_offset(), 100);
    assert_eq!(log.advance_log_start(180).expect("everything"), 180);
    log.delete_segments_below_start().expect("delete");
    assert_eq!((log.log_start_offset(), log.next_offset()), (180, 180));
}

#[test]
fn after_a_crash_only_what_follows_the_last_recovery_checkpoint_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { index_interval_bytes: 200, ..LogConfig::default() };
    let (mut log, _) = PartitionLog::open(dir.path(), config.clone(), false).expect("open");
    for i in 0..100 {
        log.append(&batch(3, i, Some((5, 0, (i * 3) as i32))), i).expect("append");
    }
    assert!(log.recovery_checkpoint(1).is_none(), "nothing is fsynced yet");
    let (file, offset) = log.sync_point().expect("sync point");
    file.sync_data().expect("fsync");
    log.mark_flushed(offset);
    let checkpoint = log.recovery_checkpoint(1).expect("a checkpoint");
    assert_eq!(checkpoint.recovery_point, 300);
    let files: Vec<(&Path, &[u8])> = checkpoint.files.iter().map(|(p, c)| (p.as_path(), c.as_slice())).collect();
    runnel_log::durable_file::write_all_atomically(&files).expect("write the checkpoint");
    log.checkpoint_written(&checkpoint);
    assert!(log.recovery_checkpoint(1).is_none(), "nothing new since");
    let checkpointed_size = log.size_bytes();
    for i in 100..110 {
        log.append(&batch(3, i, Some((5, 0, (i * 3) as i32))), i).expect("append");
    }
    let tail = log.size_bytes() - checkpointed_size;
    drop(log);
    // A torn write after the last batch.
    let segment = dir.path().join("00000000000000000000.log");
    let mut bytes = fs::read(&segment).expect("read");
    bytes.extend_from_slice(&[7u8; 40]);
    fs::write(&segment, bytes).expect("tear");

    let (mut log, report) = PartitionLog::open(dir.path(), config, false).expect("recover");
    assert_eq!((report.next_offset, report.truncated_bytes), (330, 40));
    assert!(
        report.checked_bytes >= tail && report.checked_bytes < tail + 400,
        "checked {} bytes: the {tail} written after the checkpoint and at most an index interval before",
        report.checked_bytes
    );
    assert_eq!(read_all_offsets(&log), (0..330).collect::<Vec<_>>());
    // The producer state replayed from the checkpoint's snapshot still knows the sequences.
    assert!(log.append(&batch(3, 0, Some((5, 0, 327))), 0).expect("retry").duplicate);
    // Batch i holds offsets 3i.. with timestamps i, i+1, i+2: timestamp 50 is offset 146.
    assert_eq!(log.offset_for_timestamp(50).expect("search").map(|(o, _)| o), Some(146));
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

#[test]
fn the_last_segment_cut_at_every_byte_of_its_last_batch_reopens_to_the_complete_batches() {
    let source = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(source.path(), small_segments(), false).expect("open");
    for i in 0..12 {
        log.append(&batch(3, i, Some((5, 0, 3 * i as i32))), i).expect("append");
    }
    let last = batch(4, 99, Some((5, 0, 36)));
    let before_last = log.next_offset();
    log.append(&last, 99).expect("append last");
    let expected_full = read_all_offsets(&log);
    drop(log);
    let log_files: Vec<_> = fs::read_dir(source.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    let last_segment = log_files.iter().max().expect("a segment").clone();
    let full_len = fs::metadata(&last_segment).expect("stat").len();
    let batch_start = full_len - last.len() as u64;

    for cut in 0..=last.len() as u64 {
        let work = tempfile::tempdir().expect("tempdir");
        copy_dir(source.path(), work.path());
        let target = work.path().join(last_segment.file_name().expect("name"));
        fs::OpenOptions::new().write(true).open(&target).expect("open").set_len(batch_start + cut).expect("cut");
        let (mut log, report) = PartitionLog::open(work.path(), small_segments(), false).expect("recover");
        let complete = cut == last.len() as u64;
        let want_next = if complete { before_last + 4 } else { before_last };
        assert_eq!(report.next_offset, want_next, "cut at {cut}");
        assert_eq!(report.truncated_bytes, if complete { 0 } else { cut }, "cut at {cut}");
        let offsets = read_all_offsets(&log);
        assert_eq!(offsets, expected_full[..want_next as usize], "cut at {cut}");
        // The log accepts the producer's next batch (or its retry) at the right offset.
        let next = log.append(&last, 100).expect("append after recovery");
        assert_eq!(next.base_offset, before_last, "cut at {cut}");
        assert_eq!(next.duplicate, complete, "cut at {cut}");
        let (reopened, _) = PartitionLog::open(work.path(), small_segments(), false).expect("reopen");
        assert_eq!(reopened.next_offset(), before_last + 4, "cut at {cut}");
    }
}

#[test]
fn garbage_after_the_last_batch_is_cut_and_indexes_are_rebuilt_when_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    for i in 0..30 {
        log.append(&batch(2, i, None), i).expect("append");
    }
    let offsets = read_all_offsets(&log);
    drop(log);
    let mut logs: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    // The active segment's indexes are written at roll and close only: a crash leaves none.
    let (last, older) = logs.split_last().expect("a segment");
    assert!(!last.with_extension("index").exists(), "the active segment's index is not written before close");
    for path in older {
        fs::remove_file(path.with_extension("index")).expect("remove index");
        fs::remove_file(path.with_extension("timeindex")).expect("remove timeindex");
    }
    let mut bytes = fs::read(last).expect("read");
    bytes.extend_from_slice(&[0xAB; 77]);
    fs::write(last, bytes).expect("write garbage");
    let (log, report) = PartitionLog::open(dir.path(), small_segments(), false).expect("recover");
    assert_eq!(report.truncated_bytes, 77);
    assert_eq!(read_all_offsets(&log), offsets);
    assert_eq!(
        log.offset_for_timestamp(10).expect("search"),
        Some((19, 10)),
        "batch 9 holds offsets 18 and 19 at timestamps 9 and 10"
    );
    for path in older {
        assert!(path.with_extension("index").exists(), "index rebuilt for {}", path.display());
        assert!(path.with_extension("timeindex").exists(), "time index rebuilt for {}", path.display());
    }
    let mut log = log;
    log.close().expect("close");
    assert!(last.with_extension("index").exists(), "close writes the active segment's index");
    let (log, report) = PartitionLog::open(dir.path(), small_segments(), true).expect("clean reopen");
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(read_all_offsets(&log), offsets);
}

#[test]
fn a_write_made_outside_the_log_is_invisible_until_finished_and_a_failed_one_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    log.append(&batch(2, 1_000, None), 1_000).expect("first append");

    let next = batch(3, 2_000, None);
    let header = runnel_log::batch::validate(&next).expect("valid");
    let runnel_log::Prepared::Write(write) = log.prepare_append(&next, header, 2_000).expect("prepare") else {
        panic!("a new batch is not a duplicate");
    };
    // A second append must wait for this one.
    let again = runnel_log::batch::validate(&next).expect("valid");
    assert!(log.prepare_append(&next, again, 2_000).is_err());
    write.write(&next).expect("write");
    // Written but not finished: readers still see the old end.
    assert_eq!(log.next_offset(), 2);
    assert_eq!(read_all_offsets(&log), vec![0, 1]);
    let result = log.finish_append(write, Ok(())).expect("finish");
    assert_eq!((result.base_offset, result.next_offset), (2, 5));
    assert_eq!(read_all_offsets(&log), (0..5).collect::<Vec<_>>());

    // A write that failed (a full disk, say) is cut back and the offsets are not used.
    let failed = batch(4, 3_000, None);
    let header = runnel_log::batch::validate(&failed).expect("valid");
    let runnel_log::Prepared::Write(write) = log.prepare_append(&failed, header, 3_000).expect("prepare") else {
        panic!("not a duplicate");
    };
    write.write(&failed).expect("write the bytes");
    let full = std::io::Error::from_raw_os_error(28);
    assert!(matches!(log.finish_append(write, Err(full)), Err(LogError::Io { .. })));
    assert_eq!(log.next_offset(), 5);
    let after = log.append(&batch(1, 4_000, None), 4_000).expect("appends go on after a full disk");
    assert_eq!(after.base_offset, 5);
    assert_eq!(read_all_offsets(&log), (0..6).collect::<Vec<_>>());
    drop(log);
    let (reopened, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("reopen");
    assert_eq!(read_all_offsets(&reopened), (0..6).collect::<Vec<_>>());
}

fn files_with_extension(dir: &Path, extension: &str) -> usize {
    fs::read_dir(dir).expect("list").flatten().filter(|e| e.path().extension().is_some_and(|x| x == extension)).count()
}

#[test]
fn a_close_writes_only_when_there_is_something_to_make_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A new, empty log: nothing to write at close.
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
    log.close().expect("close");
    assert_eq!(files_with_extension(dir.path(), "snapshot"), 0);
    assert_eq!(files_with_extension(dir.path(), "index"), 0);
    // Appended: the close syncs, writes the indexes and a producer snapshot.
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), true).expect("reopen");
    log.append(&batch(3, 1_000, Some((7, 0, 0))), 1_000).expect("append");
    log.close().expect("close");
    assert_eq!(files_with_extension(dir.path(), "snapshot"), 1);
    assert_eq!(files_with_extension(dir.path(), "index"), 1);
    // Opened after a crash with data: its bytes may be in the page cache only, so the close
    // syncs and snapshots again even without an append.
    fs::remove_file(dir.path().join("00000000000000000003.snapshot")).expect("remove snapshot");
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("recover");
    log.close().expect("close");
    assert_eq!(files_with_extension(dir.path(), "snapshot"), 1);
    // Opened cleanly and untouched: the close writes nothing.
    fs::remove_file(dir.path().join("00000000000000000003.snapshot")).expect("remove snapshot");
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), true).expect("clean open");
    log.close().expect("close");
    assert_eq!(files_with_extension(dir.path(), "snapshot"), 0);
    assert_eq!(read_all_offsets(&log), vec![0, 1, 2]);
}

#[test]
fn batches_that_keep_their_own_offsets_leave_gaps_dedupe_retries_and_reopen_unchanged() {
    use runnel_log::testing::batch_at_offsets;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = PartitionLog::open(dir.path(), small_segments(), false).expect("open");
    let producer = 7;
    // A source log that starts at 100 (retention), with a marker-sized gap and a wide one.
    let first = log.append_at_own_offsets(&batch_at_offsets(&[100, 101, 102], 1, (producer, 0, 0)), 1).expect("at 100");
    assert_eq!((first.base_offset, first.next_offset), (100, 103));
    let second = log.append_at_own_offsets(&batch_at_offsets(&[104, 106], 1, (producer, 0, 3)), 1).expect("at 104");
    assert_eq!((second.base_offset, second.next_offset), (104, 107));
    // A retry of the last batch is recognised by its sequence and written once.
    let retry = log.append_at_own_offsets(&batch_at_offsets(&[104, 106], 1, (producer, 0, 3)), 1).expect("retry");
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 104);
    // Below the log end with a new sequence: refused, nothing written.
    let below = log.append_at_own_offsets(&batch_at_offsets(&[105], 1, (producer, 0, 6)), 1);
    assert!(matches!(below, Err(LogError::BelowLogEnd { offset: 105, log_end: 107 })), "{below:?}");
    // A gap wider than a segment's relative offsets can hold starts a new segment.
    let far = 107 + u32::MAX as i64;
    let wide = log.append_at_own_offsets(&batch_at_offsets(&[far], 1, (producer, 0, 6)), 1).expect("far");
    assert_eq!((wide.base_offset, wide.next_offset), (far, far + 1));
    let expected = vec![100, 101, 102, 104, 106, far];
    let stored = |log: &PartitionLog| -> Vec<i64> {
        let slice = |at: i64| log.read(at, 1 << 20, true).expect("read").map(|s| s.read().expect("bytes"));
        let mut offsets = Vec::new();
        let mut at = log.log_start_offset();
        while let Some(bytes) = slice(at) {
            let mut records = bytes::Bytes::from(bytes);
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut records).expect("decode");
            for record in set.records {
                assert_eq!(record.key.as_deref(), Some(format!("key-{}", record.offset).as_bytes()));
                offsets.push(record.offset);
            }
            at = offsets.last().expect("a record") + 1;
        }
        offsets
    };
    assert_eq!(stored(&log), expected);
    // A read inside a gap starts at the next record.
    let in_gap = log.read(105, 1 << 20, true).expect("read").expect("data").read().expect("bytes");
    let (_, header) = BatchWalker::new(&in_gap).next().expect("a batch").expect("valid");
    assert_eq!(header.base_offset, 104);
    assert_eq!(log.next_offset(), far + 1);
    drop(log);
    for clean in [false, true] {
        let (log, report) = PartitionLog::open(dir.path(), small_segments(), clean).expect("reopen");
        assert_eq!(report.next_offset, far + 1);
        assert_eq!(stored(&log), expected);
    }
}
