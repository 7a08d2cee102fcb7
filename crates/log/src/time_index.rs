//! The sparse time index, `<base offset>.timeindex`: timestamp -> first offset at or after it.
//!
//! Format (Kafka's): a flat array of 12-byte entries, `timestamp: i64 BE` then
//! `relative offset: u32 BE`. An entry is written alongside an offset index entry whenever the
//! segment's max timestamp has grown, so timestamps are strictly increasing. Like the offset index
//! it is a cache, rebuilt from the log when in doubt. Like the offset index its entries live in
//! memory and the file is written whole at segment roll and clean shutdown.

use std::io;
use std::path::{Path, PathBuf};

/// Size of one on-disk entry.
pub const ENTRY_LEN: usize = 12;

/// The time index of one segment, kept in memory and written out by [`TimeIndex::persist`].
#[derive(Debug)]
pub struct TimeIndex {
    /// Where the index lives.
    path: PathBuf,
    /// Base offset of the segment.
    base_offset: i64,
    /// Entries as (max timestamp so far, relative offset of the batch that carried it).
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Opens the time index, loading it when `trust_file` and it is sane; else starts empty.
    pub fn open(path: &Path, base_offset: i64, next_offset: i64, trust_file: bool) -> io::Result<(Self, bool)> {
        let mut index = TimeIndex { path: path.to_path_buf(), base_offset, entries: Vec::new() };
        if trust_file && let Some(entries) = index.load_checked(next_offset)? {
            index.entries = entries;
            return Ok((index, true));
        }
        Ok((index, false))
    }

    fn load_checked(&self, next_offset: i64) -> io::Result<Option<Vec<(i64, u32)>>> {
        let raw = match std::fs::read(&self.path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if raw.len() % ENTRY_LEN != 0 {
            return Ok(None);
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(raw.len() / ENTRY_LEN);
        for chunk in raw.chunks_exact(ENTRY_LEN) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&chunk[..8]);
            let ts = i64::from_be_bytes(ts);
            let rel = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            if let Some(&(last_ts, last_rel)) = entries.last()
                && (ts <= last_ts || rel < last_rel)
            {
                return Ok(None);
            }
            if self.base_offset + rel as i64 >= next_offset {
                return Ok(None);
            }
            entries.push((ts, rel));
        }
        Ok(Some(entries))
    }

    /// Records that the batch at `offset` raised the segment's max timestamp to `timestamp`.
    pub fn append(&mut self, timestamp: i64, offset: i64) {
        let rel = (offset - self.base_offset) as u32;
        if let Some(&(last_ts, _)) = self.entries.last()
            && timestamp <= last_ts
        {
            return;
        }
        self.entries.push((timestamp, rel));
    }

    /// The offset from which to scan for the first record with timestamp >= `timestamp`: the
    /// entry with the largest timestamp below it (everything before it is older), or the base.
    pub fn lookup(&self, timestamp: i64) -> i64 {
        let idx = self.entries.partition_point(|&(ts, _)| ts < timestamp);
        if idx == 0 { self.base_offset } else { self.base_offset + self.entries[idx - 1].1 as i64 }
    }

    /// Largest timestamp recorded in the index, if any.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.entries.last().map(|e| e.0)
    }

    /// The file's content: every entry in the on-disk format.
    pub fn encoded(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for &(ts, rel) in &self.entries {
            raw.extend_from_slice(&ts.to_be_bytes());
            raw.extend_from_slice(&rel.to_be_bytes());
        }
        raw
    }

    /// The file's content with only the entries of offsets below `limit`.
    pub fn encoded_below(&self, limit: i64) -> Vec<u8> {
        let mut raw = Vec::new();
        for &(ts, rel) in self.entries.iter().take_while(|&&(_, rel)| self.base_offset + (rel as i64) < limit) {
            raw.extend_from_slice(&ts.to_be_bytes());
            raw.extend_from_slice(&rel.to_be_bytes());
        }
        raw
    }

    /// Path of the time index file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
