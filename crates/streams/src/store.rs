//! State stores: sorted byte maps (in memory here; on disk in `disk_store`) a task keeps its state in, one per store per task, each
//! backed by a compacted changelog topic from which it is rebuilt when the task starts.

use std::collections::BTreeMap;
use std::ops::Bound;

/// A sorted map of bytes. Keys are the serialized keys (with window bounds in front for window
/// stores), so range scans follow byte order.
pub trait KeyValueStore: Send {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Sets `key` to `value`.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    /// Removes `key`.
    fn delete(&mut self, key: &[u8]);
    /// The entries with `from <= key < to` (`to = None`: to the end), in key order.
    fn range(&self, from: &[u8], to: Option<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// How many entries it holds.
    fn len(&self) -> usize;
    /// Whether it holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Removes every entry (before a restore from the changelog's start).
    fn clear(&mut self);
    /// The first failure of the storage under it, if any (the runtime checks before it
    /// commits, and stops rather than commit past a lost write).
    fn failure(&self) -> Option<String> {
        None
    }
}

/// A store in memory (a B-tree): fast, rebuilt from its changelog at every start.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// The entries.
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl KeyValueStore for MemoryStore {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.entries.insert(key, value);
    }
    fn delete(&mut self, key: &[u8]) {
        self.entries.remove(key);
    }
    fn range(&self, from: &[u8], to: Option<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let upper = to.map_or(Bound::Unbounded, Bound::Excluded);
        self.entries.range::<[u8], _>((Bound::Included(from), upper)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The behaviour every store must have, checked on an empty one (used by each store's tests).
#[cfg(test)]
pub(crate) fn check_sorted_map(store: &mut dyn KeyValueStore) {
    for k in [b"c", b"a", b"b", b"d"] {
        store.put(k.to_vec(), k.to_vec());
    }
    store.delete(b"d");
    let keys: Vec<Vec<u8>> = store.range(b"a", Some(b"c")).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()], "half-open, in key order");
    assert_eq!(store.range(b"b", None).len(), 2);
    assert_eq!((store.len(), store.get(b"a"), store.get(b"d")), (3, Some(b"a".to_vec()), None));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_half_open_and_in_key_order() {
        let mut store = MemoryStore::default();
        check_sorted_map(&mut store);
        store.clear();
        assert!(store.is_empty());
    }
}
