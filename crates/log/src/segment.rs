//! One log segment: `<20-digit base offset>.log` with its `.index` and `.timeindex`.
//!
//! The `.log` file holds v2 record batches back to back, byte for byte as they are served to
//! consumers. This module owns the segment's file names and its append/read/scan logic; the
//! index formats are owned by `offset_index` and `time_index`. The `.log` is opened lazily
//! through the process's [`FileBudget`], so a segment holds no descriptor while unused; the
//! indexes live in memory and are written out when the segment rolls and at a clean shutdown.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::durable_file::write_all_atomically;
use crate::offset_index::OffsetIndex;
use crate::open_files::{FileBudget, LazyFile};
use crate::time_index::TimeIndex;

/// The file name stem of a segment: its base offset as 20 zero-padded digits, so `ls` sorts.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// Path of a segment file of the given kind (`log`, `index`, `timeindex`, `snapshot`).
pub fn segment_path(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{}.{extension}", file_stem(base_offset)))
}

/// Writes a stored batch (`prefix` is its patched first 16 bytes, `rest` the remainder) at
/// `position` of a segment file.
pub fn write_batch(file: &File, position: u64, prefix: &[u8], rest: &[u8]) -> io::Result<()> {
    file.write_all_at(prefix, position)?;
    file.write_all_at(rest, position + prefix.len() as u64)
}

/// A byte range of a segment file, read without holding the partition's lock.
#[derive(Debug, Clone)]
pub struct FileSlice {
    /// The segment file; stays readable even if retention unlinks it meanwhile.
    pub file: Arc<File>,
    /// Start of the range.
    pub position: u64,
    /// Length of the range.
    pub len: usize,
}

impl FileSlice {
    /// Reads the range into a fresh buffer.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
}

/// What opening a segment did: what recovery reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenReport {
    /// Bytes cut from the tail (a torn or corrupt write).
    pub truncated: u64,
    /// Bytes whose batches were CRC-checked.
    pub checked: u64,
}

/// One segment of a partition log.
#[derive(Debug)]
pub struct Segment {
    /// First offset this segment may hold; also its file name.
    base_offset: i64,
    /// The `.log` file, opened on use; handles taken from it are shared with readers.
    file: Arc<LazyFile>,
    /// Path of the `.log` file.
    path: PathBuf,
    /// Bytes of complete batches in the file; the append position.
    size: u64,
    /// Offset that follows the last batch in this segment.
    next_offset: i64,
    /// Offset -> position cache.
    offset_index: OffsetIndex,
    /// Timestamp -> offset cache.
    time_index: TimeIndex,
    /// Whether the indexes changed since they were last written to their files.
    indexes_dirty: bool,
    /// Interval between index entries, from the topic config.
    index_interval_bytes: u64,
    /// Log bytes appended since the last index entry.
    bytes_since_index_entry: u64,
    /// Largest batch max-timestamp in this segment (-1 when empty).
    max_timestamp: i64,
    /// Base offset of the batch that carried `max_timestamp`.
    offset_of_max_timestamp: i64,
    /// When the segment was created or first written, for time-based roll.
    created_at: SystemTime,
}

impl Segment {
    /// Creates a new, empty segment (the active one after a roll).
    pub fn create(dir: &Path, base_offset: i64, index_interval_bytes: u64) -> io::Result<Segment> {
        Self::create_at(dir, base_offset, index_interval_bytes, &segment_path(dir, base_offset, "log"))
    }

