//! Aggregations over time windows (tumbling and hopping), emitted on every update or once
//! when each window closes.
//!
//! Store layout: `ordered(window start) ++ key bytes` -> aggregate, so the windows that close
//! next are the store's first entries. A window closes when stream time reaches its end plus
//! grace; it is then emitted (emit-final) and deleted, its changelog getting a tombstone.
//! Records for a closed window are dropped and counted as late.

use std::sync::Arc;

use crate::context::TaskContext;
use crate::graph::{Data, StoreDef};
use crate::grouped::{Fold, aggregating, check_store_name, counting, reducing};
use crate::record::Record;
use crate::serdes::{I64, Serde};
use crate::table::{Change, KTable, Materialized};
use crate::windows::{Emit, TimeWindows, Window, WindowStore, Windowed, WindowedSerde, from_ordered, ordered};

/// A grouped stream cut into time windows: aggregate it per key and window.
pub struct TimeWindowedStream<K, V> {
    pub(crate) grouped: crate::grouped::KGroupedStream<K, V>,
    pub(crate) windows: TimeWindows,
    pub(crate) emit: Emit,
}

impl<K: Data, V: Data> TimeWindowedStream<K, V> {
    /// Emit each window's result on every update (the default) or once when it closes.
    pub fn emit(mut self, emit: Emit) -> Self {
        self.emit = emit;
        self
    }

    /// Records per key and window.
    pub fn count(&self, store: &str) -> KTable<Windowed<K>, i64> {
        self.fold(store, Arc::new(I64), counting())
    }

    /// Values per key and window combined by `f`.
    pub fn reduce(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static, store: &str) -> KTable<Windowed<K>, V> {
        let serde = self.grouped.value_serde.clone();
        self.fold(store, serde, reducing(f))
    }

    /// Values per key and window folded from `init()` by `f`.
    pub fn aggregate<A: Data>(
        &self,
        init: impl Fn() -> A + Send + Sync + 'static,
        f: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        store: &str,
        aggregate_serde: impl Serde<A>,
    ) -> KTable<Windowed<K>, A> {
        self.fold(store, Arc::new(aggregate_serde), aggregating(init, f))
    }

    fn fold<A: Data>(&self, store: &str, serde: Arc<dyn Serde<A>>, f: Fold<K, V, A>) -> KTable<Windowed<K>, A> {
        check_store_name(store);
        let input = self.grouped.prepared(store);
        let (windows, emit, name) = (self.windows, self.emit, store.to_string());
        let key_serde = self.grouped.key_serde.clone();
        let (ks, vs) = (key_serde.clone(), serde.clone());
        let changes = input.then(false, move |down| {
            let (f, key_serde, serde, name) = (f.clone(), ks.clone(), vs.clone(), name.clone());
            let reader = WindowStore { name: name.clone(), key: key_serde.clone(), aggregate: serde.clone() };
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                let Some(key_bytes) = key_serde.serialize(&r.key) else { return };
                // Windows starting at or before this have closed.
                let closed_through = ctx.stream_time.saturating_sub(windows.grace_ms).saturating_sub(windows.size_ms);
                for start in windows.starts_for(r.timestamp) {
                    if start <= closed_through {
                        ctx.late_record_dropped();
                        continue;
                    }
                    let store_key = [&ordered(start)[..], &key_bytes].concat();
                    let old = match ctx.get(&name, &store_key).map(|b| serde.deserialize(Some(&b))).transpose() {
                        Ok(old) => old,
                        Err(e) => return ctx.store_decode_failed(&name, e),
                    };
                    let new = f(&r.key, r.value.clone(), old.clone());
                    ctx.put(&name, store_key, serde.serialize(&new).unwrap_or_default());
                    if emit == Emit::OnUpdate {
                        let window = Window { start, end: start + windows.size_ms };
                        let record = Record {
                            key: Windowed { key: r.key.clone(), window },
                            value: Change { new: Some(new), old },
                            timestamp: r.timestamp,
                            headers: r.headers.clone(),
                        };
                        down.forward(ctx, record);
                    }
                }
                let upper = ordered(closed_through.saturating_add(1));
                for (store_key, bytes) in ctx.range(&name, &[], Some(&upper)) {
                    ctx.delete(&name, &store_key);
                    if emit != Emit::OnWindowClose {
                        continue;
                    }
                    let start = from_ordered(&store_key[..8]);
                    let window = Window { start, end: start + windows.size_ms };
                    reader.emit_final(ctx, &down, &store_key[8..], &bytes, window, window.end - 1);
                }
            }
        });
        self.grouped.stream.builder.graph().stores.push(StoreDef { name: store.to_string(), node: changes.node.id });
        KTable::new(
            changes,
            Arc::new(WindowedSerde(ArcSerde(key_serde))),
            Some(Materialized { store: store.to_string(), serde }),
        )
    }
}

/// A shared serde used where a serde value is wanted.
pub(crate) struct ArcSerde<T>(pub Arc<dyn Serde<T>>);

impl<T: 'static> Serde<T> for ArcSerde<T> {
    fn serialize(&self, value: &T) -> Option<Vec<u8>> {
        self.0.serialize(value)
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, crate::serdes::SerdeError> {
        self.0.deserialize(bytes)
    }
    fn serialize_owned(&self, value: T) -> Option<Vec<u8>> {
        self.0.serialize_owned(value)
    }
    fn deserialize_owned(&self, bytes: Option<Vec<u8>>) -> Result<T, crate::serdes::SerdeError> {
        self.0.deserialize_owned(bytes)
    }
}
