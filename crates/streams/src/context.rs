//! What a processor can reach while it handles a record: its task's stores, the records it
//! writes, and the task's stream time.

use std::collections::{BTreeMap, HashMap};

use crate::StreamsError;
use crate::record::OutRecord;
use crate::store::KeyValueStore;

/// Where the record being processed came from, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// Its topic.
    pub topic: std::sync::Arc<str>,
    /// Its offset.
    pub offset: i64,
}

/// A task's store and the changes not yet written to its changelog.
pub(crate) struct TaskStore {
    /// The state.
    pub store: Box<dyn KeyValueStore>,
    /// The changelog topic's full name.
    pub changelog: std::sync::Arc<str>,
    /// Keys changed since the last commit, with their latest value (`None`: deleted). Written to
    /// the changelog at commit, so a key updated a thousand times between commits costs one
    /// changelog record (Kafka Streams' record cache does the same).
    pub dirty: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// One task's context: handed to every processor of the task.
pub struct TaskContext {
    /// The partition the task works on (its changelogs' partition too).
    pub(crate) partition: i32,
    /// Stores by name.
    pub(crate) stores: HashMap<String, TaskStore>,
    /// Records written since the runtime last collected them.
    pub(crate) output: Vec<OutRecord>,
    /// The largest timestamp the task has read: windows close by it, never by the wall clock.
    pub(crate) stream_time: i64,
    /// The record being processed.
    pub(crate) origin: Origin,
    /// The first error a processor met in the current record (a store value it cannot decode).
    pub(crate) error: Option<StreamsError>,
    /// Records dropped by windowed operators for arriving after their window's grace period.
    pub(crate) late_records: u64,
    /// Ids handed out for the current record (see [`TaskContext::unique_id`]).
    pub(crate) ids_for_origin: u32,
}

impl TaskContext {
    /// A context with `stores` (store name, changelog topic, the store).
    pub(crate) fn new(partition: i32, stores: Vec<(String, String, Box<dyn KeyValueStore>)>) -> Self {
        let stores = stores
            .into_iter()
            .map(|(name, changelog, store)| {
                (name, TaskStore { store, changelog: changelog.as_str().into(), dirty: BTreeMap::new() })
            })
            .collect();
        TaskContext {
            partition,
            stores,
            output: Vec::new(),
            stream_time: i64::MIN,
            origin: Origin { topic: "".into(), offset: -1 },
            error: None,
            late_records: 0,
            ids_for_origin: 0,
        }
    }

    /// The task's stream time: the largest record timestamp it has processed.
    pub fn stream_time(&self) -> i64 {
        self.stream_time
    }

    /// The task's partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    fn store(&self, name: &str) -> &TaskStore {
        self.stores.get(name).unwrap_or_else(|| panic!("store {name} is not connected to this task"))
    }

    fn store_mut(&mut self, name: &str) -> &mut TaskStore {
        self.stores.get_mut(name).unwrap_or_else(|| panic!("store {name} is not connected to this task"))
    }

    /// The value of `key` in store `name`.
    pub(crate) fn get(&self, name: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.store(name).store.get(key)
    }

    /// Sets `key` in store `name`; the changelog gets it at the next commit.
    pub(crate) fn put(&mut self, name: &str, key: Vec<u8>, value: Vec<u8>) {
        let store = self.store_mut(name);
        store.dirty.insert(key.clone(), Some(value.clone()));
        store.store.put(key, value);
    }

    /// Removes `key` from store `name`; the changelog gets a tombstone at the next commit.
    pub(crate) fn delete(&mut self, name: &str, key: &[u8]) {
        let store = self.store_mut(name);
        store.dirty.insert(key.to_vec(), None);
        store.store.delete(key);
    }

    /// Entries of store `name` with `from <= key < to` (`to = None`: to the end).
    pub(crate) fn range(&self, name: &str, from: &[u8], to: Option<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.store(name).store.range(from, to)
    }

    /// An id unique among everything this task ever processes, the same when the record is
    /// processed again: its source topic, its offset, and a count within the record (a
    /// `flat_map` makes several records of one). Join buffers key their records by it.
    pub(crate) fn unique_id(&mut self) -> [u8; 16] {
        let topic_hash =
            self.origin.topic.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&topic_hash.to_be_bytes());
        id[4..12].copy_from_slice(&self.origin.offset.to_be_bytes());
        id[12..].copy_from_slice(&self.ids_for_origin.to_be_bytes());
        self.ids_for_origin += 1;
        id
    }

    /// Counts a record dropped because it came after its window's grace period.
    pub(crate) fn late_record_dropped(&mut self) {
        self.late_records += 1;
    }

    /// How many records windowed operators dropped as too late.
    pub fn late_records(&self) -> u64 {
        self.late_records
    }

    /// Queues a record for the producer.
    pub(crate) fn send(&mut self, record: OutRecord) {
        self.output.push(record);
    }

    /// Records the first failure of the current record.
    pub(crate) fn fail(&mut self, error: StreamsError) {
        self.error.get_or_insert(error);
    }

    /// A decode failure of a stored value, attributed to the record being processed.
    pub(crate) fn store_decode_failed(&mut self, store: &str, reason: impl std::fmt::Display) {
        let error = StreamsError::Topology(format!(
            "store {store} holds a value its serde cannot decode ({reason}), processing {} offset {}; \
             did the topology's serdes change?",
            self.origin.topic, self.origin.offset
        ));
        self.fail(error);
    }

    /// Moves every store's pending changes into the output, as changelog records on the task's
    /// partition.
    pub(crate) fn flush_changelogs(&mut self, timestamp: i64) {
        let partition = self.partition;
        for store in self.stores.values_mut() {
            for (key, value) in std::mem::take(&mut store.dirty) {
                self.output.push(OutRecord {
                    topic: store.changelog.clone(),
                    partition: Some(partition),
                    key: Some(key),
                    value,
                    timestamp,
                    headers: Vec::new(),
                });
            }
        }
    }

    /// The first storage failure of any of the task's stores.
    pub(crate) fn store_failure(&self) -> Option<String> {
        self.stores.values().find_map(|s| s.store.failure())
    }

    /// Empties store `name` (before a restore from the changelog's start).
    pub(crate) fn clear_store(&mut self, name: &str) {
        let store = self.store_mut(name);
        store.dirty.clear();
        store.store.clear();
    }

    /// Applies a changelog record to store `name` while restoring (not written back).
    pub(crate) fn restore(&mut self, name: &str, key: Vec<u8>, value: Option<Vec<u8>>) {
        let store = &mut self.store_mut(name).store;
        match value {
            Some(value) => store.put(key, value),
            None => store.delete(&key),
        }
    }
}