    /// Creates a new, empty segment whose log file is at `path` (the cleaner writes a segment's
    /// replacement beside it, then moves it with [`Segment::moved_to`]). Its indexes belong to
    /// the usual paths and are written only when asked.
    pub fn create_at(dir: &Path, base_offset: i64, index_interval_bytes: u64, path: &Path) -> io::Result<Segment> {
        let path = path.to_path_buf();
        let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path)?;
        let (offset_index, _) = OffsetIndex::open(&segment_path(dir, base_offset, "index"), base_offset, 0, false)?;
        let (time_index, _) =
            TimeIndex::open(&segment_path(dir, base_offset, "timeindex"), base_offset, base_offset, false)?;
        Ok(Segment {
            base_offset,
            file: LazyFile::with_open(&path, file, FileBudget::global())?,
            path,
            size: 0,
            next_offset: base_offset,
            offset_index,
            time_index,
            // Empty indexes need no file: a start that finds none rebuilds them from the empty log.
            indexes_dirty: false,
            index_interval_bytes,
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            created_at: SystemTime::now(),
        })
    }

    /// Opens an existing segment. The indexes are loaded when sane (rebuilt from the log
    /// otherwise): an index file only ever names batches already fsynced (it is written at a
    /// roll, a clean shutdown or a recovery checkpoint, after the data), so everything before
    /// its last entry is durable. After that entry, with `check_tail` (after a crash) every
    /// batch is CRC-checked and the file is cut at the first bad or partial one; without it
    /// only the headers are walked. Returns the segment and the number of bytes cut.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_interval_bytes: u64,
        check_tail: bool,
    ) -> io::Result<(Segment, OpenReport)> {
        let path = segment_path(dir, base_offset, "log");
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let metadata = file.metadata()?;
        let file_len = metadata.len();
        let created_at = metadata.modified().unwrap_or_else(|_| SystemTime::now());
        let index_path = segment_path(dir, base_offset, "index");
        let time_index_path = segment_path(dir, base_offset, "timeindex");
        let trust = index_path.exists() && time_index_path.exists();
        let (offset_index, offsets_loaded) = OffsetIndex::open(&index_path, base_offset, file_len, trust)?;
        let (time_index, times_loaded) = TimeIndex::open(&time_index_path, base_offset, i64::MAX, trust)?;
        let file = LazyFile::with_open(&path, file, FileBudget::global())?;
        let mut segment = Segment {
            base_offset,
            file,
            path,
            size: 0,
            next_offset: base_offset,
            offset_index,
            time_index,
            indexes_dirty: false,
            index_interval_bytes,
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            created_at,
        };
        let mut checked = 0;
        if !(offsets_loaded && times_loaded) {
            segment.rebuild(file_len)?;
            checked = segment.size;
        } else {
            let (start, start_offset) =
                segment.offset_index.last_entry().map(|(o, p)| (p, o)).unwrap_or((0, base_offset));
            segment.max_timestamp = segment.time_index.max_timestamp().unwrap_or(-1);
            segment.offset_of_max_timestamp = start_offset;
            if check_tail {
                segment.size = start;
                segment.next_offset = start_offset;
                segment.scan_checked(start, file_len)?;
                checked = segment.size - start;
            } else {
                segment.walk_tail(start, file_len)?;
            }
        }
        let truncated = file_len - segment.size;
        if truncated > 0 {
            segment.file.get()?.set_len(segment.size)?;
        }
        Ok((segment, OpenReport { truncated, checked }))
    }

    /// Walks batch headers (no CRC check) from `start`, a trusted batch boundary, to the end of
    /// the file, setting the segment's size, next offset and timestamps.
    fn walk_tail(&mut self, start: u64, file_len: u64) -> io::Result<()> {
        let file = self.file.get()?;
        let mut pos = start;
        let mut header = [0u8; HEADER_LEN];
        while pos + HEADER_LEN as u64 <= file_len {
            file.read_exact_at(&mut header, pos)?;
            let Ok(h) = BatchHeader::parse(&header) else { break };
            if pos + h.total_len() as u64 > file_len {
                break;
            }
            self.note_timestamp(&h);
            self.next_offset = h.next_offset();
            pos += h.total_len() as u64;
        }
        self.bytes_since_index_entry = pos - start;
        self.size = pos;
        Ok(())
    }

    /// Checks every batch of the file (length, magic, CRC, increasing offsets) and rebuilds
    /// both indexes from scratch, up to the first batch that is partial or invalid.
    fn rebuild(&mut self, file_len: u64) -> io::Result<()> {
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.offset_index =
            OffsetIndex::open(&segment_path(&dir, self.base_offset, "index"), self.base_offset, 0, false)?.0;
        self.time_index =
            TimeIndex::open(&segment_path(&dir, self.base_offset, "timeindex"), self.base_offset, 0, false)?.0;
        self.indexes_dirty = true;
        self.size = 0;
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.scan_checked(0, file_len)
    }

    /// Checks every batch from `start` (a batch boundary with everything before it valid, and
    /// `size` and `next_offset` set to it) to the end of the file, indexing each; stops at the
    /// first batch that is partial or invalid: everything from there on is a torn tail.
    fn scan_checked(&mut self, start: u64, file_len: u64) -> io::Result<()> {
        self.bytes_since_index_entry = 0;
        let file = self.file.get()?;
        let mut pos = start;
        let mut header = [0u8; HEADER_LEN];
        let mut whole: Vec<u8> = Vec::new();
        while pos + HEADER_LEN as u64 <= file_len {
            file.read_exact_at(&mut header, pos)?;
            let Ok(h) = BatchHeader::parse(&header) else { break };
            let total = h.total_len();
            if pos + total as u64 > file_len || h.base_offset < self.next_offset {
                break;
            }
            whole.resize(total, 0);
            file.read_exact_at(&mut whole, pos)?;
            if batch::validate_stored(&whole).is_err() {
                break;
            }
            self.note_recovered_batch(&h, pos, total);
            pos += total as u64;
        }
        Ok(())
    }

    fn note_recovered_batch(&mut self, h: &BatchHeader, position: u64, total: usize) {
        self.index_batch(h, position, total);
        self.size = position + total as u64;
        self.next_offset = h.next_offset();
    }

    fn note_timestamp(&mut self, h: &BatchHeader) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.base_offset;
        }
    }

    /// Updates indexes and timestamps for a batch written at `position`.
    fn index_batch(&mut self, h: &BatchHeader, position: u64, total: usize) {
        if self.bytes_since_index_entry >= self.index_interval_bytes || self.offset_index.is_empty() && position > 0 {
            let (max_timestamp, offset_of_max) = if h.max_timestamp > self.max_timestamp {
                (h.max_timestamp, h.base_offset)
            } else {
                (self.max_timestamp, self.offset_of_max_timestamp)
            };
            self.offset_index.append(h.base_offset, position);
            self.time_index.append(max_timestamp, offset_of_max);
            self.indexes_dirty = true;
            self.bytes_since_index_entry = 0;
        }
        self.note_timestamp(h);
        self.bytes_since_index_entry += total as u64;
    }

    /// Appends one stored batch given as `prefix` (the patched first 16 bytes) and `rest`
    /// (`batch[16..]`). Bytes reach the page cache only; `sync` makes them durable. On a failed
    /// write (a full disk, say) the log and its indexes are cut back, so a batch the caller is
    /// told failed never stays in the log, whole or in part.
    pub fn append(&mut self, header: &BatchHeader, prefix: &[u8], rest: &[u8]) -> io::Result<()> {
        let position = self.end_position();
        let written = self.file.get().and_then(|file| write_batch(&file, position, prefix, rest));
        self.finish_write(header, position, prefix.len() + rest.len(), written)
    }

    /// Where the next batch goes: the caller may write it there (with [`write_batch`]) without
    /// holding the log, then must call [`Segment::finish_write`].
    pub fn end_position(&self) -> u64 {
        self.size
    }

    /// Completes a write of `total` bytes at `position` made outside the log: indexes the batch
    /// and moves the segment's end past it, or, if the write failed, cuts the file back to
    /// `position` and returns the error.
    pub fn finish_write(
        &mut self,
        header: &BatchHeader,
        position: u64,
        total: usize,
        written: io::Result<()>,
    ) -> io::Result<()> {
        if position != self.size {
            return Err(io::Error::other(format!(
                "a write at {position} finished, but the segment ends at {}",
                self.size
            )));
        }
        if let Err(e) = written {
            // If this fails too the caller poisons the log.
            self.file.get()?.set_len(position)?;
            return Err(e);
        }
        self.index_batch(header, position, total);
        if self.size == 0 {
            self.created_at = SystemTime::now();
        }
        self.size += total as u64;
        self.next_offset = header.next_offset();
        Ok(())
    }

    /// Finds where the batch containing `offset` starts, scanning headers forward from the
    /// closest index entry. Returns `None` when `offset` is at or past this segment's end.
    pub fn position_of(&self, offset: i64) -> io::Result<Option<u64>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let file = self.file.get()?;
        let mut pos = self.offset_index.lookup(offset);
        let mut header = [0u8; HEADER_LEN];
        while pos + HEADER_LEN as u64 <= self.size {
            file.read_exact_at(&mut header, pos)?;
            let h = BatchHeader::parse(&header).map_err(io::Error::other)?;
            if h.last_offset() >= offset {
                return Ok(Some(pos));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// The byte range to serve a fetch at `offset`: whole batches fitting in `max_bytes`, or the
    /// first batch alone when `allow_oversized_first` and it is bigger than `max_bytes`.
    /// Batches starting at or after `upper_offset` are left out (read_committed fetches stop
    /// at the last stable offset); `None` when that leaves nothing.
    pub fn slice_from(
        &self,
        offset: i64,
        max_bytes: usize,
        allow_oversized_first: bool,
        upper_offset: i64,
    ) -> io::Result<Option<FileSlice>> {
        let Some(start) = self.position_of(offset)? else { return Ok(None) };
        let file = self.file.get()?;
        let available = (self.size - start) as usize;
        let mut len = 0usize;
        let mut header = [0u8; HEADER_LEN];
        // Walk headers to stop on a batch boundary. Headers are in the page cache; the walk
        // touches one header per batch, never the records.
        let mut pos = start;
        while len < available {
            file.read_exact_at(&mut header[..batch::LOG_OVERHEAD], pos)?;
            let base_offset = i64::from_be_bytes(header[..8].try_into().expect("8 bytes"));
            if base_offset >= upper_offset {
                if len == 0 {
                    return Ok(None);
                }
                break;
            }
            let batch_len = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
            let total = (batch_len.max(0) as usize) + batch::LOG_OVERHEAD;
            if len + total > max_bytes {
                if len == 0 && allow_oversized_first {
                    len = total;
                }
                break;
            }
            len += total;
            pos += total as u64;
        }
        Ok(Some(FileSlice { file, position: start, len }))
    }

    /// Finds the first record at or after `min_offset` (the log start) with timestamp >=
    /// `timestamp` in this segment, as (offset, timestamp). Decodes only the batches where
    /// the answer may lie.
    pub fn find_by_timestamp(&self, timestamp: i64, min_offset: i64) -> io::Result<Option<(i64, i64)>> {
        if self.max_timestamp < timestamp {
            return Ok(None);
        }
        let start_offset = self.time_index.lookup(timestamp);
        let mut pos = self.position_of(start_offset)?.unwrap_or(0);
        let file = self.file.get()?;
        let mut header = [0u8; HEADER_LEN];
        while pos + HEADER_LEN as u64 <= self.size {
            file.read_exact_at(&mut header, pos)?;
            let h = BatchHeader::parse(&header).map_err(io::Error::other)?;
            if h.max_timestamp >= timestamp && h.last_offset() >= min_offset {
                let mut whole = vec![0u8; h.total_len()];
                file.read_exact_at(&mut whole, pos)?;
                let mut bytes = bytes::Bytes::from(whole);
                let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)
                    .map_err(|e| io::Error::other(format!("decode batch at {pos}: {e}")))?;
                for record in set.records {
                    let ts = if h.is_log_append_time() { h.max_timestamp } else { record.timestamp };
                    if ts >= timestamp && record.offset >= min_offset {
                        return Ok(Some((record.offset, ts)));
                    }
                }
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Forces the `.log` to disk and writes both indexes (when they changed), so a later start
    /// may trust them: at segment roll and clean shutdown.
    pub fn sync_all(&mut self) -> io::Result<()> {
        self.file.get()?.sync_data()?;
        self.persist_indexes()
    }

    /// Writes both index files if their entries changed since the last write.
    pub fn persist_indexes(&mut self) -> io::Result<()> {
        if !self.indexes_dirty {
            return Ok(());
        }
        let offsets = self.offset_index.encoded();
        let times = self.time_index.encoded();
        write_all_atomically(&[(self.offset_index.path(), &offsets), (self.time_index.path(), &times)])?;
        self.indexes_dirty = false;
        Ok(())
    }

    /// The index files as a recovery checkpoint writes them: only the entries of batches
    /// starting below `durable` (everything before is fsynced), with the position the last
    /// one names (how much of the segment a crash recovery may then skip).
    pub fn indexes_below(&self, durable: i64) -> ([(PathBuf, Vec<u8>); 2], u64) {
        let (offsets, position) = self.offset_index.encoded_below(durable);
        let times = self.time_index.encoded_below(durable);
        ([(self.offset_index.path().to_path_buf(), offsets), (self.time_index.path().to_path_buf(), times)], position)
    }

    /// Follows a rename of the log file to its usual path (the cleaner's swap), and writes the
    /// indexes there.
    pub fn moved_to_usual_path(&mut self) -> io::Result<()> {
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = segment_path(&dir, self.base_offset, "log");
        let file = self.file.get()?.try_clone()?;
        self.file = LazyFile::with_open(&path, file, FileBudget::global())?;
        self.path = path;
        self.indexes_dirty = true;
        self.persist_indexes()
    }

    /// A handle whose `sync_data` makes every byte appended so far durable.
    pub fn file_handle(&self) -> io::Result<Arc<File>> {
        self.file.get()
    }

    /// Closes the `.log` for good before its partition is deleted (see [`LazyFile::retire`]).
    pub fn retire(&self) {
        self.file.retire();
    }

    /// Deletes the segment's files (retention, topic deletion).
    pub fn delete_files(&self) -> io::Result<()> {
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        for ext in ["log", "index", "timeindex", "txnindex"] {
            match fs::remove_file(segment_path(&dir, self.base_offset, ext)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// First offset of the segment.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Offset following the segment's last batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Bytes in the segment.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// True when no batch has been written.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Largest timestamp in the segment, -1 when empty.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Age of the segment for `segment.ms`-based roll.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.created_at).unwrap_or_default()
    }

    /// Time used for `retention.ms`: the max record timestamp, or the file time when empty.
    pub fn retention_timestamp_ms(&self) -> i64 {
        if self.max_timestamp >= 0 {
            self.max_timestamp
        } else {
            self.created_at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
        }
    }
}
