//! The sparse offset index, `<base offset>.index`: offset -> byte position in the segment's `.log`.
//!
//! Format (Kafka's): a flat array of 8-byte entries, each `relative offset: u32 BE` then
//! `position: u32 BE`, strictly increasing in both. An entry is added after roughly every
//! `index.interval.bytes` of log. The index is a cache: it is never trusted over the log and is
//! rebuilt from the log whenever it fails a sanity check or the shutdown was not clean.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Size of one on-disk entry.
pub const ENTRY_LEN: usize = 8;

/// The offset index of one segment, kept in memory and appended to its file.
#[derive(Debug)]
pub struct OffsetIndex {
    /// Where the index lives, for rebuild and deletion.
    path: PathBuf,
    /// Open handle used to append entries.
    file: File,
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
        let file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)?;
        let mut index = OffsetIndex { path: path.to_path_buf(), file, base_offset, entries: Vec::new() };
        if trust_file && let Some(entries) = index.load_checked(log_len)? {
            index.entries = entries;
            return Ok((index, true));
        }
        index.file.set_len(0)?;
        Ok((index, false))
    }

    fn load_checked(&self, log_len: u64) -> io::Result<Option<Vec<(u32, u32)>>> {
        let len = self.file.metadata()?.len();
        if len % ENTRY_LEN as u64 != 0 || (log_len > 0 && len == 0) {
            return Ok(None);
        }
        let mut raw = vec![0u8; len as usize];
        self.file.read_exact_at(&mut raw, 0)?;
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
    pub fn append(&mut self, offset: i64, position: u64) -> io::Result<()> {
        let rel = (offset - self.base_offset) as u32;
        let pos = position as u32;
        if let Some(&(last_rel, last_pos)) = self.entries.last()
            && (rel <= last_rel || pos <= last_pos)
        {
            return Ok(());
        }
        let mut raw = [0u8; ENTRY_LEN];
        raw[..4].copy_from_slice(&rel.to_be_bytes());
        raw[4..].copy_from_slice(&pos.to_be_bytes());
        if let Err(e) = self.file.write_all_at(&raw, (self.entries.len() * ENTRY_LEN) as u64) {
            // Leave no partial entry behind; the file then still mirrors `entries`.
            self.file.set_len((self.entries.len() * ENTRY_LEN) as u64)?;
            return Err(e);
        }
        self.entries.push((rel, pos));
        Ok(())
    }

    /// Removes the newest entry, when the batch it points at could not be kept.
    pub fn remove_last(&mut self) -> io::Result<()> {
        self.entries.pop();
        self.file.set_len((self.entries.len() * ENTRY_LEN) as u64)
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

    /// Forces the index file to disk (at segment roll and clean shutdown).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    /// Path of the index file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
