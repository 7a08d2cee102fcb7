//! `KTable`: the latest value per key, as a stream of changes; tables read from topics; table
//! filters and value maps.

use std::sync::Arc;

use crate::builder::StreamsBuilder;
use crate::context::TaskContext;
use crate::graph::{Data, StoreDef};
use crate::grouped::check_store_name;
use crate::record::Record;
use crate::serdes::{Nullable, Serde};
use crate::stream::KStream;
use crate::time_windowed::ArcSerde;

/// One change of a table's key: its new value (`None`: deleted) and the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<V> {
    /// The value now.
    pub new: Option<V>,
    /// The value before.
    pub old: Option<V>,
}

/// Where a materialized table keeps its values.
pub(crate) struct Materialized<V> {
    /// The store's name.
    pub store: String,
    /// How values are stored.
    pub serde: Arc<dyn Serde<V>>,
}

impl<V> Clone for Materialized<V> {
    fn clone(&self) -> Self {
        Materialized { store: self.store.clone(), serde: self.serde.clone() }
    }
}

/// A table: each key's latest value, changed record by record.
pub struct KTable<K, V> {
    pub(crate) changes: KStream<K, Change<V>>,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    /// The store holding it, if it is materialized (joins and queries need one).
    pub(crate) materialized: Option<Materialized<V>>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            changes: self.changes.clone(),
            key_serde: self.key_serde.clone(),
            materialized: self.materialized.clone(),
        }
    }
}

impl StreamsBuilder {
    /// A table of `topic`'s latest value per key (a null value deletes the key), kept in
    /// store `store`. Records with null keys are skipped.
    pub fn table<K: Data, V: Data>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
        store: &str,
    ) -> KTable<K, V> {
        check_store_name(store);
        let key_serde: Arc<dyn Serde<K>> = Arc::new(key_serde);
        let value_serde: Arc<dyn Serde<V>> = Arc::new(value_serde);
        let stream = self.stream(topic, ArcSerde(key_serde.clone()), Nullable(ArcSerde(value_serde.clone())));
        let (ks, vs, name) = (key_serde.clone(), value_serde.clone(), store.to_string());
        let changes = stream.then(false, move |down| {
            let (key_serde, serde, name) = (ks.clone(), vs.clone(), name.clone());
            move |ctx: &mut TaskContext, r: Record<K, Option<V>>| {
                let Some(key_bytes) = key_serde.serialize(&r.key) else { return };
                let old = match ctx.get(&name, &key_bytes).map(|b| serde.deserialize(Some(&b))).transpose() {
                    Ok(old) => old,
                    Err(e) => return ctx.store_decode_failed(&name, e),
                };
                match r.value.as_ref().and_then(|v| serde.serialize(v)) {
                    Some(bytes) => ctx.put(&name, key_bytes, bytes),
                    None => ctx.delete(&name, &key_bytes),
                }
                let Record { key, value, timestamp, headers } = r;
                down.forward(ctx, Record { key, value: Change { new: value, old }, timestamp, headers })
            }
        });
        self.graph().stores.push(StoreDef { name: store.to_string(), node: changes.node.id });
        KTable::new(changes, key_serde, Some(Materialized { store: store.to_string(), serde: value_serde }))
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn new(
        changes: KStream<K, Change<V>>,
        key_serde: Arc<dyn Serde<K>>,
        materialized: Option<Materialized<V>>,
    ) -> Self {
        KTable { changes, key_serde, materialized }
    }

    /// The store that holds the table, for queries.
    pub fn store_name(&self) -> Option<&str> {
        self.materialized.as_ref().map(|m| m.store.as_str())
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

    /// The rows for which `predicate` holds; a row that stops matching is deleted downstream.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        let predicate = Arc::new(predicate);
        let changes = self.changes.then(false, move |down| {
            let predicate = predicate.clone();
            move |ctx: &mut TaskContext, r: Record<K, Change<V>>| {
                let keep = |v: Option<V>| v.filter(|v| predicate(&r.key, v));
                let change = Change { new: keep(r.value.new.clone()), old: keep(r.value.old.clone()) };
                if change.new.is_some() || change.old.is_some() {
                    down.forward(ctx, r.with_value(change))
                }
            }
        });
        KTable::new(changes, self.key_serde.clone(), None)
    }

    /// Each row's value turned into another.
    pub fn map_values<V2: Data>(&self, f: impl Fn(&V) -> V2 + Send + Sync + 'static) -> KTable<K, V2> {
        let f = Arc::new(f);
        let changes = self.changes.map_values(move |c: Change<V>| Change {
            new: c.new.as_ref().map(|v| f(v)),
            old: c.old.as_ref().map(|v| f(v)),
        });
        KTable::new(changes, self.key_serde.clone(), None)
    }

    /// Keeps the table in store `store` (for joins and queries), encoded with `value_serde`.
    pub fn materialize(&self, store: &str, value_serde: impl Serde<V>) -> KTable<K, V> {
        check_store_name(store);
        let serde: Arc<dyn Serde<V>> = Arc::new(value_serde);
        let (ks, vs, name) = (self.key_serde.clone(), serde.clone(), store.to_string());
        let changes = self.changes.then(false, move |down| {
            let (key_serde, serde, name) = (ks.clone(), vs.clone(), name.clone());
            move |ctx: &mut TaskContext, r: Record<K, Change<V>>| {
                let Some(key_bytes) = key_serde.serialize(&r.key) else { return };
                match r.value.new.as_ref().and_then(|v| serde.serialize(v)) {
                    Some(bytes) => ctx.put(&name, key_bytes, bytes),
                    None => ctx.delete(&name, &key_bytes),
                }
                down.forward(ctx, r)
            }
        });
        self.changes.builder.graph().stores.push(StoreDef { name: store.to_string(), node: changes.node.id });
        KTable::new(changes, self.key_serde.clone(), Some(Materialized { store: store.to_string(), serde }))
    }

    /// The store and serde of a table a join needs materialized.
    pub(crate) fn required_store(&self, what: &str) -> Materialized<V> {
        self.materialized
            .clone()
            .unwrap_or_else(|| panic!("{what} needs a materialized table: call .materialize(store, serde) on it first"))
    }
}

impl<K, V> Record<K, V> {
    /// The same record with another value.
    pub(crate) fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record { key: self.key, value, timestamp: self.timestamp, headers: self.headers }
    }
}
