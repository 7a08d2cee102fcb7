//! Aggregations over session windows: a key's records at most `gap` apart form a session; a
//! record that bridges sessions merges them (their aggregates combined by a merger).
//!
//! Store layout, two entries per session:
//! `k ++ len(key) ++ key ++ ordered(end) ++ ordered(start)` -> aggregate (a key's sessions by
//! end, to find the ones a record touches), and
//! `t ++ ordered(end) ++ len(key) ++ key ++ ordered(start)` -> empty (every session by end, to
//! find the ones that close). A session closes when stream time reaches its end plus gap plus
//! grace: nothing can join it any more.

use std::sync::Arc;

use crate::context::TaskContext;
use crate::graph::{Data, StoreDef};
use crate::grouped::{KGroupedStream, check_store_name};
use crate::record::Record;
use crate::serdes::{I64, Serde};
use crate::table::{Change, KTable, Materialized};
use crate::time_windowed::ArcSerde;
use crate::windows::{
    Emit, SessionWindows, Window, WindowStore, Windowed, WindowedSerde, from_ordered, length_prefixed, ordered,
};

const BY_KEY: u8 = b'k';
const BY_END: u8 = b't';

/// A grouped stream cut into sessions: aggregate it per key and session.
pub struct SessionWindowedStream<K, V> {
    pub(crate) grouped: KGroupedStream<K, V>,
    pub(crate) windows: SessionWindows,
    pub(crate) emit: Emit,
}

/// How a session's aggregate is built: a session of one record, and two sessions merged
/// (`merge(key, newer, older)`).
struct SessionFns<K, V, A> {
    single: Single<K, V, A>,
    merge: Merge<K, A>,
}

/// The aggregate of a session of one record.
type Single<K, V, A> = Box<dyn Fn(&K, V) -> A + Send + Sync>;
/// Two sessions' aggregates combined: `(key, newer, older)`.
type Merge<K, A> = Box<dyn Fn(&K, A, A) -> A + Send + Sync>;

fn by_key(key: &[u8], window: Window) -> Vec<u8> {
    [&[BY_KEY][..], &length_prefixed(key), &ordered(window.end), &ordered(window.start)].concat()
}

fn by_end(key: &[u8], window: Window) -> Vec<u8> {
    [&[BY_END][..], &ordered(window.end), &length_prefixed(key), &ordered(window.start)].concat()
}

/// The key and window of a `t` entry.
fn parse_by_end(entry: &[u8]) -> Option<(Vec<u8>, Window)> {
    let end = from_ordered(entry.get(1..9)?);
    let len = u32::from_be_bytes(entry.get(9..13)?.try_into().ok()?) as usize;
    let key = entry.get(13..13 + len)?.to_vec();
    let start = from_ordered(entry.get(13 + len..21 + len)?);
    Some((key, Window { start, end }))
}

impl<K: Data, V: Data> SessionWindowedStream<K, V> {
    /// Emit each session's result on every update (the default) or once when it closes.
    pub fn emit(mut self, emit: Emit) -> Self {
        self.emit = emit;
        self
    }

    /// Records per key and session.
    pub fn count(&self, store: &str) -> KTable<Windowed<K>, i64> {
        let fns = SessionFns { single: Box::new(|_, _| 1), merge: Box::new(|_, a, b| a + b) };
        self.build(store, Arc::new(I64), fns)
    }

    /// Values per key and session combined by `f(older, newer)`; merging sessions combines
    /// their results the same way.
    pub fn reduce(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static, store: &str) -> KTable<Windowed<K>, V> {
        let fns = SessionFns { single: Box::new(|_, v| v), merge: Box::new(move |_, newer, older| f(older, newer)) };
        let serde = self.grouped.value_serde.clone();
        self.build(store, serde, fns)
    }

    /// Values per key and session folded from `init()` by `add`; `merge(key, newer, older)`
    /// combines the aggregates of sessions a record joins.
    pub fn aggregate<A: Data>(
        &self,
        init: impl Fn() -> A + Send + Sync + 'static,
        add: impl Fn(&K, V, A) -> A + Send + Sync + 'static,
        merge: impl Fn(&K, A, A) -> A + Send + Sync + 'static,
        store: &str,
        aggregate_serde: impl Serde<A>,
    ) -> KTable<Windowed<K>, A> {
        let fns = SessionFns { single: Box::new(move |k, v| add(k, v, init())), merge: Box::new(merge) };
        self.build(store, Arc::new(aggregate_serde), fns)
    }

