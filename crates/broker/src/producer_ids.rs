//! Producer id allocation for InitProducerId: unique across restarts and crashes.
//!
//! Ids are handed out from blocks of [`BLOCK`]; the end of the current block is persisted in
//! `producer_ids` (atomic rewrite) before any id of it is given out, so an id is never reused.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use runnel_log::durable_file::write_atomically;

/// Ids reserved per file write.
pub const BLOCK: i64 = 1000;

/// The file name in the data directory.
pub const FILE_NAME: &str = "producer_ids";

/// The allocator.
#[derive(Debug)]
pub struct ProducerIds {
    /// The file holding the first id not yet reserved.
    path: PathBuf,
    /// (next id to give, end of the reserved block).
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// Loads the allocator from `dir`; a missing file starts at id 0.
    pub fn open(dir: &Path) -> std::io::Result<ProducerIds> {
        let path = dir.join(FILE_NAME);
        let start = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} is not a number", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIds { path, state: Mutex::new((start, start)) })
    }

    /// A producer id never given before.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 >= state.1 {
            let end = state.0 + BLOCK;
            write_atomically(&self.path, end.to_string().as_bytes())?;
            state.1 = end;
        }
        let id = state.0;
        state.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = ProducerIds::open(dir.path()).expect("open");
        let first: Vec<i64> = (0..3).map(|_| ids.allocate().expect("id")).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(ids);
        let ids = ProducerIds::open(dir.path()).expect("reopen");
        assert!(ids.allocate().expect("id") >= BLOCK);
    }
}
