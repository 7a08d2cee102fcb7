//! The aborted-transaction index: Kafka's `.txnindex` file beside each segment, one entry per
//! transaction whose abort marker is in that segment. read_committed fetches return the
//! aborted transactions that overlap what they read, so clients drop those records.
//!
//! Entry format (big-endian, 34 bytes): `version: i16 = 0, producer_id: i64, first_offset: i64,
//! last_offset: i64, last_stable_offset: i64`. `last_offset` is the marker's offset.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::segment::segment_path;

/// Bytes per entry.
const ENTRY_LEN: usize = 34;

/// One aborted transaction in one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose transaction it was.
    pub producer_id: i64,
    /// Offset of its first record in this partition.
    pub first_offset: i64,
    /// Offset of its abort marker.
    pub last_offset: i64,
    /// The partition's last stable offset once the abort was written.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(raw: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| raw.get(at..at + 8).map(|b| i64::from_be_bytes(b.try_into().expect("8 bytes")));
        (raw.get(0..2)? == [0, 0]).then_some(())?;
        Some(AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        })
    }
}

/// Path of the index of the segment starting at `base_offset`.
pub fn index_path(dir: &Path, base_offset: i64) -> PathBuf {
    segment_path(dir, base_offset, "txnindex")
}

/// The entries of a segment's index, in the order written; none when the file is absent. A
/// torn last entry (a crash during its write) is ignored.
pub fn load(dir: &Path, base_offset: i64) -> io::Result<Vec<AbortedTxn>> {
    match fs::read(index_path(dir, base_offset)) {
        Ok(raw) => Ok(raw.chunks_exact(ENTRY_LEN).map_while(AbortedTxn::decode).collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Appends one entry to a segment's index (into the page cache; made durable with the segment).
pub fn append(dir: &Path, base_offset: i64, entry: &AbortedTxn) -> io::Result<()> {
    OpenOptions::new().create(true).append(true).open(index_path(dir, base_offset))?.write_all(&entry.encode())
}

/// Replaces a segment's index with `entries` (temp file, fsync, rename), or removes it when
/// there are none.
pub fn rewrite(dir: &Path, base_offset: i64, entries: &[AbortedTxn]) -> io::Result<()> {
    let path = index_path(dir, base_offset);
    if entries.is_empty() {
        return match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let raw: Vec<u8> = entries.iter().flat_map(AbortedTxn::encode).collect();
    crate::durable_file::write_atomically(&path, &raw)
}

/// Makes a segment's index durable, if it has one.
pub fn sync(dir: &Path, base_offset: i64) -> io::Result<()> {
    match fs::File::open(index_path(dir, base_offset)) {
        Ok(file) => file.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = AbortedTxn { producer_id: 7, first_offset: 10, last_offset: 20, last_stable_offset: 21 };
        let b = AbortedTxn { producer_id: 8, first_offset: 15, last_offset: 30, last_stable_offset: 31 };
        assert_eq!(load(dir.path(), 0).expect("load"), vec![]);
        append(dir.path(), 0, &a).expect("append");
        append(dir.path(), 0, &b).expect("append");
        assert_eq!(load(dir.path(), 0).expect("load"), vec![a, b]);
        let path = index_path(dir.path(), 0);
        let mut raw = fs::read(&path).expect("read");
        assert_eq!(raw.len(), 68);
        raw.truncate(50);
        fs::write(&path, &raw).expect("write");
        assert_eq!(load(dir.path(), 0).expect("load"), vec![a]);
        rewrite(dir.path(), 0, &[b]).expect("rewrite");
        assert_eq!(load(dir.path(), 0).expect("load"), vec![b]);
        rewrite(dir.path(), 0, &[]).expect("remove");
        assert!(!path.exists());
    }
}