    fn build<A: Data>(
        &self,
        store: &str,
        serde: Arc<dyn Serde<A>>,
        fns: SessionFns<K, V, A>,
    ) -> KTable<Windowed<K>, A> {
        check_store_name(store);
        let input = self.grouped.prepared(store);
        let (windows, emit, name) = (self.windows, self.emit, store.to_string());
        let key_serde = self.grouped.key_serde.clone();
        let fns = Arc::new(fns);
        let (ks, vs) = (key_serde.clone(), serde.clone());
        let changes = input.then(false, move |down| {
            let (fns, key_serde, serde, name) = (fns.clone(), ks.clone(), vs.clone(), name.clone());
            let reader = WindowStore { name: name.clone(), key: key_serde.clone(), aggregate: serde.clone() };
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                let Some(key_bytes) = key_serde.serialize(&r.key) else { return };
                let decode = |bytes: &[u8]| serde.deserialize(Some(bytes));
                let ts = r.timestamp;
                // The key's sessions ending at or after ts - gap, and starting at or before ts + gap.
                let prefix = [&[BY_KEY][..], &length_prefixed(&key_bytes)].concat();
                let from = [&prefix[..], &ordered(ts.saturating_sub(windows.gap_ms))].concat();
                let to = [&prefix[..], &ordered(i64::MAX), &[0xff][..]].concat();
                let mut touched = Vec::new();
                for (entry, bytes) in ctx.range(&name, &from, Some(&to)) {
                    let n = prefix.len();
                    let window =
                        Window { end: from_ordered(&entry[n..n + 8]), start: from_ordered(&entry[n + 8..n + 16]) };
                    if window.start <= ts.saturating_add(windows.gap_ms) {
                        match decode(&bytes) {
                            Ok(aggregate) => touched.push((window, aggregate)),
                            Err(e) => return ctx.store_decode_failed(&name, e),
                        }
                    }
                }
                let merged = touched.iter().fold(Window { start: ts, end: ts }, |w, (t, _)| Window {
                    start: w.start.min(t.start),
                    end: w.end.max(t.end),
                });
                let closes_at = merged.end.saturating_add(windows.gap_ms).saturating_add(windows.grace_ms);
                if closes_at <= ctx.stream_time {
                    ctx.late_record_dropped();
                    return;
                }
                let mut aggregate = (fns.single)(&r.key, r.value);
                let mut replaced = None;
                for (window, old) in touched {
                    ctx.delete(&name, &by_key(&key_bytes, window));
                    ctx.delete(&name, &by_end(&key_bytes, window));
                    aggregate = (fns.merge)(&r.key, aggregate, old.clone());
                    if window == merged {
                        replaced = Some(old);
                    } else if emit == Emit::OnUpdate {
                        let gone = Record {
                            key: Windowed { key: r.key.clone(), window },
                            value: Change { new: None, old: Some(old) },
                            timestamp: ts,
                            headers: r.headers.clone(),
                        };
                        down.forward(ctx, gone);
                    }
                }
                ctx.put(&name, by_key(&key_bytes, merged), serde.serialize(&aggregate).unwrap_or_default());
                ctx.put(&name, by_end(&key_bytes, merged), Vec::new());
                if emit == Emit::OnUpdate {
                    let record = Record {
                        key: Windowed { key: r.key, window: merged },
                        value: Change { new: Some(aggregate), old: replaced },
                        timestamp: ts,
                        headers: r.headers,
                    };
                    down.forward(ctx, record);
                }
                // Sessions ending at or before this have closed.
                let closed_through = ctx.stream_time.saturating_sub(windows.gap_ms).saturating_sub(windows.grace_ms);
                let upper = [&[BY_END][..], &ordered(closed_through.saturating_add(1))].concat();
                for (entry, _) in ctx.range(&name, &[BY_END], Some(&upper)) {
                    let Some((key_bytes, window)) = parse_by_end(&entry) else { continue };
                    let value = ctx.get(&name, &by_key(&key_bytes, window));
                    ctx.delete(&name, &entry);
                    ctx.delete(&name, &by_key(&key_bytes, window));
                    if emit != Emit::OnWindowClose {
                        continue;
                    }
                    reader.emit_final(ctx, &down, &key_bytes, &value.unwrap_or_default(), window, window.end);
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
