//! The log of one partition: an ordered run of segments, the last one active.
//!
//! Durability contract:
//! - `append` returns once the batch is in the page cache, has its offsets, and is visible to
//!   readers. It survives a crash of the broker process, not of the machine.
//! - `sync_point` + an fsync of the returned file + `mark_flushed` make every batch appended
//!   before `sync_point` durable against a machine crash. The broker runs that fsync outside
//!   the partition lock and shares one fsync among all produces waiting on it (group commit).
//! - A failed fsync or failed cleanup poisons the log: every later write is refused with
//!   `LogError::Poisoned`, because what reached the disk is unknown. An fsync is never retried.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::batch::{self, BatchHeader};
use crate::cleaner::{self, CleanPlan, Cleaned, SourceSegment, SwapStep};
use crate::config::LogConfig;
use crate::control::{self, ControlType};
use crate::durable_file::sync_dir;
use crate::error::LogError;
use crate::producer_state::{ProducerState, SequenceCheck, snapshot_offsets};
use crate::recovery::{RecoveryReport, recover};
use crate::segment::{FileSlice, Segment, file_stem, write_batch};
use crate::txn_index::{self, AbortedTxn};

/// Leader epoch stamped into every stored batch: one node, one leader, forever epoch 0.
pub const LEADER_EPOCH: i32 = 0;

/// Where a batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset after the last record: wait for this to be flushed before acknowledging acks=all.
    pub next_offset: i64,
    /// Broker timestamp for LogAppendTime topics, -1 otherwise.
    pub log_append_time: i64,
    /// True when the batch was a retry already in the log and nothing was written.
    pub duplicate: bool,
    /// First offset in the log after the append, reported in Produce responses.
    pub log_start_offset: i64,
}

/// The partition log.
#[derive(Debug)]
pub struct PartitionLog {
    /// The partition directory, `<data>/<topic>-<partition>`.
    dir: PathBuf,
    /// Segment, retention and validation settings.
    config: LogConfig,
    /// Segments ordered by base offset; the last one receives appends.
    segments: Vec<Segment>,
    /// Offset the next append gets (the log end offset).
    next_offset: i64,
    /// The log start offset DeleteRecords set, which may lie inside the first segment (0
    /// when never set; the first segment's base counts when it is higher).
    deleted_below: i64,
    /// Every offset below this is known to be on disk.
    flushed_offset: i64,
    /// Idempotent producers and open transactions.
    producers: ProducerState,
    /// Aborted transactions still in the log, by marker offset (the `.txnindex` files' entries).
    aborted: Vec<AbortedTxn>,
    /// (active segment base, position) the last recovery checkpoint's index reaches: a crash
    /// recovery checks the active segment only from there.
    checkpointed: (i64, u64),
    /// Set after a failed fsync or cleanup: the log refuses writes.
    poisoned: bool,
    /// Between `prepare_append` and `finish_append`.
    write_in_flight: bool,
    /// Whether the log may hold bytes not yet made durable by a close: set by an append, and at
    /// open after an unclean shutdown when the log has data (it may still be in the page cache
    /// only). If not, what is on disk already recovers to this state and a close writes nothing.
    close_must_sync: bool,
}

/// The files a recovery checkpoint writes for one partition: the active segment's indexes
/// with only durable batches, and a producer snapshot, so a crash recovery checks and replays
/// only what came after.
#[derive(Debug)]
pub struct RecoveryCheckpoint {
    /// Everything below this offset is fsynced (Kafka's recovery point).
    pub recovery_point: i64,
    /// (path, content) of each file, for [`crate::durable_file::write_all_atomically`].
    pub files: Vec<(PathBuf, Vec<u8>)>,
    segment_base: i64,
    position: u64,
}

/// What `prepare_append` decided.
#[derive(Debug)]
pub enum Prepared {
    /// An idempotent retry of a batch already in the log: nothing to write.
    Duplicate(AppendResult),
    /// Write this, then call `finish_append`.
    Write(PreparedWrite),
}

/// A batch with its offsets assigned, to be written at a place in the active segment.
#[derive(Debug)]
pub struct PreparedWrite {
    segment_base: i64,
    file: Arc<File>,
    position: u64,
    prefix: [u8; 16],
    header: BatchHeader,
    log_append_time: i64,
    /// The batch with its timestamps rewritten (LogAppendTime topics).
    rewritten: Option<Vec<u8>>,
    /// The marker's type when the batch is a transaction marker.
    marker: Option<ControlType>,
}

