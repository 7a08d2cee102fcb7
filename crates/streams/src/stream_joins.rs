//! Windowed stream-stream joins (inner, left, outer): records of two streams with equal keys
//! and timestamps close enough are joined.
//!
//! Each side's records wait in a buffer for the other side's records in their window. A
//! record arriving after its window's end plus grace (in stream time) is dropped as late. Left
//! and outer joins emit a record with no partner only once no partner can arrive any more,
//! never a premature "no match" followed by the match (as Kafka Streams does since 3.1). One store holds, per record:
//! `side ++ len(key) ++ key ++ ordered(ts) ++ id` -> value (the buffer),
//! `x ++ ordered(ts) ++ buffer key` -> empty (expiry by time), and, while it has no partner,
//! `u ++ ordered(ts) ++ buffer key` -> empty (for left and outer joins).

use std::sync::Arc;
use std::time::Duration;

use crate::context::TaskContext;
use crate::graph::{Data, Downstream, Instantiator, StoreDef, processor};
use crate::grouped::check_store_name;
use crate::record::Record;
use crate::serdes::Serde;
use crate::stream::KStream;
use crate::windows::{from_ordered, length_prefixed, ordered};

const THIS: u8 = b'l';
const OTHER: u8 = b'r';
const EXPIRY: u8 = b'x';
const UNMATCHED: u8 = b'u';

/// How far apart in time two records may be to join: a record of this stream at `t` joins
/// the other stream's records in `[t - before, t + after]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    /// How much earlier the other record may be, ms.
    pub before_ms: i64,
    /// How much later the other record may be, ms.
    pub after_ms: i64,
    /// How long after a window's end late records still join, ms.
    pub grace_ms: i64,
}

impl JoinWindows {
    /// Records at most `difference` apart (either way) join.
    pub fn of(difference: Duration, grace: Duration) -> Self {
        let d = crate::windows::ms(difference);
        JoinWindows { before_ms: d, after_ms: d, grace_ms: crate::windows::ms(grace) }
    }

    /// The same windows with another `before`.
    pub fn before(mut self, before: Duration) -> Self {
        self.before_ms = crate::windows::ms(before);
        self
    }

    /// The same windows with another `after`.
    pub fn after(mut self, after: Duration) -> Self {
        self.after_ms = crate::windows::ms(after);
        self
    }
}

/// The serdes a stream-stream join buffers with: the key, this stream's values, the other's.
pub struct StreamJoined<K, V, VO> {
    key: Arc<dyn Serde<K>>,
    this: Arc<dyn Serde<V>>,
    other: Arc<dyn Serde<VO>>,
}

