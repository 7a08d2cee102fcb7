//! Aggregations over sliding windows (Kafka Streams' `SlidingWindows`): windows of a fixed
//! length `d` that move with the records. Each record at `t` has a left window `[t - d, t]`,
//! and a right window `[t + 1, t + 1 + d]` when later records fall in it; every distinct set
//! of records within `d` of each other gets exactly one window. Both ends are inclusive.
//!
//! The records themselves are buffered per key, and a record recomputes the windows it
//! touches from the buffer: a record costs time proportional to the key's records within
//! `2d`. Store layout: `b ++ len(key) ++ key ++ ordered(ts)` -> the values at `ts`,
//! `x ++ ordered(ts) ++ len(key) ++ key` -> empty (buffer expiry), and
//! `w ++ ordered(start) ++ key` -> aggregate (open windows, in closing order).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::context::TaskContext;
use crate::graph::{Data, StoreDef};
use crate::grouped::{Fold, KGroupedStream, aggregating, check_store_name, counting, reducing};
use crate::record::Record;
use crate::serdes::{I64, Serde};
use crate::table::{Change, KTable, Materialized};
use crate::time_windowed::ArcSerde;
use crate::windows::{Emit, Window, WindowStore, Windowed, WindowedSerde, from_ordered, length_prefixed, ordered};

const BUFFER: u8 = b'b';
const EXPIRY: u8 = b'x';
const WINDOW: u8 = b'w';

/// Sliding windows of `difference_ms`, accepting records up to `grace_ms` late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    /// The window length: records at most this far apart share a window, ms.
    pub difference_ms: i64,
    /// How long after its end a window still accepts late records, ms.
    pub grace_ms: i64,
}

impl SlidingWindows {
    /// Windows of `difference`, accepting records up to `grace` late.
    pub fn of(difference: Duration, grace: Duration) -> Self {
        SlidingWindows { difference_ms: crate::windows::ms(difference), grace_ms: crate::windows::ms(grace) }
    }
}

/// A grouped stream cut into sliding windows.
pub struct SlidingWindowedStream<K, V> {
    pub(crate) grouped: KGroupedStream<K, V>,
    pub(crate) windows: SlidingWindows,
    pub(crate) emit: Emit,
}

/// The values buffered at one timestamp: each length-prefixed.
fn encode_values(values: &[Vec<u8>]) -> Vec<u8> {
    values.iter().flat_map(|v| length_prefixed(v)).collect()
}

fn decode_values(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut values = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        let Some(value) = bytes.get(4..4 + len) else { break };
        values.push(value.to_vec());
        bytes = &bytes[4 + len..];
    }
    values
}

impl<K: Data, V: Data> SlidingWindowedStream<K, V> {
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
        let value_serde = self.grouped.value_serde.clone();
        let (ks, vs, agg) = (key_serde.clone(), value_serde, serde.clone());
        let changes = input.then(false, move |down| {
            let (f, key_serde, value_serde, serde, name) =
                (f.clone(), ks.clone(), vs.clone(), agg.clone(), name.clone());
            let reader = WindowStore { name: name.clone(), key: key_serde.clone(), aggregate: serde.clone() };
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                let Some(key_bytes) = key_serde.serialize(&r.key) else { return };
                let (d, grace, t) = (windows.difference_ms, windows.grace_ms, r.timestamp);
                if t.saturating_add(d).saturating_add(grace) < ctx.stream_time {
                    ctx.late_record_dropped();
                    return;
                }
                // Buffer the record.
                let prefix = [&[BUFFER][..], &length_prefixed(&key_bytes)].concat();
                let slot = [&prefix[..], &ordered(t)].concat();
                let mut values = ctx.get(&name, &slot).map(|b| decode_values(&b)).unwrap_or_default();
                values.push(value_serde.serialize(&r.value).unwrap_or_default());
                ctx.put(&name, slot, encode_values(&values));
                ctx.put(&name, [&[EXPIRY][..], &ordered(t), &length_prefixed(&key_bytes)].concat(), Vec::new());

                // The key's records that can share a window with t, by timestamp.
                let from = [&prefix[..], &ordered(t.saturating_sub(2 * d + 1))].concat();
                let to = [&prefix[..], &ordered(t.saturating_add(2 * d + 2))].concat();
                let mut buffered: Vec<(i64, V)> = Vec::new();
                for (entry, bytes) in ctx.range(&name, &from, Some(&to)) {
                    let ts = from_ordered(&entry[prefix.len()..]);
                    for value in decode_values(&bytes) {
                        match value_serde.deserialize(Some(&value)) {
                            Ok(v) => buffered.push((ts, v)),
                            Err(e) => return ctx.store_decode_failed(&name, e),
                        }
                    }
                }
                let any_in = |lo: i64, hi: i64| buffered.iter().any(|(ts, _)| *ts >= lo && *ts <= hi);
                // Windows touched by t: its left window, its right window if a later record is
                // in it, the left windows of records up to d later, the right windows of
                // records up to d + 1 earlier.
                let mut starts = BTreeSet::from([t - d]);
                if any_in(t + 1, t + 1 + d) {
                    starts.insert(t + 1);
                }
                for (s, _) in &buffered {
                    if *s >= t && *s <= t + d {
                        starts.insert(s - d);
                    }
                    if *s >= t - 1 - d && *s < t {
                        starts.insert(s + 1);
                    }
                }
                for start in starts {
                    let end = start + d;
                    if end.saturating_add(grace) < ctx.stream_time || !any_in(start, end) {
                        continue;
                    }
                    let mut aggregate = None;
                    for (_, v) in buffered.iter().filter(|(ts, _)| *ts >= start && *ts <= end) {
                        aggregate = Some(f(&r.key, v.clone(), aggregate));
                    }
                    let Some(new) = aggregate else { continue };
                    let window_key = [&[WINDOW][..], &ordered(start), &key_bytes].concat();
                    let new_bytes = serde.serialize(&new).unwrap_or_default();
                    let old_bytes = ctx.get(&name, &window_key);
                    if old_bytes.as_deref() == Some(&new_bytes[..]) {
                        continue;
                    }
                    let old = match old_bytes.map(|b| serde.deserialize(Some(&b))).transpose() {
                        Ok(old) => old,
                        Err(e) => return ctx.store_decode_failed(&name, e),
                    };
                    ctx.put(&name, window_key, new_bytes);
                    if emit == Emit::OnUpdate {
                        let record = Record {
                            key: Windowed { key: r.key.clone(), window: Window { start, end } },
                            value: Change { new: Some(new), old },
                            timestamp: t.max(start),
                            headers: r.headers.clone(),
                        };
                        down.forward(ctx, record);
                    }
                }

                // Close the windows whose end plus grace passed, then forget records no open
                // window holds.
                let bound = ctx.stream_time.saturating_sub(d).saturating_sub(grace);
                for (entry, bytes) in ctx.range(&name, &[WINDOW], Some(&[&[WINDOW][..], &ordered(bound)].concat())) {
                    ctx.delete(&name, &entry);
                    if emit != Emit::OnWindowClose {
                        continue;
                    }
                    let start = from_ordered(&entry[1..9]);
                    let window = Window { start, end: start + d };
                    reader.emit_final(ctx, &down, &entry[9..], &bytes, window, window.end);
                }
                for (entry, _) in ctx.range(&name, &[EXPIRY], Some(&[&[EXPIRY][..], &ordered(bound)].concat())) {
                    ctx.delete(&name, &entry);
                    ctx.delete(&name, &[&[BUFFER][..], &entry[9..], &entry[1..9]].concat());
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
