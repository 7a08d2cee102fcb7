//! One partition as the request handlers see it: the log behind a short-held lock, and group
//! commit for acks=all.
//!
//! Durability: `append` returns with the batch in the page cache and visible to fetches (as
//! Kafka's leader does). `flush_to(offset)` returns once every record below `offset` is
//! fsynced. Callers queue on an async mutex; whoever holds it fsyncs everything appended so
//! far, so all produces that arrived during the previous fsync share the next one (group
//! commit). The fsync runs on the blocking pool without the log lock, so appends and fetches
//! go on meanwhile. A failed fsync poisons the log: later writes get KAFKA_STORAGE_ERROR.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use runnel_log::{AppendResult, FileSlice, LogError, PartitionLog, Prepared};

use crate::metrics::BrokerMetrics;

/// Where an append puts its batch.
enum Placement<'a> {
    /// At the log end; a transactional batch comes with the coordinator's check.
    Next(Option<&'a dyn Fn() -> Result<(), LogError>>),
    /// At the offsets the batch carries (a mirror topic's copy).
    Own,
}

/// A topic partition hosted by this broker.
#[derive(Debug)]
pub struct Partition {
    /// Topic name, for logs and errors.
    topic: String,
    /// Partition index.
    index: i32,
    /// The log's state; held only for in-memory work, never across a file write or an fsync.
    log: Mutex<PartitionLog>,
    /// Serialises appends (and retention, which may roll the segment an append writes to).
    /// Held across an append's page-cache write, which happens outside `log`, so fetches and
    /// offset lookups go on meanwhile.
    writer: Mutex<()>,
    /// Serialises fsyncs so that waiting produces share one (group commit).
    flush_lock: tokio::sync::Mutex<()>,
    /// When a failed write was last logged, so a full disk logs one line per interval, not one
    /// per refused produce.
    last_write_error_logged_ms: AtomicI64,
    /// Moves after every change of the log (see [`Partition::changes`]); read without the
    /// log lock.
    changes: AtomicU64,
}

/// The log, locked for reading: what may not change it cannot move the change counter.
struct LogRead<'a>(MutexGuard<'a, PartitionLog>);

impl Deref for LogRead<'_> {
    type Target = PartitionLog;
    fn deref(&self) -> &PartitionLog {
        &self.0
    }
}

/// The log, locked for a change: moves the partition's change counter when released, after
/// the change, so whoever reads the counter and then the log never pairs a new log with an
/// old count.
struct LogWrite<'a> {
    log: MutexGuard<'a, PartitionLog>,
    changes: &'a AtomicU64,
}

impl Deref for LogWrite<'_> {
    type Target = PartitionLog;
    fn deref(&self) -> &PartitionLog {
        &self.log
    }
}

impl DerefMut for LogWrite<'_> {
    fn deref_mut(&mut self) -> &mut PartitionLog {
        &mut self.log
    }
}

impl Drop for LogWrite<'_> {
    fn drop(&mut self) {
        self.changes.fetch_add(1, Ordering::Release);
    }
}

/// How often a partition logs repeated write failures.
const WRITE_ERROR_LOG_INTERVAL_MS: i64 = 10_000;

/// What a fetch found at an offset.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches starting at or before the offset, or `None` at the log end.
    pub records: Option<Bytes>,
    /// Log end offset (the high watermark of a single replica).
    pub high_watermark: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
}

/// What a fetch found at an offset, as a file range.
#[derive(Debug, Clone)]
pub struct Located {
    /// Whole batches starting at or before the offset, or `None` at the log end (at the last
    /// stable offset for read_committed).
    pub slice: Option<FileSlice>,
    /// Log end offset.
    pub high_watermark: i64,
    /// Last stable offset: the first offset of the oldest open transaction, or the log end.
    pub last_stable_offset: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// For read_committed: the aborted transactions overlapping what may be read, as
    /// (producer id, first offset).
    pub aborted: Option<Vec<(i64, i64)>>,
}

