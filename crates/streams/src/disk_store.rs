//! A state store on disk: an LSM tree (fjall) whose memory is bounded by its block cache and
//! write buffer, however many keys it holds, and which survives a restart so that a task
//! restores only what its changelog gained since (see `runtime::state_dir`).

use std::sync::Mutex;

use crate::store::KeyValueStore;

/// One store of one task: a keyspace of the instance's fjall database.
pub struct DiskStore {
    keyspace: fjall::Keyspace,
    /// The first I/O failure, kept until the runtime checks before a commit (the store's
    /// methods cannot return one, as the in-memory store never fails).
    failure: Mutex<Option<String>>,
}

impl DiskStore {
    /// A store over `keyspace`.
    pub fn new(keyspace: fjall::Keyspace) -> Self {
        DiskStore { keyspace, failure: Mutex::new(None) }
    }

    fn failed(&self, what: &str, error: fjall::Error) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert_with(|| format!("state store {:?}: {what}: {error}", self.keyspace.name()));
    }
}

impl KeyValueStore for DiskStore {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.keyspace.get(key) {
            Ok(value) => value.map(|v| v.to_vec()),
            Err(e) => {
                self.failed("read", e);
                None
            }
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if let Err(e) = self.keyspace.insert(key, value) {
            self.failed("write", e);
        }
    }

    fn delete(&mut self, key: &[u8]) {
        if let Err(e) = self.keyspace.remove(key) {
            self.failed("delete", e);
        }
    }

    fn range(&self, from: &[u8], to: Option<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let entries = match to {
            Some(to) => self.keyspace.range(from..to),
            None => self.keyspace.range(from..),
        };
        let mut out = Vec::new();
        for entry in entries {
            match entry.into_inner() {
                Ok((key, value)) => out.push((key.to_vec(), value.to_vec())),
                Err(e) => {
                    self.failed("scan", e);
                    break;
                }
            }
        }
        out
    }

    fn len(&self) -> usize {
        self.keyspace.len().unwrap_or_else(|e| {
            self.failed("count", e);
            0
        })
    }

    fn clear(&mut self) {
        if let Err(e) = self.keyspace.clear() {
            self.failed("clear", e);
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> (fjall::Database, DiskStore) {
        let db = fjall::Database::builder(dir).open().expect("open the database");
        let keyspace = db.keyspace("0_0.counts", fjall::KeyspaceCreateOptions::default).expect("keyspace");
        (db, DiskStore::new(keyspace))
    }

    #[test]
    fn behaves_as_a_sorted_map_and_keeps_its_entries_across_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (db, mut store) = open(dir.path());
            crate::store::check_sorted_map(&mut store);
            db.persist(fjall::PersistMode::SyncAll).expect("persist");
        }
        let (_db, mut store) = open(dir.path());
        assert_eq!((store.len(), store.get(b"c"), store.get(b"d")), (3, Some(b"c".to_vec()), None));
        store.clear();
        assert!(store.is_empty());
        assert_eq!(store.failure(), None);
    }
}