impl PreparedWrite {
    /// Writes the batch (the same bytes given to `prepare_append`) into the page cache. Needs
    /// no lock on the log.
    pub fn write(&self, batch: &[u8]) -> std::io::Result<()> {
        let body = self.rewritten.as_deref().unwrap_or(batch);
        write_batch(&self.file, self.position, &self.prefix, &body[16..])
    }

    /// Bytes it occupies in the segment.
    fn len(&self) -> usize {
        self.header.total_len()
    }
}

impl PartitionLog {
    /// Opens (recovering if needed) or creates the log in `dir`.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
    ) -> Result<(PartitionLog, RecoveryReport), LogError> {
        let recovered = recover(dir, &config, clean_shutdown)?;
        let next_offset = recovered.report.next_offset;
        let log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments: recovered.segments,
            next_offset,
            deleted_below: 0,
            checkpointed: (-1, 0),
            flushed_offset: next_offset,
            producers: recovered.producers,
            aborted: recovered.aborted,
            poisoned: false,
            write_in_flight: false,
            close_must_sync: !clean_shutdown && next_offset > recovered.report.log_start_offset,
        };
        Ok((log, recovered.report))
    }

    fn name(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    fn active(&self) -> &Segment {
        // `recover` guarantees at least one segment and nothing removes the last one.
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Validates `batch` (one complete v2 batch as the client sent it), checks idempotence,
    /// assigns offsets and appends it. See the module doc for what is durable on return.
    pub fn append(&mut self, batch: &[u8], now_ms: i64) -> Result<AppendResult, LogError> {
        self.check_size(batch)?;
        let header = batch::validate(batch)?;
        match self.prepare_append(batch, header, now_ms)? {
            Prepared::Duplicate(result) => Ok(result),
            Prepared::Write(write) => {
                let written = write.write(batch);
                self.finish_append(write, written)
            }
        }
    }

    /// [`PartitionLog::append`] for a batch that keeps its own offsets; see
    /// [`PartitionLog::prepare_append_at_own_offsets`].
    pub fn append_at_own_offsets(&mut self, batch: &[u8], now_ms: i64) -> Result<AppendResult, LogError> {
        self.check_size(batch)?;
        // Records may sit apart, as in a compacted batch.
        let header = batch::validate_stored(batch)?;
        match self.prepare_append_at_own_offsets(batch, header, now_ms)? {
            Prepared::Duplicate(result) => Ok(result),
            Prepared::Write(write) => {
                let written = write.write(batch);
                self.finish_append(write, written)
            }
        }
    }

    /// Refuses a batch above `max.message.bytes`: the first check of an append, before the CRC.
    pub fn check_size(&self, batch: &[u8]) -> Result<(), LogError> {
        if batch.len() > self.config.max_message_bytes {
            return Err(LogError::MessageTooLarge { size: batch.len(), max: self.config.max_message_bytes });
        }
        Ok(())
    }

    /// The first half of an append whose file write happens without the log: checks the
    /// (already validated) batch against the log and the producer state, rolls if needed, and
    /// assigns offsets. The caller writes with [`PreparedWrite::write`], then calls
    /// [`PartitionLog::finish_append`]; no other append may start in between. Readers meanwhile
    /// see the log as it was.
    pub fn prepare_append(&mut self, batch: &[u8], header: BatchHeader, now_ms: i64) -> Result<Prepared, LogError> {
        if header.is_control() {
            return Err(LogError::InvalidRecord("clients may not write control batches"));
        }
        if self.config.refuse_keyless {
            let keyless = crate::batch::keyless_records(batch)?;
            if !keyless.is_empty() {
                return Err(LogError::KeylessRecords(keyless));
            }
        }
        self.prepare(batch, header, now_ms, None, false)
    }

    /// [`PartitionLog::prepare_append`] for a batch that keeps the offsets it carries (a mirror
    /// topic's copy of its source, Cluster Linking's model): it is placed at its own base
    /// offset, which must not be below the log end, and the offsets in between stay a gap, as
    /// compaction leaves them. Retries are recognised by producer sequence as usual.
    pub fn prepare_append_at_own_offsets(
        &mut self,
        batch: &[u8],
        header: BatchHeader,
        now_ms: i64,
    ) -> Result<Prepared, LogError> {
        if header.is_control() || header.is_transactional() {
            return Err(LogError::InvalidRecord("a mirrored batch must be neither transactional nor a control batch"));
        }
        self.prepare(batch, header, now_ms, None, true)
    }

    fn prepare(
        &mut self,
        batch: &[u8],
        header: BatchHeader,
        now_ms: i64,
        marker: Option<ControlType>,
        own_offsets: bool,
    ) -> Result<Prepared, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned(self.name()));
        }
        if self.write_in_flight {
            return Err(LogError::InvalidRecord("an append is already in flight on this partition"));
        }
        self.check_size(batch)?;
        if header.is_transactional() && !header.has_producer_id() {
            return Err(LogError::InvalidRecord("a transactional batch must carry a producer id"));
        }
        // A batch without sequence numbers (a coordinator's own transactional batch, as in
        // Kafka) is not checked for duplicates.
        if marker.is_none()
            && header.has_producer_id()
            && header.base_sequence >= 0
            && let SequenceCheck::Duplicate { base_offset } = self.producers.check(&header)?
        {
            return Ok(Prepared::Duplicate(AppendResult {
                base_offset,
                next_offset: base_offset + header.last_offset_delta as i64 + 1,
                log_append_time: -1,
                duplicate: true,
                log_start_offset: self.log_start_offset(),
            }));
        }
        if own_offsets {
            self.skip_to(header.base_offset, header.last_offset())?;
        }
        self.roll_if_needed(batch.len(), now_ms)?;
        let base_offset = self.next_offset;
        let (rewritten, log_append_time) = if self.config.log_append_time {
            (Some(batch::with_log_append_time(batch, now_ms)), now_ms)
        } else {
            (None, -1)
        };
        let prefix = batch::stored_prefix(rewritten.as_deref().unwrap_or(batch), base_offset, LEADER_EPOCH);
        let mut stored = header;
        stored.base_offset = base_offset;
        if log_append_time >= 0 {
            stored.max_timestamp = log_append_time;
        }
        let active = self.active();
        let file = active
            .file_handle()
            .map_err(|e| LogError::io(format!("open segment {}.log", file_stem(active.base_offset())), e))?;
        let write = PreparedWrite {
            segment_base: active.base_offset(),
            file,
            position: active.end_position(),
            prefix,
            header: stored,
            log_append_time,
            rewritten,
            marker,
        };
        self.write_in_flight = true;
        Ok(Prepared::Write(write))
    }

    /// The second half of an append: records the batch written by `write` (`written` is how the
    /// write went). A failed write is cut back from the segment and reported.
    pub fn finish_append(
        &mut self,
        write: PreparedWrite,
        written: std::io::Result<()>,
    ) -> Result<AppendResult, LogError> {
        self.write_in_flight = false;
        let name = file_stem(write.segment_base);
        let active = self.active_mut();
        if active.base_offset() != write.segment_base {
            self.poisoned = true;
            return Err(LogError::InvalidRecord("the active segment changed during an append"));
        }
        let total = write.len();
        if let Err(e) = active.finish_write(&write.header, write.position, total, written) {
            // `finish_write` cut back the partial write; if that failed too, stop writing.
            if e.kind() != std::io::ErrorKind::StorageFull && e.raw_os_error() != Some(28) {
                self.poisoned = true;
            }
            return Err(LogError::io(format!("append to {name}.log"), e));
        }
        self.next_offset = write.header.next_offset();
        self.close_must_sync = true;
        if let Some(done) = self.producers.record(&write.header, write.header.base_offset, write.marker)
            && done.aborted
        {
            let entry = AbortedTxn {
                producer_id: done.producer_id,
                first_offset: done.first_offset,
                last_offset: done.last_offset,
                last_stable_offset: self.last_stable_offset(),
            };
            if let Err(e) = txn_index::append(&self.dir, write.segment_base, &entry) {
                // The marker is in the log but its index entry is not: stop writing; recovery
                // derives the entry again from the log.
                self.poisoned = true;
                return Err(LogError::io(format!("append to {name}.txnindex"), e));
            }
            self.aborted.push(entry);
        }
        Ok(AppendResult {
            base_offset: write.header.base_offset,
            next_offset: self.next_offset,
            log_append_time: write.log_append_time,
            duplicate: false,
            log_start_offset: self.log_start_offset(),
        })
    }

    /// Moves the log end up to `base_offset` (a gap) for a batch that keeps its own offsets,
    /// rolling first where the batch's offsets would not fit the active segment's index.
    fn skip_to(&mut self, base_offset: i64, last_offset: i64) -> Result<(), LogError> {
        if base_offset < self.next_offset {
            return Err(LogError::BelowLogEnd { offset: base_offset, log_end: self.next_offset });
        }
        if base_offset == self.next_offset {
            return Ok(());
        }
        let beyond_index = last_offset - self.active().base_offset() > (u32::MAX / 2) as i64;
        self.next_offset = base_offset;
        if beyond_index {
            self.roll()?;
        }
        Ok(())
    }

    fn roll_if_needed(&mut self, incoming: usize, now_ms: i64) -> Result<(), LogError> {
        let active = self.active();
        if active.is_empty() {
            return Ok(());
        }
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(now_ms.max(0) as u64);
        let too_big = active.size() + incoming as u64 > self.config.segment_bytes;
        let too_old = active.age(now).as_millis() as i64 >= self.config.segment_ms;
        let offsets_full = self.next_offset - active.base_offset() > (u32::MAX / 2) as i64;
        if too_big || too_old || offsets_full {
            self.roll()?;
        }
        Ok(())
    }

    /// Closes the active segment durably and starts a new one at the log end offset.
    pub fn roll(&mut self) -> Result<(), LogError> {
        let base = self.next_offset;
        let active_base = self.active().base_offset();
        let result = self
            .active_mut()
            .sync_all()
            .and_then(|_| txn_index::sync(&self.dir, active_base))
            .and_then(|_| self.producers.write_snapshot(&self.dir, base))
            .and_then(|_| Segment::create(&self.dir, base, self.config.index_interval_bytes))
            .and_then(|segment| sync_dir(&self.dir).map(|_| segment));
        match result {
            Ok(segment) => {
                self.flushed_offset = self.flushed_offset.max(base);
                self.segments.push(segment);
                self.remove_old_snapshots();
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(LogError::io(format!("roll {} to a new segment at {base}", self.name()), e))
            }
        }
    }

    fn remove_old_snapshots(&self) {
        if let Ok(mut offsets) = snapshot_offsets(&self.dir) {
            offsets.sort_unstable();
            let keep_from = offsets.len().saturating_sub(2);
            for offset in &offsets[..keep_from] {
                let _ = fs::remove_file(crate::segment::segment_path(&self.dir, *offset, "snapshot"));
            }
        }
    }

    /// The bytes to serve a fetch at `offset`: whole batches up to `max_bytes` from one
    /// segment (the first batch alone if it is larger and `allow_oversized_first`). `None` at
    /// the log end. Offsets outside [log start, log end] are an error.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        allow_oversized_first: bool,
    ) -> Result<Option<FileSlice>, LogError> {
        self.read_below(offset, max_bytes, allow_oversized_first, i64::MAX)
    }

    /// Like [`PartitionLog::read`], without the batches at or after `upper_offset` (a
    /// read_committed fetch reads below the last stable offset).
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        allow_oversized_first: bool,
        upper_offset: i64,
    ) -> Result<Option<FileSlice>, LogError> {
        let log_start = self.log_start_offset();
        if offset < log_start || offset > self.next_offset {
            return Err(LogError::OffsetOutOfRange { offset, log_start, log_end: self.next_offset });
        }
        if offset == self.next_offset || offset >= upper_offset {
            return Ok(None);
        }
        let first = self.segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        for segment in &self.segments[first..] {
            if segment.base_offset() >= upper_offset {
                break;
            }
            let slice = segment
                .slice_from(offset, max_bytes, allow_oversized_first, upper_offset)
                .map_err(|e| LogError::io(format!("read {} at offset {offset}", self.name()), e))?;
            if let Some(slice) = slice {
                return Ok(Some(slice));
            }
        }
        Ok(None)
    }

    /// The first record at or after `timestamp`, as (offset, timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let log_start = self.log_start_offset();
        for segment in &self.segments {
            if segment.max_timestamp() < timestamp {
                continue;
            }
            let found = segment
                .find_by_timestamp(timestamp, log_start)
                .map_err(|e| LogError::io(format!("search {} by timestamp", self.name()), e))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp, as (offset, timestamp), for ListOffsets -3.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        let best = self.segments.iter().filter(|s| !s.is_empty()).max_by_key(|s| s.max_timestamp());
        match best {
            Some(segment) => self
                .offset_for_timestamp(segment.max_timestamp())
                .map(|found| found.or(Some((segment.base_offset(), segment.max_timestamp())))),
            None => Ok(None),
        }
    }

    /// What an fsync must cover now: the active segment's file and the offset it will make
    /// durable. Taken under the partition lock; the fsync itself runs outside it.
    pub fn sync_point(&self) -> Result<(Arc<File>, i64), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned(self.name()));
        }
        let file =
            self.active().file_handle().map_err(|e| LogError::io(format!("open {} for fsync", self.name()), e))?;
        Ok((file, self.next_offset))
    }

    /// Records that an fsync from `sync_point` succeeded up to `offset`.
    pub fn mark_flushed(&mut self, offset: i64) {
        self.flushed_offset = self.flushed_offset.max(offset);
    }

    /// Records that an fsync failed: the log goes offline for writes.
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Whether the log is offline for writes (a failed fsync or cleanup).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Every offset below this is on disk.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset
    }

    /// A recovery checkpoint to write when the active segment holds at least `min_bytes` of
    /// durable data past the last one (else `None`). The caller writes its files (no other
    /// append or roll in between) and then calls [`PartitionLog::checkpoint_written`].
    pub fn recovery_checkpoint(&self, min_bytes: u64) -> Option<RecoveryCheckpoint> {
        if self.poisoned {
            return None;
        }
        let active = self.active();
        let (indexes, position) = active.indexes_below(self.flushed_offset);
        let since = if self.checkpointed.0 == active.base_offset() { self.checkpointed.1 } else { 0 };
        if position < since + min_bytes.max(1) {
            return None;
        }
        let mut files: Vec<(PathBuf, Vec<u8>)> = indexes.into_iter().collect();
        files.push((
            crate::segment::segment_path(&self.dir, self.next_offset, "snapshot"),
            self.producers.to_snapshot(),
        ));
        Some(RecoveryCheckpoint {
            recovery_point: self.flushed_offset,
            files,
            segment_base: active.base_offset(),
            position,
        })
    }

    /// Notes that `checkpoint`'s files are written, and removes snapshots older than the
    /// last two.
    pub fn checkpoint_written(&mut self, checkpoint: &RecoveryCheckpoint) {
        self.checkpointed = (checkpoint.segment_base, checkpoint.position);
        self.remove_old_snapshots();
    }

    /// Step 1 of a cleaning pass (see [`crate::cleaner`]): what to clean, if the topic is
    /// compacted and enough is dirty past `first_dirty` (the cleaner's checkpoint).
    pub fn clean_plan(&self, first_dirty: i64, now_ms: i64) -> Option<CleanPlan> {
        if !self.config.compact || self.poisoned {
            return None;
        }
        let stable = self.last_stable_offset();
        let closed = &self.segments[..self.segments.len() - 1];
        let cleanable: Vec<&Segment> = closed
            .iter()
            .take_while(|s| {
                s.next_offset() <= stable
                    && now_ms.saturating_sub(s.max_timestamp()) >= self.config.min_compaction_lag_ms
            })
            .collect();
        let dirty_from = first_dirty.max(self.log_start_offset());
        let total: u64 = cleanable.iter().map(|s| s.size()).sum();
        let dirty: Vec<&&Segment> = cleanable.iter().filter(|s| s.next_offset() > dirty_from).collect();
        let dirty_bytes: u64 = dirty.iter().map(|s| s.size()).sum();
        let overdue = dirty
            .first()
            .is_some_and(|s| now_ms.saturating_sub(s.max_timestamp()) >= self.config.max_compaction_lag_ms);
        if dirty.is_empty()
            || total == 0
            || (dirty_bytes as f64) < self.config.min_cleanable_dirty_ratio * total as f64 && !overdue
        {
            return None;
        }
        let segments = cleanable
            .iter()
            .map(|s| {
                Some(SourceSegment {
                    base_offset: s.base_offset(),
                    file: s.file_handle().ok()?,
                    size: s.size(),
                    next_offset: s.next_offset(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(CleanPlan {
            dir: self.dir.clone(),
            segments,
            dirty_from,
            aborted: self.aborted.clone(),
            last_batches: self.producers.last_batch_offsets(),
            delete_retention_ms: self.config.delete_retention_ms,
            index_interval_bytes: self.config.index_interval_bytes,
        })
    }

    /// Step 3 of a cleaning pass: swaps the cleaned segments in (files, then the segment list).
    /// When retention or DeleteRecords removed a planned segment meanwhile, the pass is
    /// discarded. Returns whether it was swapped in. `stop_after` is for crash tests.
    pub fn finish_clean(&mut self, cleaned: Cleaned, stop_after: Option<SwapStep>) -> Result<bool, LogError> {
        let still_there = cleaned
            .segments
            .iter()
            .all(|c| self.segments[..self.segments.len() - 1].iter().any(|s| s.base_offset() == c.base_offset));
        if !still_there || self.poisoned {
            for c in &cleaned.segments {
                let _ =
                    fs::remove_file(crate::segment::segment_path(&self.dir, c.base_offset, cleaner::CLEANED_SUFFIX));
            }
            return Ok(false);
        }
        if let Err(e) = cleaner::swap_files(&self.dir, &cleaned, stop_after) {
            self.poisoned = true;
            return Err(e);
        }
        if stop_after.is_some() {
            return Ok(true);
        }
        for c in cleaned.segments {
            let index = self.segments.iter().position(|s| s.base_offset() == c.base_offset).expect("checked above");
            let mut segment = c.segment;
            let stem = file_stem(c.base_offset);
            if segment.is_empty() {
                // Nothing left: the empty segment goes (a crash first leaves a valid empty one).
                self.segments.remove(index);
                segment.delete_files().map_err(|e| LogError::io(format!("delete emptied segment {stem}"), e))?;
            } else {
                segment
                    .moved_to_usual_path()
                    .map_err(|e| LogError::io(format!("write the indexes of cleaned segment {stem}"), e))?;
                self.segments[index] = segment;
            }
        }
        Ok(true)
    }

    /// First offset still in the log: the first segment's base, or above it where
    /// DeleteRecords moved it.
    pub fn log_start_offset(&self) -> i64 {
        self.segments[0].base_offset().max(self.deleted_below).min(self.next_offset)
    }

    /// The log start offset when DeleteRecords set it inside the first segment (what the
    /// segments alone cannot tell after a restart, so it is checkpointed), else `None`.
    pub fn log_start_inside_segment(&self) -> Option<i64> {
        let start = self.log_start_offset();
        (start > self.segments[0].base_offset()).then_some(start)
    }

    /// Moves the log start offset up to `offset` (DeleteRecords): records below it are no
    /// longer served. The caller makes the new start durable (a checkpoint) and then calls
    /// [`PartitionLog::delete_segments_below_start`]. An offset at or below the current start
    /// changes nothing; one past the log end is refused. Returns the new log start offset.
    pub fn advance_log_start(&mut self, offset: i64) -> Result<i64, LogError> {
        let log_start = self.log_start_offset();
        if offset > self.next_offset {
            return Err(LogError::OffsetOutOfRange { offset, log_start, log_end: self.next_offset });
        }
        self.deleted_below = self.deleted_below.max(offset);
        Ok(self.log_start_offset())
    }

    /// Sets the log start offset found in the checkpoint at open (clamped to the log end).
    pub fn restore_log_start(&mut self, offset: i64) {
        self.deleted_below = offset.min(self.next_offset);
    }

    /// Deletes the segments wholly below the log start offset (never the active one).
    /// Returns how many were deleted.
    pub fn delete_segments_below_start(&mut self) -> Result<usize, LogError> {
        let start = self.log_start_offset();
        let mut deleted = 0;
        while self.segments.len() > 1 && self.segments[1].base_offset() <= start {
            self.delete_oldest_segment()?;
            deleted += 1;
        }
        Ok(deleted)
    }

    fn delete_oldest_segment(&mut self) -> Result<(), LogError> {
        let segment = self.segments.remove(0);
        let log_start = self.log_start_offset();
        self.aborted.retain(|a| a.last_offset >= log_start);
        if let Err(e) = segment.delete_files() {
            self.poisoned = true;
            return Err(LogError::io(format!("delete segment {}", file_stem(segment.base_offset())), e));
        }
        Ok(())
    }

    /// Appends a transaction marker for `producer_id`, ending its transaction in this partition
    /// (the transaction coordinator's WriteTxnMarkers). An abort is entered in the aborted
    /// transaction index. A producer with no transaction open here still gets its marker, as in
    /// Kafka.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        kind: ControlType,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendResult, LogError> {
        let batch = control::marker_batch(producer_id, producer_epoch, kind, coordinator_epoch, now_ms);
        match self.prepare_marker(&batch, kind, now_ms)? {
            Prepared::Duplicate(result) => Ok(result),
            Prepared::Write(write) => {
                let written = write.write(&batch);
                self.finish_append(write, written)
            }
        }
    }

    /// [`PartitionLog::prepare_append`] for a marker built by [`control::marker_batch`] with
    /// `kind`: the broker writes it outside the log lock, as any append.
    pub fn prepare_marker(&mut self, batch: &[u8], kind: ControlType, now_ms: i64) -> Result<Prepared, LogError> {
        let header = batch::validate(batch)?;
        self.prepare(batch, header, now_ms, Some(kind), false)
    }

    /// Kafka's last stable offset: the first offset of the oldest transaction still open here,
    /// or the log end when none is. read_committed consumers read only below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.producers.first_unstable_offset().unwrap_or(self.next_offset).min(self.next_offset)
    }

    /// Whether `producer_id` has a transaction open in this partition.
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.producers.has_open_transaction(producer_id)
    }

    /// The aborted transactions a read_committed fetch of `[from, upper)` must report: those
    /// ending at or after `from` and starting before `upper`, oldest marker first.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..].iter().filter(|a| a.first_offset < upper).copied().collect()
    }

    /// Offset the next record will get (Kafka's log end offset; also the high watermark here).
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Total bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Every idempotent or transactional producer tracked, for DescribeProducers.
    pub fn active_producers(&self) -> Vec<crate::producer_state::ActiveProducer> {
        self.producers.active_producers()
    }

    /// Number of idempotent producers tracked.
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// The codec batches are stored with (`compression.type`), if not the producer's.
    pub fn stored_compression(&self) -> Option<i16> {
        self.config.compression
    }

    /// Replaces the settings (topic config change). Takes effect at the next append/roll.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Deletes segments past `retention.ms` or beyond `retention.bytes`, oldest first, rolling
    /// the active segment first when it has expired too. Returns how many were deleted.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<usize, LogError> {
        let expired = |s: &Segment, config: &LogConfig| {
            config.retention_ms >= 0 && !s.is_empty() && now_ms - s.retention_timestamp_ms() > config.retention_ms
        };
        if !self.poisoned && expired(self.active(), &self.config) {
            self.roll()?;
        }
        let mut deleted = 0;
        let mut total = self.size_bytes() as i64;
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            let over_size =
                self.config.retention_bytes >= 0 && total - oldest.size() as i64 >= self.config.retention_bytes;
            if !(expired(oldest, &self.config) || over_size) {
                break;
            }
            total -= oldest.size() as i64;
            self.delete_oldest_segment()?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Flushes everything and writes a producer snapshot, so the next open can skip the scan.
    /// A log with nothing to make durable (see `close_must_sync`) only writes indexes rebuilt at
    /// open.
    pub fn close(&mut self) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned(self.name()));
        }
        let name = self.name();
        if !self.close_must_sync {
            return self
                .active_mut()
                .persist_indexes()
                .map_err(|e| LogError::io(format!("write indexes of {name}"), e));
        }
        self.active_mut().sync_all().map_err(|e| LogError::io(format!("sync {name}"), e))?;
        txn_index::sync(&self.dir, self.active().base_offset())
            .map_err(|e| LogError::io(format!("sync the transaction index of {name}"), e))?;
        self.flushed_offset = self.next_offset;
        self.producers
            .write_snapshot(&self.dir, self.next_offset)
            .map_err(|e| LogError::io(format!("write producer snapshot of {}", self.name()), e))?;
        self.remove_old_snapshots();
        self.close_must_sync = false;
        Ok(())
    }

    /// Takes the log offline for good before its directory is deleted: writes are refused and
    /// no segment file is opened again (a new topic of the same name may reuse the paths).
    pub fn retire(&mut self) {
        self.poisoned = true;
        for segment in &self.segments {
            segment.retire();
        }
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Headers of the batches stored from `offset` on, for tests and tools (reads the disk).
    pub fn batch_headers(&self, offset: i64) -> Result<Vec<BatchHeader>, LogError> {
        let mut out = Vec::new();
        let mut at = offset;
        while let Some(slice) = self.read(at, usize::MAX, true)? {
            let bytes = slice.read().map_err(|e| LogError::io("read batches", e))?;
            for item in batch::BatchWalker::new(&bytes) {
                let (_, h) = item?;
                at = h.next_offset();
                out.push(h);
            }
        }
        Ok(out)
    }
}