impl<K, V, VO> StreamJoined<K, V, VO> {
    /// The three serdes.
    pub fn with(key: impl Serde<K>, this: impl Serde<V>, other: impl Serde<VO>) -> Self {
        StreamJoined { key: Arc::new(key), this: Arc::new(this), other: Arc::new(other) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

/// What both sides' processors share.
struct Join<K, V, VO, VR> {
    store: String,
    windows: JoinWindows,
    kind: Kind,
    serdes: StreamJoined<K, V, VO>,
    joiner: Joiner<V, VO, VR>,
}

/// Every join kind's joiner as an outer join's: either side may be missing.
type Joiner<V, VO, VR> = Box<dyn Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync>;

/// One side's view of the window: how far before and after its records the other side's
/// records join.
struct Side {
    mine: u8,
    theirs: u8,
    before: i64,
    after: i64,
    /// Whether its partnerless records are emitted (this side of left and outer joins, both
    /// sides of outer joins).
    emits_unmatched: bool,
}

impl<K: Data, V: Data, VO: Data, VR: Data> Join<K, V, VO, VR> {
    fn side(&self, mine: u8) -> Side {
        let w = self.windows;
        if mine == THIS {
            Side {
                mine,
                theirs: OTHER,
                before: w.before_ms,
                after: w.after_ms,
                emits_unmatched: self.kind != Kind::Inner,
            }
        } else {
            Side {
                mine,
                theirs: THIS,
                before: w.after_ms,
                after: w.before_ms,
                emits_unmatched: self.kind == Kind::Outer,
            }
        }
    }

    /// Buffers a record and returns the partners it joins (their timestamps and value bytes),
    /// or `None` if it came too late to join anything.
    fn buffer_and_match(
        &self,
        ctx: &mut TaskContext,
        side: &Side,
        key: &[u8],
        value: Vec<u8>,
        ts: i64,
    ) -> Option<Vec<(i64, Vec<u8>)>> {
        if ts.saturating_add(side.after).saturating_add(self.windows.grace_ms) < ctx.stream_time {
            ctx.late_record_dropped();
            return None;
        }
        let id = ctx.unique_id();
        let mine = [&[side.mine][..], &length_prefixed(key), &ordered(ts), &id].concat();
        ctx.put(&self.store, mine.clone(), value);
        ctx.put(&self.store, [&[EXPIRY][..], &ordered(ts), &mine].concat(), Vec::new());
        let prefix = [&[side.theirs][..], &length_prefixed(key)].concat();
        let from = [&prefix[..], &ordered(ts.saturating_sub(side.before))].concat();
        let to = [&prefix[..], &ordered(ts.saturating_add(side.after).saturating_add(1))].concat();
        let partners = ctx.range(&self.store, &from, Some(&to));
        let mut found = Vec::with_capacity(partners.len());
        for (theirs, bytes) in partners {
            let their_ts = from_ordered(&theirs[prefix.len()..prefix.len() + 8]);
            ctx.delete(&self.store, &[&[UNMATCHED][..], &ordered(their_ts), &theirs].concat());
            found.push((their_ts, bytes));
        }
        if found.is_empty() && side.emits_unmatched {
            ctx.put(&self.store, [&[UNMATCHED][..], &ordered(ts), &mine].concat(), Vec::new());
        }
        Some(found)
    }

    /// One side's record: buffered, joined with each partner already buffered on the other
    /// side (`join` decodes a partner's bytes and pairs it), then the windows that closed are
    /// closed.
    fn on_record<M>(
        &self,
        ctx: &mut TaskContext,
        down: &Downstream<K, VR>,
        mine: u8,
        r: &Record<K, M>,
        value: Option<Vec<u8>>,
        join: impl Fn(&M, &[u8]) -> Result<VR, crate::serdes::SerdeError>,
    ) {
        let side = self.side(mine);
        let Some(key) = self.serdes.key.serialize(&r.key) else { return };
        if let Some(partners) = self.buffer_and_match(ctx, &side, &key, value.unwrap_or_default(), r.timestamp) {
            for (their_ts, bytes) in partners {
                match join(&r.value, &bytes) {
                    Ok(value) => {
                        let joined = Record {
                            key: r.key.clone(),
                            value,
                            timestamp: r.timestamp.max(their_ts),
                            headers: r.headers.clone(),
                        };
                        down.forward(ctx, joined)
                    }
                    Err(e) => return ctx.store_decode_failed(&self.store, e),
                }
            }
        }
        self.close(ctx, down);
    }

    /// Emits the partnerless records that can no longer find one, then forgets records no
    /// window needs. A record at `ts` can meet a partner while one may still arrive in time:
    /// partners arrive up to `ts + before + after` (the far end of its window), late by up to
    /// `grace`. Past that it is emitted alone (left and outer joins) and dropped.
    fn close(&self, ctx: &mut TaskContext, down: &Downstream<K, VR>) {
        let span = self.windows.before_ms.saturating_add(self.windows.after_ms).saturating_add(self.windows.grace_ms);
        let bound = ordered(ctx.stream_time.saturating_sub(span));
        for (entry, _) in ctx.range(&self.store, &[UNMATCHED], Some(&[&[UNMATCHED][..], &bound].concat())) {
            ctx.delete(&self.store, &entry);
            let buffered = &entry[9..];
            let ts = from_ordered(&entry[1..9]);
            let Some(value) = ctx.get(&self.store, buffered) else { continue };
            let key_len = u32::from_be_bytes(buffered[1..5].try_into().expect("4 bytes")) as usize;
            let key = match self.serdes.key.deserialize(Some(&buffered[5..5 + key_len])) {
                Ok(key) => key,
                Err(e) => return ctx.store_decode_failed(&self.store, e),
            };
            let joined = if buffered[0] == THIS {
                self.serdes.this.deserialize(Some(&value)).map(|v| (self.joiner)(Some(&v), None))
            } else {
                self.serdes.other.deserialize(Some(&value)).map(|o| (self.joiner)(None, Some(&o)))
            };
            match joined {
                Ok(value) => down.forward(ctx, Record::new(key, value, ts)),
                Err(e) => return ctx.store_decode_failed(&self.store, e),
            }
        }
        for (entry, _) in ctx.range(&self.store, &[EXPIRY], Some(&[&[EXPIRY][..], &bound].concat())) {
            ctx.delete(&self.store, &entry[9..]);
            ctx.delete(&self.store, &entry);
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    fn windowed_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        kind: Kind,
        joiner: Joiner<V, VO, VR>,
        windows: JoinWindows,
        store: &str,
        serdes: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        check_store_name(store);
        assert!(
            !self.key_changed && !other.key_changed,
            "a stream-stream join: a stream's key changed since its source; call .repartition(name, ...) on it first"
        );
        let join = Arc::new(Join { store: store.to_string(), windows, kind, serdes, joiner });
        let out = self.builder.node::<K, VR>(Some(self.node.id));
        {
            let mut graph = self.builder.graph();
            graph.union(out.id, other.node.id);
            graph.joins.push(out.id);
            graph.stores.push(StoreDef { name: store.to_string(), node: out.id });
        }
        let (target, j) = (out.clone(), join.clone());
        self.node.add_child(Arc::new(move |inst: &mut Instantiator| {
            let (down, j) = (inst.downstream(&target), j.clone());
            processor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                let value = j.serdes.this.serialize(&r.value);
                let join = |v: &V, bytes: &[u8]| {
                    j.serdes.other.deserialize(Some(bytes)).map(|o| (j.joiner)(Some(v), Some(&o)))
                };
                j.on_record(ctx, &down, THIS, &r, value, join);
            })
        }));
        let (target, j) = (out.clone(), join);
        other.node.add_child(Arc::new(move |inst: &mut Instantiator| {
            let (down, j) = (inst.downstream(&target), j.clone());
            processor(move |ctx: &mut TaskContext, r: Record<K, VO>| {
                let value = j.serdes.other.serialize(&r.value);
                let join = |o: &VO, bytes: &[u8]| {
                    j.serdes.this.deserialize(Some(bytes)).map(|v| (j.joiner)(Some(&v), Some(o)))
                };
                j.on_record(ctx, &down, OTHER, &r, value, join);
            })
        }));
        KStream::new(self.builder.clone(), out, false)
    }

    /// Records of both streams with equal keys within `windows` of each other, joined.
    /// `store` names the buffer store (and its changelog).
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        store: &str,
        serdes: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        let joiner = move |v: Option<&V>, o: Option<&VO>| joiner(v.expect("inner join"), o.expect("inner join"));
        self.windowed_join(other, Kind::Inner, Box::new(joiner), windows, store, serdes)
    }

    /// As [`join`](Self::join), and this stream's records that found no partner by the time
    /// their window closed, with `None`.
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        store: &str,
        serdes: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        let joiner = move |v: Option<&V>, o: Option<&VO>| joiner(v.expect("left join: this side"), o);
        self.windowed_join(other, Kind::Left, Box::new(joiner), windows, store, serdes)
    }

    /// As [`join`](Self::join), and either stream's records that found no partner by the
    /// time their window closed.
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        store: &str,
        serdes: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        self.windowed_join(other, Kind::Outer, Box::new(joiner), windows, store, serdes)
    }
}
