//! The sparse time index, `<base offset>.timeindex`: timestamp -> first offset at or after it.
//!
//! Format (Kafka's): a flat array of 12-byte entries, `timestamp: i64 BE` then
//! `relative offset: u32 BE`. An entry is written alongside an offset index entry whenever the
//! segment's max timestamp has grown, so timestamps are strictly increasing. Like the offset index
//! it is a cache, rebuilt from the log when in doubt.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Size of one on-disk entry.
pub const ENTRY_LEN: usize = 12;

/// The time index of one segment, kept in memory and appended to its file.
#[derive(Debug)]
pub struct TimeIndex {
    /// Open handle used to append entries.
    file: File,
    /// Base offset of the segment.
    base_offset: i64,
    /// Entries as (max timestamp so far, relative offset of the batch that carried it).
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Opens the time index, loading it when `trust_file` and it is sane; else starts empty.
    pub fn open(path: &Path, base_offset: i64, next_offset: i64, trust_file: bool) -> io::Result<(Self, bool)> {
        let file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)?;
        let mut index = TimeIndex { file, base_offset, entries: Vec::new() };
        if trust_file && let Some(entries) = index.load_checked(next_offset)? {
            index.entries = entries;
            return Ok((index, true));
        }
        index.file.set_len(0)?;
        Ok((index, false))
    }

    fn load_checked(&self, next_offset: i64) -> io::Result<Option<Vec<(i64, u32)>>> {
        let len = self.file.metadata()?.len();
        if len % ENTRY_LEN as u64 != 0 {
            return Ok(None);
        }
        let mut raw = vec![0u8; len as usize];
        self.file.read_exact_at(&mut raw, 0)?;
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
    pub fn append(&mut self, timestamp: i64, offset: i64) -> io::Result<()> {
        let rel = (offset - self.base_offset) as u32;
        if let Some(&(last_ts, _)) = self.entries.last()
            && timestamp <= last_ts
        {
            return Ok(());
        }
        let mut raw = [0u8; ENTRY_LEN];
        raw[..8].copy_from_slice(&timestamp.to_be_bytes());
        raw[8..].copy_from_slice(&rel.to_be_bytes());
        if let Err(e) = self.file.write_all_at(&raw, (self.entries.len() * ENTRY_LEN) as u64) {
            // Leave no partial entry behind; the file then still mirrors `entries`.
            self.file.set_len((self.entries.len() * ENTRY_LEN) as u64)?;
            return Err(e);
        }
        self.entries.push((timestamp, rel));
        Ok(())
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

    /// Forces the index file to disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}
