//! `StreamsBuilder`: where a topology starts (its source topics), and `Topology`, what it builds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::StreamsError;
use crate::context::TaskContext;
use crate::graph::{Data, Downstream, Graph, Instantiator, Node, SourceDef, SourceProcessor, SubTopology, TopicName};
use crate::record::{RawRecord, Record};
use crate::serdes::Serde;
use crate::stream::KStream;

/// Builds a topology: call [`StreamsBuilder::stream`] for each input, chain operators on the
/// streams, then [`StreamsBuilder::build`].
#[derive(Clone, Default)]
pub struct StreamsBuilder {
    graph: Arc<Mutex<Graph>>,
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new node connected to `parent`'s sub-topology (a new one if `None`).
    pub(crate) fn node<K: Data, V: Data>(&self, parent: Option<usize>) -> Arc<Node<K, V>> {
        Arc::new(Node::new(self.graph().new_node(parent)))
    }

    /// The records of `topic`, decoded with `key_serde` and `value_serde`.
    pub fn stream<K: Data, V: Data>(
        &self,
        topic: &str,
        key_serde: impl Serde<K>,
        value_serde: impl Serde<V>,
    ) -> KStream<K, V> {
        self.source(TopicName::External(topic.to_string()), Arc::new(key_serde), Arc::new(value_serde))
    }

    /// A stream read from `topic`, in a sub-topology of its own.
    pub(crate) fn source<K: Data, V: Data>(
        &self,
        topic: TopicName,
        key_serde: Arc<dyn Serde<K>>,
        value_serde: Arc<dyn Serde<V>>,
    ) -> KStream<K, V> {
        let node = self.node::<K, V>(None);
        let for_factory = node.clone();
        let factory = Arc::new(move |inst: &mut Instantiator| {
            let source = Source {
                key_serde: key_serde.clone(),
                value_serde: value_serde.clone(),
                down: inst.downstream(&for_factory),
            };
            Box::new(source) as Box<dyn SourceProcessor>
        });
        self.graph().sources.push(SourceDef { topic, node: node.id, factory });
        KStream::new(self.clone(), node, false)
    }

    /// The topology built so far. Fails on a topic read by two sources or a store name used
    /// twice.
    pub fn build(&self) -> Result<Topology, StreamsError> {
        let mut graph = self.graph();
        let mut topics = HashSet::new();
        for source in &graph.sources {
            if !topics.insert(source.topic.clone()) {
                return Err(StreamsError::Topology(format!(
                    "topic {:?} is read by two sources; read it once and branch or reuse the stream",
                    source.topic
                )));
            }
        }
        let mut stores = HashSet::new();
        for store in &graph.stores {
            if !stores.insert(store.name.clone()) {
                return Err(StreamsError::Topology(format!("store name {} is used twice", store.name)));
            }
        }
        if graph.sources.is_empty() {
            return Err(StreamsError::Topology("no source topic: call StreamsBuilder::stream".into()));
        }
        Ok(Topology { sub_topologies: graph.sub_topologies() })
    }
}

/// Decodes a source topic's records.
struct Source<K, V> {
    key_serde: Arc<dyn Serde<K>>,
    value_serde: Arc<dyn Serde<V>>,
    down: Downstream<K, V>,
}

impl<K: Data, V: Data> SourceProcessor for Source<K, V> {
    fn process(&mut self, ctx: &mut TaskContext, raw: RawRecord) -> Result<(), StreamsError> {
        let RawRecord { topic, partition, offset, key, value, timestamp, headers } = raw;
        let failed = |what, reason: crate::serdes::SerdeError| StreamsError::Deserialize {
            what,
            topic: topic.to_string(),
            partition,
            offset,
            reason: reason.0,
        };
        let key = self.key_serde.deserialize_owned(key).map_err(|e| failed("key", e))?;
        let value = self.value_serde.deserialize_owned(value).map_err(|e| failed("value", e))?;
        ctx.stream_time = ctx.stream_time.max(timestamp);
        let record = Record { key, value, timestamp, headers };
        self.down.forward(ctx, record);
        Ok(())
    }
}

/// A built topology: sub-topologies, each run as one task per partition of its sources.
#[derive(Clone)]
pub struct Topology {
    pub(crate) sub_topologies: Vec<SubTopology>,
}

impl Topology {
    /// Every source topic's full name, per sub-topology.
    pub(crate) fn source_topics(&self, application_id: &str) -> Vec<Vec<String>> {
        self.sub_topologies
            .iter()
            .map(|sub| sub.sources.iter().map(|s| s.topic.full(application_id)).collect())
            .collect()
    }

    /// A readable outline: sub-topologies with their sources, stores and internal outputs.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, sub) in self.sub_topologies.iter().enumerate() {
            let name = |t: &TopicName| match t {
                TopicName::External(n) => n.clone(),
                TopicName::Internal(n) => format!("<app>-{n}"),
            };
            let sources: Vec<String> = sub.sources.iter().map(|s| name(&s.topic)).collect();
            let stores: Vec<&str> = sub.stores.iter().map(|s| s.name.as_str()).collect();
            let writes: Vec<String> = sub.writes.iter().map(name).collect();
            out.push_str(&format!(
                "sub-topology {i}: sources [{}] stores [{}] writes [{}]\n",
                sources.join(", "),
                stores.join(", "),
                writes.join(", ")
            ));
        }
        out
    }
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
