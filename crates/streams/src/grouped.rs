//! `KGroupedStream`: records grouped by key, and the aggregations that make tables of them.

use std::sync::Arc;

use crate::context::TaskContext;
use crate::graph::{Data, StoreDef};
use crate::record::Record;
use crate::serdes::{I64, Serde};
use crate::session_windowed::SessionWindowedStream;
use crate::sliding_windowed::{SlidingWindowedStream, SlidingWindows};
use crate::stream::KStream;
use crate::table::{Change, KTable, Materialized};
use crate::time_windowed::TimeWindowedStream;
use crate::windows::{Emit, SessionWindows, TimeWindows};

/// A stream grouped by key: aggregate it with [`count`](Self::count),
/// [`reduce`](Self::reduce) or [`aggregate`](Self::aggregate).
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) key_serde: Arc<dyn Serde<K>>,
    pub(crate) value_serde: Arc<dyn Serde<V>>,
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

/// What every count, reduce and aggregate is made of: `(key, value, previous) -> next`.
pub(crate) type Fold<K, V, A> = Arc<dyn Fn(&K, V, Option<A>) -> A + Send + Sync>;

/// The fold of `count`.
pub(crate) fn counting<K, V>() -> Fold<K, V, i64> {
    Arc::new(|_, _, old: Option<i64>| old.unwrap_or(0) + 1)
}

/// The fold of `reduce(f)`: the first value as it is, then `f(previous, value)`.
pub(crate) fn reducing<K, V: 'static>(f: impl Fn(V, V) -> V + Send + Sync + 'static) -> Fold<K, V, V> {
    Arc::new(move |_, value, old| match old {
        Some(old) => f(old, value),
        None => value,
    })
}

/// The fold of `aggregate(init, f)`.
pub(crate) fn aggregating<K, V, A: 'static>(
    init: impl Fn() -> A + Send + Sync + 'static,
    f: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
) -> Fold<K, V, A> {
    Arc::new(move |key, value, old| f(key, value, old.unwrap_or_else(&init)))
}

/// Store names become topic names (`<application id>-<store>-changelog`), so they take
/// Kafka's topic characters only.
pub(crate) fn check_store_name(name: &str) {
    assert!(
        !name.is_empty() && name.len() <= 200 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "store name {name:?} must be 1 to 200 of a-z A-Z 0-9 . _ - (it names the changelog topic)"
    );
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, key_serde: Arc<dyn Serde<K>>, value_serde: Arc<dyn Serde<V>>) -> Self {
        KGroupedStream { stream, key_serde, value_serde }
    }

    /// The stream to aggregate: repartitioned through `<store>-repartition` if its key changed.
    pub(crate) fn prepared(&self, store: &str) -> KStream<K, V> {
        if self.stream.key_changed {
            self.stream.repartition_with(store, self.key_serde.clone(), self.value_serde.clone())
        } else {
            self.stream.clone()
        }
    }

    /// Cuts the stream into time windows (tumbling or hopping) per key.
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedStream<K, V> {
        TimeWindowedStream { grouped: self.clone(), windows, emit: Emit::OnUpdate }
    }

    /// Cuts the stream into sliding windows per key.
    pub fn sliding_windowed_by(&self, windows: SlidingWindows) -> SlidingWindowedStream<K, V> {
        SlidingWindowedStream { grouped: self.clone(), windows, emit: Emit::OnUpdate }
    }

    /// Cuts the stream into sessions per key.
    pub fn session_windowed_by(&self, windows: SessionWindows) -> SessionWindowedStream<K, V> {
        SessionWindowedStream { grouped: self.clone(), windows, emit: Emit::OnUpdate }
    }

    /// How many records each key has had, kept in store `store`.
    pub fn count(&self, store: &str) -> KTable<K, i64> {
        self.aggregate_with(store, Arc::new(I64), counting())
    }

    /// Each key's values combined by `f` (the first value as it is), kept in store `store`.
    pub fn reduce(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static, store: &str) -> KTable<K, V> {
        self.aggregate_with(store, self.value_serde.clone(), reducing(f))
    }

    /// Each key's values folded into an aggregate: `init()` first, then `f(key, value, aggregate)`
    /// per record. Kept in store `store`, encoded with `aggregate_serde`.
    pub fn aggregate<A: Data>(
        &self,
        init: impl Fn() -> A + Send + Sync + 'static,
        f: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        store: &str,
        aggregate_serde: impl Serde<A>,
    ) -> KTable<K, A> {
        self.aggregate_with(store, Arc::new(aggregate_serde), aggregating(init, f))
    }

    /// The one aggregation all others are: `f(key, value, previous aggregate)`.
    fn aggregate_with<A: Data>(
        &self,
        store: &str,
        aggregate_serde: Arc<dyn Serde<A>>,
        f: Fold<K, V, A>,
    ) -> KTable<K, A> {
        check_store_name(store);
        let input = self.prepared(store);
        let (key_serde, serde, name) = (self.key_serde.clone(), aggregate_serde.clone(), store.to_string());
        let changes = input.then(false, move |down| {
            let (f, key_serde, serde, name) = (f.clone(), key_serde.clone(), serde.clone(), name.clone());
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                // A record with a null key has no group: Kafka Streams drops it too.
                let Some(key_bytes) = key_serde.serialize(&r.key) else { return };
                let old = match ctx.get(&name, &key_bytes).map(|b| serde.deserialize(Some(&b))).transpose() {
                    Ok(old) => old,
                    Err(e) => return ctx.store_decode_failed(&name, e),
                };
                let Record { key, value, timestamp, headers } = r;
                let new = f(&key, value, old.clone());
                match serde.serialize(&new) {
                    Some(bytes) => ctx.put(&name, key_bytes, bytes),
                    None => ctx.delete(&name, &key_bytes),
                }
                down.forward(ctx, Record { key, value: Change { new: Some(new), old }, timestamp, headers })
            }
        });
        self.stream.builder.graph().stores.push(StoreDef { name: store.to_string(), node: changes.node.id });
        KTable::new(
            changes,
            self.key_serde.clone(),
            Some(Materialized { store: store.to_string(), serde: aggregate_serde }),
        )
    }
}
