//! An instance's state directory: its stores on disk (one fjall database, a keyspace per task
//! and store) and the checkpoints saying up to which changelog offset each store is current.
//!
//! A checkpoint is written after a commit whose changelog records are all acknowledged, once
//! the stores are synced to disk: a task that starts with one restores only the changelog
//! records after it. Without one (a crash under exactly-once, where the stores may hold
//! uncommitted writes) the task's stores are cleared and restored from the start, as Kafka
//! Streams does.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::config::StreamsConfig;
use crate::StreamsError;
use crate::disk_store::DiskStore;
use crate::store::KeyValueStore;
use crate::task::TaskId;

/// The stores and checkpoints of one application on this machine.
pub(crate) struct StateDir {
    db: fjall::Database,
    memtable_bytes: u64,
    checkpoints: PathBuf,
}

fn state_error(what: impl std::fmt::Display, path: &Path, error: impl std::fmt::Display) -> StreamsError {
    StreamsError::State(format!("{what} {}: {error}", path.display()))
}

impl StateDir {
    /// Opens (creating) `<dir>/<application id>`; fails if another instance holds it.
    pub(crate) fn open(config: &StreamsConfig, dir: &Path) -> Result<StateDir, StreamsError> {
        let root = dir.join(&config.application_id);
        let checkpoints = root.join("checkpoints");
        fs::create_dir_all(&checkpoints).map_err(|e| state_error("create", &checkpoints, e))?;
        let stores = root.join("stores");
        let db = fjall::Database::builder(&stores)
            .cache_size(config.state_cache_bytes)
            .open()
            .map_err(|e| match e {
                fjall::Error::Locked => StreamsError::State(format!(
                    "{} is in use by another instance of {}; give each instance on this machine its own state directory",
                    root.display(),
                    config.application_id
                )),
                e => state_error("open the stores in", &stores, e),
            })?;
        Ok(StateDir { db, memtable_bytes: config.state_memtable_bytes, checkpoints })
    }

    /// Store `store` of `task`, with what it held when last used here.
    pub(crate) fn store(&self, task: TaskId, store: &str) -> Result<Box<dyn KeyValueStore>, StreamsError> {
        let name = format!("{task}.{store}");
        if name.len() > 255 {
            return Err(StreamsError::Topology(format!("store name {store:?} is too long for a state directory")));
        }
        let keyspace = self
            .db
            .keyspace(&name, || fjall::KeyspaceCreateOptions::default().max_memtable_size(self.memtable_bytes))
            .map_err(|e| StreamsError::State(format!("open store {name}: {e}")))?;
        Ok(Box::new(DiskStore::new(keyspace)))
    }

    /// Syncs every store to disk: what a checkpoint written after this names is there.
    pub(crate) fn sync(&self) -> Result<(), StreamsError> {
        self.db.persist(fjall::PersistMode::SyncAll).map_err(|e| StreamsError::State(format!("sync the stores: {e}")))
    }

    fn path(&self, task: TaskId) -> PathBuf {
        self.checkpoints.join(task.to_string())
    }

    /// `task`'s checkpoint: per store, the changelog offset its local state is current to.
    pub(crate) fn checkpoint(&self, task: TaskId) -> HashMap<String, i64> {
        let text = fs::read_to_string(self.path(task)).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let (offset, store) = line.split_once(' ')?;
                Some((store.to_string(), offset.parse().ok()?))
            })
            .collect()
    }

    /// Replaces `task`'s checkpoint (written whole, then renamed over the old one).
    pub(crate) fn write_checkpoint(&self, task: TaskId, offsets: &[(String, i64)]) -> Result<(), StreamsError> {
        let path = self.path(task);
        let temporary = path.with_extension("tmp");
        let mut text = String::new();
        for (store, offset) in offsets {
            text.push_str(&format!("{offset} {store}\n"));
        }
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&temporary, &path)?;
            fs::File::open(&self.checkpoints)?.sync_all()
        };
        write().map_err(|e| state_error("write the checkpoint", &path, e))
    }

    /// Removes `task`'s checkpoint: until the next one, a crash leaves its stores untrusted.
    pub(crate) fn remove_checkpoint(&self, task: TaskId) -> Result<(), StreamsError> {
        let path = self.path(task);
        match fs::remove_file(&path) {
            Ok(()) => fs::File::open(&self.checkpoints)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| state_error("sync", &self.checkpoints, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(state_error("remove the checkpoint", &path, e)),
        }
    }
}