impl Partition {
    /// Wraps an opened log.
    pub fn new(topic: &str, index: i32, log: PartitionLog) -> Partition {
        Partition {
            topic: topic.to_string(),
            index,
            log: Mutex::new(log),
            writer: Mutex::new(()),
            flush_lock: tokio::sync::Mutex::new(()),
            last_write_error_logged_ms: AtomicI64::new(i64::MIN),
            // Random, so a partition recreated under the same name does not repeat the counts
            // a fetch session saw of the one before.
            changes: AtomicU64::new(rand::random::<u64>() >> 1),
        }
    }

    fn locked(&self) -> MutexGuard<'_, PartitionLog> {
        // A panic while holding the lock cannot leave the log half-updated in memory in a way
        // that matters more than stopping the broker would, so a poisoned mutex is used as is.
        self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(&self) -> LogRead<'_> {
        LogRead(self.locked())
    }

    fn log_mut(&self) -> LogWrite<'_> {
        LogWrite { log: self.locked(), changes: &self.changes }
    }

    /// A count that moves after every change of the log (an append, a marker, retention, a
    /// new log start, a failed write), read without the log lock. Read before a fetch looks
    /// at the partition, it tells a fetch session later whether the partition can have
    /// anything new since: an idle incremental fetch of many partitions skips the unchanged
    /// ones at the cost of one atomic load each.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// The partition index.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Validates and appends one batch; see the module doc for durability. Transactional
    /// batches are refused: they go through [`Partition::append_transactional`].
    pub fn append(&self, batch: &[u8], now_ms: i64) -> Result<AppendResult, LogError> {
        self.append_checked(batch, now_ms, Placement::Next(None))
    }

    /// Appends a mirror's batch at the offsets it carries (its source's); see
    /// [`PartitionLog::prepare_append_at_own_offsets`].
    pub fn append_at_own_offsets(&self, batch: &[u8], now_ms: i64) -> Result<AppendResult, LogError> {
        self.append_checked(batch, now_ms, Placement::Own)
    }

    /// [`Partition::append`] for a transactional batch: `verify` (the transaction coordinator's
    /// check that the producer's open transaction added this partition) runs under the
    /// partition's writer lock, which markers take too, so no batch lands after the marker that
    /// ended its transaction.
    pub fn append_transactional(
        &self,
        batch: &[u8],
        now_ms: i64,
        verify: &dyn Fn() -> Result<(), LogError>,
    ) -> Result<AppendResult, LogError> {
        self.append_checked(batch, now_ms, Placement::Next(Some(verify)))
    }

    /// [`Partition::append_transactional`] for a batch the transaction coordinator vouches for:
    /// the group coordinator's own TxnOffsetCommit records, or a test's.
    pub fn append_verified(&self, batch: &[u8], now_ms: i64) -> Result<AppendResult, LogError> {
        self.append_checked(batch, now_ms, Placement::Next(Some(&|| Ok(()))))
    }

    fn append_checked(&self, batch: &[u8], now_ms: i64, placement: Placement<'_>) -> Result<AppendResult, LogError> {
        let result = self.append_outside_lock(batch, now_ms, placement);
        if let Err(e @ LogError::Io { .. }) = &result {
            let last = self.last_write_error_logged_ms.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) >= WRITE_ERROR_LOG_INTERVAL_MS
                && self
                    .last_write_error_logged_ms
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::error!(
                    topic = %self.topic,
                    partition = self.index,
                    error = %e,
                    "write failed; produce gets KAFKA_STORAGE_ERROR until it succeeds (if the disk is full, free space or lower retention)"
                );
            }
        }
        result
    }

    /// Checks the batch (its CRC over every byte) before taking any lock, assigns offsets
    /// under the log lock, writes the bytes with only the writer lock held, and publishes them
    /// under the log lock again.
    /// A topic with its own `compression.type` gets the batch recompressed first, outside
    /// every lock.
    fn append_outside_lock(
        &self,
        batch: &[u8],
        now_ms: i64,
        placement: Placement<'_>,
    ) -> Result<AppendResult, LogError> {
        let codec = {
            let log = self.log();
            log.check_size(batch)?;
            log.stored_compression()
        };
        let (verify, own_offsets) = match placement {
            Placement::Next(verify) => (verify, false),
            Placement::Own => (None, true),
        };
        // A mirror's batch may hold records apart, as a compacted batch does.
        let validate = if own_offsets { runnel_log::batch::validate_stored } else { runnel_log::batch::validate };
        let header = validate(batch)?;
        let transactional = header.is_transactional() && !header.is_control();
        if transactional && verify.is_none() {
            return Err(LogError::InvalidRecord("a transactional batch must come through the transaction coordinator"));
        }
        let recompressed;
        let (batch, header) = match codec {
            Some(codec) if codec != header.compression() && !header.is_control() => {
                recompressed = crate::recompress::recompress(batch, codec)?;
                self.log().check_size(&recompressed)?;
                (&recompressed[..], validate(&recompressed)?)
            }
            _ => (batch, header),
        };
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if transactional && let Some(verify) = verify {
            verify()?;
        }
        let prepared = if own_offsets {
            self.log_mut().prepare_append_at_own_offsets(batch, header, now_ms)?
        } else {
            self.log_mut().prepare_append(batch, header, now_ms)?
        };
        let write = match prepared {
            Prepared::Duplicate(result) => return Ok(result),
            Prepared::Write(write) => write,
        };
        let written = write.write(batch);
        self.log_mut().finish_append(write, written)
    }

    /// Waits until every record below `offset` is fsynced, sharing fsyncs with other waiters.
    /// Each fsync made is counted in `metrics` (its duration and the records it covered).
    pub async fn flush_to(&self, offset: i64, metrics: &BrokerMetrics) -> Result<(), LogError> {
        let _turn = self.flush_lock.lock().await;
        let (file, point, flushed) = {
            let log = self.log();
            if log.flushed_offset() >= offset {
                return Ok(());
            }
            let (file, point) = log.sync_point()?;
            (file, point, log.flushed_offset())
        };
        let started = std::time::Instant::now();
        let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
        let mut log = self.log_mut();
        match synced {
            Ok(Ok(())) => {
                log.mark_flushed(point);
                metrics.observe_fsync(started.elapsed(), (point - flushed).max(0) as u64);
                Ok(())
            }
            Ok(Err(e)) => {
                log.poison();
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "fsync failed; the partition refuses writes until restart");
                Err(LogError::io(format!("fsync {}-{}", self.topic, self.index), e))
            }
            Err(join) => {
                log.poison();
                Err(LogError::io(
                    format!("fsync {}-{}", self.topic, self.index),
                    std::io::Error::other(join.to_string()),
                ))
            }
        }
    }

    /// Reads whole batches from `offset`, up to `max_bytes` unless the first batch alone is larger
    /// and `allow_oversized_first` (Kafka's rule that a consumer always makes progress).
    pub fn read(&self, offset: i64, max_bytes: usize, allow_oversized_first: bool) -> Result<ReadResult, LogError> {
        let (slice, high_watermark, log_start_offset) = {
            let log = self.log();
            (log.read(offset, max_bytes, allow_oversized_first)?, log.next_offset(), log.log_start_offset())
        };
        // The file read happens outside the lock; the slice holds its own file handle.
        let records = match slice {
            Some(slice) => Some(Bytes::from(
                slice.read().map_err(|e| LogError::io(format!("read {}-{}", self.topic, self.index), e))?,
            )),
            None => None,
        };
        Ok(ReadResult { records, high_watermark, log_start_offset })
    }

    /// Where the batches at `offset` are, without reading them: Fetch sends them from the file.
    /// `read_committed` reads only below the last stable offset, and reports the aborted
    /// transactions there.
    pub fn locate(
        &self,
        offset: i64,
        max_bytes: usize,
        allow_oversized_first: bool,
        read_committed: bool,
    ) -> Result<Located, LogError> {
        let log = self.log();
        let last_stable_offset = log.last_stable_offset();
        let upper = if read_committed { last_stable_offset } else { i64::MAX };
        Ok(Located {
            slice: log.read_below(offset, max_bytes, allow_oversized_first, upper)?,
            high_watermark: log.next_offset(),
            last_stable_offset,
            log_start_offset: log.log_start_offset(),
            aborted: read_committed.then(|| {
                log.aborted_transactions(offset, last_stable_offset)
                    .iter()
                    .map(|a| (a.producer_id, a.first_offset))
                    .collect()
            }),
        })
    }

    /// The producers this partition tracks (DescribeProducers).
    pub fn active_producers(&self) -> Vec<runnel_log::producer_state::ActiveProducer> {
        self.log().active_producers()
    }

    /// The last stable offset (read_committed consumers read below it).
    pub fn last_stable_offset(&self) -> i64 {
        self.log().last_stable_offset()
    }

    /// Ends `producer_id`'s transaction in this partition with a commit or abort marker (what
    /// the transaction coordinator's WriteTxnMarkers does), returning the offset after it.
    pub fn write_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        kind: runnel_log::control::ControlType,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, LogError> {
        let batch = runnel_log::control::marker_batch(producer_id, producer_epoch, kind, coordinator_epoch, now_ms);
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // As an append: the bytes are written with only the writer lock held.
        let write = match self.log_mut().prepare_marker(&batch, kind, now_ms)? {
            Prepared::Duplicate(result) => return Ok(result.next_offset),
            Prepared::Write(write) => write,
        };
        let written = write.write(&batch);
        Ok(self.log_mut().finish_append(write, written)?.next_offset)
    }

    /// (log start offset, log end offset).
    pub fn offsets(&self) -> (i64, i64) {
        let log = self.log();
        (log.log_start_offset(), log.next_offset())
    }

    /// The first (offset, timestamp) at or after `timestamp`.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.log().offset_for_timestamp(timestamp)
    }

    /// The timestamp of the first record at or after `offset`, if the log holds one: how far
    /// back in time a consumer at `offset` is. Exact: read from the record itself (the batch's
    /// LogAppendTime where the topic uses it). The batch is located under the lock and read
    /// outside it; when the record opens an uncompressed batch (the usual place of a committed
    /// offset), only the header and the record's first bytes are read.
    pub fn timestamp_of(&self, offset: i64) -> Result<Option<i64>, LogError> {
        use runnel_log::batch::{self, BatchHeader, HEADER_LEN};
        use std::os::unix::fs::FileExt;
        let slice = {
            let log = self.log();
            if offset >= log.next_offset() {
                return Ok(None);
            }
            log.read(offset.max(log.log_start_offset()), 1, true)?
        };
        let Some(slice) = slice else { return Ok(None) };
        let io = |e| LogError::io(format!("read {}-{}", self.topic, self.index), e);
        let mut head = vec![0u8; slice.len.min(HEADER_LEN + 32)];
        slice.file.read_exact_at(&mut head, slice.position).map_err(io)?;
        let header = BatchHeader::parse(&head)?;
        if header.is_log_append_time() {
            return Ok(Some(header.max_timestamp));
        }
        if header.compression() == 0
            && offset <= header.base_offset
            && let Some(delta) = batch::first_record_timestamp_delta(&head[HEADER_LEN..])
        {
            return Ok(Some(header.base_timestamp + delta));
        }
        let mut whole = Bytes::from(slice.read().map_err(io)?);
        let records = kafka_protocol::records::RecordBatchDecoder::decode(&mut whole).map_err(|e| {
            LogError::io(format!("decode a batch of {}-{}", self.topic, self.index), std::io::Error::other(e))
        })?;
        Ok(records.records.iter().find(|r| r.offset >= offset).map(|r| r.timestamp))
    }

    /// Whether the partition refuses writes after a failed fsync (offline until restart).
    pub fn is_offline(&self) -> bool {
        self.log().is_poisoned()
    }

    /// Bytes of the partition's segments on disk.
    pub fn size_bytes(&self) -> u64 {
        self.log().size_bytes()
    }

    /// The (offset, timestamp) of the record with the largest timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.log().max_timestamp_offset()
    }

    /// Runs retention; returns the number of deleted segments.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.log_mut().apply_retention(now_ms)
    }

    /// Where DeleteRecords with `offset` (-1: the high watermark) would move the log start,
    /// without moving it: an offset past the log end is OFFSET_OUT_OF_RANGE.
    pub fn log_start_after_delete(&self, offset: i64) -> Result<i64, LogError> {
        let log = self.log();
        let (start, end) = (log.log_start_offset(), log.next_offset());
        let offset = if offset == -1 { end } else { offset };
        if !(0..=end).contains(&offset) {
            return Err(LogError::OffsetOutOfRange { offset, log_start: start, log_end: end });
        }
        Ok(start.max(offset))
    }

    /// The log start offset when it lies inside the first segment (what the checkpoint keeps).
    pub fn log_start_inside_segment(&self) -> Option<i64> {
        self.log().log_start_inside_segment()
    }

    /// Sets the checkpointed log start at open.
    pub fn restore_log_start(&self, offset: i64) {
        self.log_mut().restore_log_start(offset);
    }

    /// Moves the log start to `offset` (already durable in the checkpoint) and deletes the
    /// segments wholly below it. Returns the new log start offset.
    pub fn delete_records_below(&self, offset: i64) -> Result<i64, LogError> {
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut log = self.log_mut();
        let start = log.advance_log_start(offset)?;
        log.delete_segments_below_start()?;
        Ok(start)
    }

    /// Writes a recovery checkpoint when at least `min_bytes` of durable data came since the
    /// last one (see [`runnel_log::RecoveryCheckpoint`]); appends wait meanwhile. Returns the
    /// recovery point written, if any.
    pub fn checkpoint_recovery(&self, min_bytes: u64) -> Result<Option<i64>, LogError> {
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(checkpoint) = self.log().recovery_checkpoint(min_bytes) else { return Ok(None) };
        let files: Vec<(&std::path::Path, &[u8])> =
            checkpoint.files.iter().map(|(path, content)| (path.as_path(), content.as_slice())).collect();
        runnel_log::durable_file::write_all_atomically(&files)
            .map_err(|e| LogError::io(format!("write the recovery checkpoint of {}-{}", self.topic, self.index), e))?;
        self.log_mut().checkpoint_written(&checkpoint);
        Ok(Some(checkpoint.recovery_point))
    }

    /// One log-cleaning pass (see [`runnel_log::cleaner`]) from `first_dirty`, if the topic is
    /// compacted and enough is dirty. Planning and the swap take the locks briefly; reading and
    /// writing the segments happens without them, so produce and fetch go on meanwhile.
    pub fn clean(
        &self,
        first_dirty: i64,
        settings: runnel_log::cleaner::PassSettings,
    ) -> Result<Option<runnel_log::cleaner::CleanStats>, LogError> {
        let Some(plan) = self.log().clean_plan(first_dirty, settings.now_ms) else { return Ok(None) };
        let cleaned = runnel_log::cleaner::clean(&plan, settings)?;
        let stats = cleaned.stats;
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let swapped = self.log_mut().finish_clean(cleaned, None)?;
        Ok(swapped.then_some(stats))
    }

    /// Everything below this offset is fsynced.
    pub fn flushed_offset(&self) -> i64 {
        self.log().flushed_offset()
    }

    /// Applies new settings (segment size and age, retention) from the next append or
    /// retention run on.
    pub fn set_config(&self, config: runnel_log::LogConfig) {
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.log_mut().set_config(config);
    }

    /// Takes the partition offline for good before its topic's files are deleted.
    pub fn retire(&self) {
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.log_mut().retire();
    }

    /// Flushes and snapshots for a clean shutdown.
    pub fn close(&self) -> Result<(), LogError> {
        let _writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.log_mut().close()
    }
}

