//! `KTable`: the latest value per key, as a stream of changes.

use std::sync::Arc;

use crate::context::TaskContext;
use crate::graph::Data;
use crate::record::Record;
use crate::serdes::Serde;
use crate::stream::KStream;

/// One change of a table's key: its new value (`None`: deleted) and the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<V> {
    /// The value now.
    pub new: Option<V>,
    /// The value before.
    pub old: Option<V>,
}

/// A table: each key's latest value, kept in a store and changed record by record.
pub struct KTable<K, V> {
    pub(crate) changes: KStream<K, Change<V>>,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
    /// The store holding it, if it is materialized.
    pub(crate) store: Option<String>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            changes: self.changes.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
        }
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn new(
        changes: KStream<K, Change<V>>,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
        store: Option<String>,
    ) -> Self {
        KTable { changes, key_serde, value_serde, store }
    }

    /// The store that holds the table, for queries.
    pub fn store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// Every update as a record (deletions left out; see [`changes`](Self::changes)).
    pub fn to_stream(&self) -> KStream<K, V> {
        self.changes.then(false, |down| {
            move |ctx: &mut TaskContext, r: Record<K, Change<V>>| {
                let Record { key, value, timestamp, headers } = r;
                if let Some(new) = value.new {
                    down.forward(ctx, Record { key, value: new, timestamp, headers })
                }
            }
        })
    }

    /// Every change as a record, a deletion as `None` (written as a tombstone by a nullable serde).
    pub fn changes(&self) -> KStream<K, Option<V>> {
        self.changes.map_values(|change: Change<V>| change.new)
    }
}
