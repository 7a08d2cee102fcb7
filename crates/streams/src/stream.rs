//! `KStream`: an unbounded sequence of records, and the stateless operators on it.

use std::sync::Arc;

use crate::builder::StreamsBuilder;
use crate::context::TaskContext;
use crate::graph::{Data, Downstream, Instantiator, Node, Processor, RepartitionDef, TopicName, processor};
use crate::grouped::KGroupedStream;
use crate::record::{OutRecord, Record};
use crate::serdes::Serde;

/// A predicate of [`KStream::branch`].
pub type Predicate<K, V> = Box<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// A stream of records with keys `K` and values `V`.
pub struct KStream<K, V> {
    pub(crate) builder: StreamsBuilder,
    pub(crate) node: Arc<Node<K, V>>,
    /// Whether an operator changed the key since the source: grouping then goes through a
    /// repartition topic, so that equal keys meet in one task.
    pub(crate) key_changed: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream { builder: self.builder.clone(), node: self.node.clone(), key_changed: self.key_changed }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn new(builder: StreamsBuilder, node: Arc<Node<K, V>>, key_changed: bool) -> Self {
        KStream { builder, node, key_changed }
    }

    /// Adds an operator whose processor `make` builds from its output's children.
    pub(crate) fn then<K2: Data, V2: Data, P: Processor<K, V> + 'static>(
        &self,
        changes_key: bool,
        make: impl Fn(Downstream<K2, V2>) -> P + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let out = self.builder.node::<K2, V2>(Some(self.node.id));
        let target = out.clone();
        self.node.add_child(Arc::new(move |inst: &mut Instantiator| processor(make(inst.downstream(&target)))));
        KStream::new(self.builder.clone(), out, self.key_changed || changes_key)
    }

    /// The records for which `predicate` holds.
    pub fn filter(&self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        let predicate = Arc::new(predicate);
        self.then(false, move |down| {
            let predicate = predicate.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                if predicate(&r.key, &r.value) {
                    down.forward(ctx, r)
                }
            }
        })
    }

    /// Each record turned into another key and value (grouping after it repartitions).
    pub fn map<K2: Data, V2: Data>(&self, f: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static) -> KStream<K2, V2> {
        let f = Arc::new(f);
        self.then(true, move |down| {
            let f = f.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                let Record { key, value, timestamp, headers } = r;
                let (key, value) = f(key, value);
                down.forward(ctx, Record { key, value, timestamp, headers })
            }
        })
    }

    /// Each whole record (key, value, timestamp, headers) turned into another; grouping after
    /// it repartitions. For what needs headers or timestamps, which `map` does not show.
    pub fn map_record<K2: Data, V2: Data>(
        &self,
        f: impl Fn(Record<K, V>) -> Record<K2, V2> + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let f = Arc::new(f);
        self.then(true, move |down| {
            let f = f.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| down.forward(ctx, f(r))
        })
    }

    /// Each value turned into another; keys (and so partitioning) stay.
    pub fn map_values<V2: Data>(&self, f: impl Fn(V) -> V2 + Send + Sync + 'static) -> KStream<K, V2> {
        let f = Arc::new(f);
        self.then(false, move |down| {
            let f = f.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                let Record { key, value, timestamp, headers } = r;
                down.forward(ctx, Record { key, value: f(value), timestamp, headers })
            }
        })
    }

    /// Each record turned into zero or more records (grouping after it repartitions).
    pub fn flat_map<K2: Data, V2: Data, I: IntoIterator<Item = (K2, V2)>>(
        &self,
        f: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let f = Arc::new(f);
        self.then(true, move |down| {
            let f = f.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                for (key, value) in f(r.key, r.value) {
                    down.forward(ctx, Record { key, value, timestamp: r.timestamp, headers: r.headers.clone() })
                }
            }
        })
    }

    /// Each value turned into zero or more values, under the same key.
    pub fn flat_map_values<V2: Data, I: IntoIterator<Item = V2>>(
        &self,
        f: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        let f = Arc::new(f);
        self.then(false, move |down| {
            let f = f.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                for value in f(r.value) {
                    let record =
                        Record { key: r.key.clone(), value, timestamp: r.timestamp, headers: r.headers.clone() };
                    down.forward(ctx, record)
                }
            }
        })
    }

    /// A new key for each record (grouping after it repartitions).
    pub fn select_key<K2: Data>(&self, f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static) -> KStream<K2, V> {
        let f = Arc::new(f);
        self.then(true, move |down| {
            let f = f.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                let key = f(&r.key, &r.value);
                let Record { value, timestamp, headers, .. } = r;
                down.forward(ctx, Record { key, value, timestamp, headers })
            }
        })
    }

    /// Calls `f` on each record and passes it on unchanged (logging, metrics).
    pub fn peek(&self, f: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        let f = Arc::new(f);
        self.then(false, move |down| {
            let f = f.clone();
            move |ctx: &mut TaskContext, r: Record<K, V>| {
                f(&r.key, &r.value);
                down.forward(ctx, r)
            }
        })
    }

    /// Splits the stream: each record goes to the stream of the first predicate that holds,
    /// and is dropped if none does (Kafka Streams' `split`).
    pub fn branch(&self, predicates: Vec<Predicate<K, V>>) -> Vec<KStream<K, V>> {
        let outs: Vec<Arc<Node<K, V>>> =
            predicates.iter().map(|_| self.builder.node::<K, V>(Some(self.node.id))).collect();
        let predicates: Arc<Vec<Predicate<K, V>>> = Arc::new(predicates);
        let targets = outs.clone();
        self.node.add_child(Arc::new(move |inst: &mut Instantiator| {
            let downs: Vec<Downstream<K, V>> = targets.iter().map(|t| inst.downstream(t)).collect();
            let predicates = predicates.clone();
            processor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                if let Some(i) = predicates.iter().position(|p| p(&r.key, &r.value)) {
                    downs[i].forward(ctx, r)
                }
            })
        }));
        outs.into_iter().map(|node| KStream::new(self.builder.clone(), node, self.key_changed)).collect()
    }

    /// The records of both streams, as they arrive.
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let out = self.builder.node::<K, V>(Some(self.node.id));
        self.builder.graph().union(out.id, other.node.id);
        for parent in [&self.node, &other.node] {
            let target = out.clone();
            parent.add_child(Arc::new(move |inst: &mut Instantiator| {
                let down = inst.downstream(&target);
                processor(move |ctx: &mut TaskContext, r: Record<K, V>| down.forward(ctx, r))
            }));
        }
        KStream::new(self.builder.clone(), out, self.key_changed || other.key_changed)
    }

    /// Writes every record to `topic` (partitioned by key).
    pub fn to(&self, topic: &str, key_serde: impl Serde<K>, value_serde: impl Serde<V>) {
        self.sink(TopicName::External(topic.to_string()), Arc::new(key_serde), Arc::new(value_serde));
    }

    fn sink(&self, topic: TopicName, key_serde: Arc<dyn Serde<K>>, value_serde: Arc<dyn Serde<V>>) {
        self.node.add_child(Arc::new(move |inst: &mut Instantiator| {
            let topic: Arc<str> = topic.full(&inst.application_id).into();
            let (key_serde, value_serde) = (key_serde.clone(), value_serde.clone());
            processor(move |ctx: &mut TaskContext, r: Record<K, V>| {
                ctx.send(OutRecord {
                    topic: topic.clone(),
                    partition: None,
                    key: key_serde.serialize_owned(r.key),
                    value: value_serde.serialize_owned(r.value),
                    timestamp: r.timestamp,
                    headers: r.headers,
                })
            })
        }));
    }

    /// Sends the records through the internal topic `<application id>-<name>-repartition`
    /// and reads them back, partitioned by their current key: records with equal keys then
    /// meet in one task.
    pub fn repartition(&self, name: &str, key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> KStream<K, V> {
        self.repartition_with(name, Arc::new(key_serde), Arc::new(value_serde))
    }

    pub(crate) fn repartition_with(
        &self,
        name: &str,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> KStream<K, V> {
        let topic = TopicName::Internal(format!("{name}-repartition"));
        self.sink(topic.clone(), key_serde.clone(), value_serde.clone());
        self.builder.graph().repartitions.push(RepartitionDef { topic: topic.clone(), writer: self.node.id });
        self.builder.source(topic, key_serde, value_serde)
    }

    /// Groups records by their key, for aggregation. If an operator changed the key, the
    /// aggregation repartitions first (through a topic named after its store).
    pub fn group_by_key(&self, key_serde: impl Serde<K>, value_serde: impl Serde<V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), Arc::new(key_serde), Arc::new(value_serde))
    }

    /// Groups records by a key `f` picks, for aggregation (always through a repartition topic).
    pub fn group_by<K2: Data>(
        &self,
        f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        key_serde: impl Serde<K2>,
        value_serde: impl Serde<V>,
    ) -> KGroupedStream<K2, V> {
        self.select_key(f).group_by_key(key_serde, value_serde)
    }
}