/// Shares partitions between the registry and in-flight requests.
pub type PartitionRef = Arc<Partition>;

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};

    fn gzip(batch: &Bytes) -> Bytes {
        let mut plain = batch.clone();
        let records = kafka_protocol::records::RecordBatchDecoder::decode(&mut plain).expect("decode").records;
        let mut out = bytes::BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: Compression::Gzip };
        RecordBatchEncoder::encode(&mut out, &records, &options).expect("encode");
        out.freeze()
    }

    #[test]
    fn read_committed_reads_below_the_stable_offset_and_gets_the_aborted_transactions() {
        use runnel_log::control::ControlType;
        use runnel_log::testing::{batch, transactional_batch};
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = PartitionLog::open(dir.path(), runnel_log::LogConfig::default(), false).expect("open");
        // Producer 5 aborts offsets 0..1 (marker 2), plain records 3..4, producer 6 opens 5..6.
        log.append(&transactional_batch(2, 0, (5, 0, 0)), 0).expect("append");
        log.append_marker(5, 0, ControlType::Abort, 0, 0).expect("abort");
        log.append(&batch(2, 0, None), 0).expect("append");
        log.append(&transactional_batch(2, 0, (6, 0, 0)), 0).expect("append");
        let partition = Partition::new("t", 0, log);
        // Transactional batches come only through the coordinator's verification.
        assert!(matches!(partition.append(&transactional_batch(1, 0, (7, 0, 0)), 0), Err(LogError::InvalidRecord(_))));

        let committed = partition.locate(0, 1 << 20, true, true).expect("locate");
        assert_eq!((committed.high_watermark, committed.last_stable_offset), (7, 5));
        let bytes = committed.slice.expect("data below the stable offset").read().expect("read");
        let last = runnel_log::batch::BatchWalker::new(&bytes).last().expect("a batch").expect("valid").1;
        assert_eq!(last.next_offset(), 5, "nothing at or after the stable offset");
        assert_eq!(committed.aborted, Some(vec![(5, 0)]));
        assert!(partition.locate(5, 1 << 20, true, true).expect("locate").slice.is_none(), "waits at the LSO");
        let uncommitted = partition.locate(5, 1 << 20, true, false).expect("locate");
        assert!(uncommitted.slice.is_some() && uncommitted.aborted.is_none());

        let end = partition.write_marker(6, 0, ControlType::Commit, 0, 0).expect("commit");
        assert_eq!((end, partition.last_stable_offset()), (8, 8));
        let after = partition.locate(5, 1 << 20, true, true).expect("locate");
        assert!(after.slice.is_some());
        assert_eq!(after.aborted, Some(vec![]), "the abort ended before offset 5");
    }

    #[test]
    fn the_timestamp_of_an_offset_is_its_records_own_at_a_batch_start_inside_one_and_compressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = PartitionLog::open(dir.path(), runnel_log::LogConfig::default(), false).expect("open");
        let partition = Partition::new("t", 0, log);
        partition.append(&runnel_log::testing::batch(5, 1_000, None), 0).expect("append");
        partition.append(&gzip(&runnel_log::testing::batch(5, 2_000, None)), 0).expect("append gzip");
        let at = |offset| partition.timestamp_of(offset).expect("timestamp");
        assert_eq!(at(0), Some(1_000), "first record of an uncompressed batch");
        assert_eq!(at(3), Some(1_003), "inside a batch");
        assert_eq!(at(5), Some(2_000), "first record of a compressed batch");
        assert_eq!(at(8), Some(2_003));
        assert_eq!(at(10), None, "the log end");
    }
}
