//! Joins with tables: a stream enriched with a table's current value (inner and left), and
//! two tables joined into a third (inner, left and outer). Both sides must be keyed alike and
//! co-partitioned (same partition count); they run in one task per partition.

use std::sync::Arc;

use crate::context::TaskContext;
use crate::graph::Data;
use crate::record::Record;
use crate::serdes::Serde;
use crate::stream::KStream;
use crate::table::{Change, KTable, Materialized};

/// Reads a table's value by key from its store.
fn lookup<K: 'static, V: 'static>(
    ctx: &mut TaskContext,
    key_serde: &Arc<dyn Serde<K>>,
    table: &Materialized<V>,
    key: &K,
) -> Result<Option<V>, ()> {
    let Some(key_bytes) = key_serde.serialize(key) else { return Ok(None) };
    match ctx.get(&table.store, &key_bytes).map(|b| table.serde.deserialize(Some(&b))).transpose() {
        Ok(value) => Ok(value),
        Err(e) => {
            ctx.store_decode_failed(&table.store, e);
            Err(())
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    fn check_joinable(&self, what: &str) {
        assert!(
            !self.key_changed,
            "{what}: the stream's key changed since its source; call .repartition(name, ...) first so that \
             equal keys meet the table's partition"
        );
    }

    fn stream_table_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        what: &str,
        joiner: impl Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.check_joinable(what);
        let store = table.required_store(what);
        let key_serde = table.key_serde.clone();
        let joiner = Arc::new(joiner);
        let out = self.then(false, move |down| {
            let (joiner, key_serde, store) = (joiner.clone(), key_serde.clone(), store.clone());
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                let Ok(found) = lookup(ctx, &key_serde, &store, &r.key) else { return };
                if let Some(value) = joiner(&r.value, found.as_ref()) {
                    down.forward(ctx, r.with_value(value))
                }
            }
        });
        let mut graph = self.builder.graph();
        graph.union(out.node.id, table.changes.node.id);
        graph.joins.push(out.node.id);
        drop(graph);
        out
    }

    /// Each record joined with the table's current value for its key; records whose key the
    /// table lacks are dropped. Only stream records trigger output (table updates do not).
    pub fn join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.stream_table_join(table, "a stream-table join", move |v, t| t.map(|t| joiner(v, t)))
    }

    /// Each record joined with the table's current value for its key, `None` if it has none.
    pub fn left_join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        self.stream_table_join(table, "a stream-table left join", move |v, t| Some(joiner(v, t)))
    }
}

/// Which rows a table-table join keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

impl Kind {
    fn keeps(self, this: bool, other: bool) -> bool {
        match self {
            Kind::Inner => this && other,
            Kind::Left => this,
            Kind::Outer => this || other,
        }
    }
}

type TableJoiner<V, VO, VR> = Arc<dyn Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync>;

impl<K: Data, V: Data> KTable<K, V> {
    fn table_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        kind: Kind,
        joiner: TableJoiner<V, VO, VR>,
    ) -> KTable<K, VR> {
        let what = "a table-table join";
        let (this_store, other_store) = (self.required_store(what), other.required_store(what));
        let key_serde = self.key_serde.clone();
        let builder = self.changes.builder.clone();
        let out = builder.node::<K, Change<VR>>(Some(self.changes.node.id));
        {
            let mut graph = builder.graph();
            graph.union(out.id, other.changes.node.id);
            graph.joins.push(out.id);
        }
        // A change on this side, joined with the other side's value; and the mirror image.
        let (target, ks, j, store) = (out.clone(), key_serde.clone(), joiner.clone(), other_store);
        self.changes.node.add_child(Arc::new(move |inst: &mut crate::graph::Instantiator| {
            let down = inst.downstream(&target);
            let (ks, j, store) = (ks.clone(), j.clone(), store.clone());
            crate::graph::processor(move |ctx: &mut TaskContext, r: Record<K, Change<V>>| {
                let Ok(found) = lookup(ctx, &ks, &store, &r.key) else { return };
                let join = |v: Option<&V>| kind.keeps(v.is_some(), found.is_some()).then(|| j(v, found.as_ref()));
                let change = Change { new: join(r.value.new.as_ref()), old: join(r.value.old.as_ref()) };
                if change.new.is_some() || change.old.is_some() {
                    down.forward(ctx, r.with_value(change))
                }
            })
        }));
        let (target, ks, j, store) = (out.clone(), key_serde.clone(), joiner, this_store);
        other.changes.node.add_child(Arc::new(move |inst: &mut crate::graph::Instantiator| {
            let down = inst.downstream(&target);
            let (ks, j, store) = (ks.clone(), j.clone(), store.clone());
            crate::graph::processor(move |ctx: &mut TaskContext, r: Record<K, Change<VO>>| {
                let Ok(found) = lookup(ctx, &ks, &store, &r.key) else { return };
                let join = |o: Option<&VO>| kind.keeps(found.is_some(), o.is_some()).then(|| j(found.as_ref(), o));
                let change = Change { new: join(r.value.new.as_ref()), old: join(r.value.old.as_ref()) };
                if change.new.is_some() || change.old.is_some() {
                    down.forward(ctx, r.with_value(change))
                }
            })
        }));
        KTable::new(KStream::new(builder, out, false), key_serde, None)
    }

    /// Rows whose key both tables have, joined; updated on a change on either side.
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let joiner = move |v: Option<&V>, o: Option<&VO>| {
            joiner(v.expect("inner join: both sides"), o.expect("inner join: both sides"))
        };
        self.table_join(other, Kind::Inner, Arc::new(joiner))
    }

    /// Every row of this table, joined with the other's row for its key if there is one.
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let joiner = move |v: Option<&V>, o: Option<&VO>| joiner(v.expect("left join: this side"), o);
        self.table_join(other, Kind::Left, Arc::new(joiner))
    }

    /// Every key of either table, with whichever rows exist.
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        self.table_join(other, Kind::Outer, Arc::new(joiner))
    }
}
