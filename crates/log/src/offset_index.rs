//! The sparse offset index, `<base offset>.index`: offset -> byte position in the segment's `.log`.
//!
//! Format (Kafka's): a flat array of 8-byte entries, each `relative offset: u32 BE` then
//! `position: u32 BE`, strictly increasing in both. An entry is added after roughly every
//! `index.interval.bytes` of log. The index is a cache: it is never trusted over the log and is
//! rebuilt from the log whenever it fails a sanity check or the shutdown was not clean.
//!
//! Entries live in memory; the file is written whole (temp -> fsync -> rename) when the
//! segment rolls, at a clean shutdown, and at recovery checkpoints (then with only the entries
//! of batches already fsynced). So a file only ever names durable batches, appends cost no
//! system call, and an open segment holds no index file descriptor.

use std::io;
use std::path::{Path, PathBuf};

/// Size of one on-disk entry.
pub const ENTRY_LEN: usize = 8;

/// The offset index of one segment, kept in memory and written out by [`OffsetIndex::persist`].
#[derive(Debug)]
pub struct OffsetIndex {
    /// Where the index lives.
    path: PathBuf,
    /// Base offset of the segment, entries store offsets relative to it.
    base_offset: i64,
    /// Entries as (relative offset, position), mirrored on disk.
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// Opens the index at `path`, loading its entries if `trust_file` and they pass the sanity
    /// check against `log_len`; otherwise starts empty (the caller rebuilds it from the log).
    /// Returns the index and whether it was loaded from the file.
    pub fn open(path: &Path, base_offset: i64, log_len: u64, trust_file: bool) -> io::Result<(Self, bool)> {
        let mut index = OffsetIndex { path: path.to_path_buf(), base_offset, entries: Vec::new() };
        if trust_file && let Some(entries) = index.load_checked(log_len)? {
            index.entries = entries;
            return Ok((index, true));
        }
        Ok((index, false))
    }

    fn load_checked(&self, log_len: u64) -> io::Result<Option<Vec<(u32, u32)>>> {
        let raw = match std::fs::read(&self.path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if raw.len() % ENTRY_LEN != 0 || (log_len > 0 && raw.is_empty()) {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(raw.len() / ENTRY_LEN);
        for chunk in raw.chunks_exact(ENTRY_LEN) {
            let rel = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let pos = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if let Some(&(last_rel, last_pos)) = entries.last()
                && (rel <= last_rel || pos <= last_pos)
            {
                return Ok(None);
            }
            if pos as u64 >= log_len {
                return Ok(None);
            }
            entries.push((rel, pos));
        }
        Ok(Some(entries))
    }

    /// Appends an entry for the batch starting at `position` whose first offset is `offset`.
    /// Entries out of order are ignored, so the index stays monotonic.
    pub fn append(&mut self, offset: i64, position: u64) {
        let rel = (offset - self.base_offset) as u32;
        let pos = position as u32;
        if let Some(&(last_rel, last_pos)) = self.entries.last()
            && (rel <= last_rel || pos <= last_pos)
        {
            return;
        }
        self.entries.push((rel, pos));
    }

    /// Removes the newest entry, when the batch it points at could not be kept.
    pub fn remove_last(&mut self) {
        self.entries.pop();
    }

    /// Position of the last indexed batch starting at or before `offset` (0 if none): where a
    /// forward scan for `offset` begins.
    pub fn lookup(&self, offset: i64) -> u64 {
        if offset < self.base_offset {
            return 0;
        }
        let rel = (offset - self.base_offset).min(u32::MAX as i64) as u32;
        let idx = self.entries.partition_point(|&(r, _)| r <= rel);
        if idx == 0 { 0 } else { self.entries[idx - 1].1 as u64 }
    }

    /// Last entry as (absolute offset, position), if any.
    pub fn last_entry(&self) -> Option<(i64, u64)> {
        self.entries.last().map(|&(r, p)| (self.base_offset + r as i64, p as u64))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file's content: every entry in the on-disk format.
    pub fn encoded(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for &(rel, pos) in &self.entries {
            raw.extend_from_slice(&rel.to_be_bytes());
            raw.extend_from_slice(&pos.to_be_bytes());
        }
        raw
    }

    /// The file's content with only the entries of batches starting below `limit` (those
    /// already durable, for a recovery checkpoint), and the position of the last one kept.
    pub fn encoded_below(&self, limit: i64) -> (Vec<u8>, u64) {
        let kept = self.entries.partition_point(|&(rel, _)| self.base_offset + (rel as i64) < limit);
        let mut raw = Vec::with_capacity(kept * ENTRY_LEN);
        for &(rel, pos) in &self.entries[..kept] {
            raw.extend_from_slice(&rel.to_be_bytes());
            raw.extend_from_slice(&pos.to_be_bytes());
        }
        (raw, self.entries[..kept].last().map_or(0, |&(_, pos)| pos as u64))
    }

    /// Path of the index file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
