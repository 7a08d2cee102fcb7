//! The processor graph: nodes the DSL creates at build time, and their instances in a task.
//!
//! Every DSL call adds a node and registers, on its parent, a factory that makes the
//! operator's processor wired to the new node's children. A task instantiates the graph from
//! its sources down; a node's children are instantiated once per task however many parents
//! feed it (`merge`, joins), so processors form the same DAG as the DSL.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::StreamsError;
use crate::context::TaskContext;
use crate::record::{RawRecord, Record};

/// What a key or value type must be to flow through a topology: cloned when a node feeds
/// several children, and moved between threads with its task.
pub trait Data: Clone + Send + 'static {}
impl<T: Clone + Send + 'static> Data for T {}

/// An operator's instance in a task.
pub(crate) trait Processor<K, V>: Send {
    /// Handles one record, forwarding what it produces.
    fn process(&mut self, ctx: &mut TaskContext, record: Record<K, V>);
}

impl<K, V, F: FnMut(&mut TaskContext, Record<K, V>) + Send> Processor<K, V> for F {
    fn process(&mut self, ctx: &mut TaskContext, record: Record<K, V>) {
        self(ctx, record)
    }
}

/// A processor instance, shared by the parents that feed it.
pub(crate) type ProcessorRef<K, V> = Arc<Mutex<dyn Processor<K, V>>>;

/// Wraps a processor for the graph.
pub(crate) fn processor<K, V>(p: impl Processor<K, V> + 'static) -> ProcessorRef<K, V> {
    Arc::new(Mutex::new(p))
}

/// The instantiated children of one node in one task.
pub(crate) struct Downstream<K, V> {
    children: Arc<[ProcessorRef<K, V>]>,
}

impl<K, V> Clone for Downstream<K, V> {
    fn clone(&self) -> Self {
        Downstream { children: self.children.clone() }
    }
}

impl<K: Data, V: Data> Downstream<K, V> {
    /// Hands `record` to every child (cloned for all but the last).
    pub(crate) fn forward(&self, ctx: &mut TaskContext, record: Record<K, V>) {
        if let Some((last, rest)) = self.children.split_last() {
            for child in rest {
                child.lock().unwrap_or_else(|p| p.into_inner()).process(ctx, record.clone());
            }
            last.lock().unwrap_or_else(|p| p.into_inner()).process(ctx, record);
        }
    }
}

/// Makes one child's processor in a task.
pub(crate) type Factory<K, V> = Arc<dyn Fn(&mut Instantiator) -> ProcessorRef<K, V> + Send + Sync>;

/// A node of the DSL graph carrying records of type `(K, V)`.
pub(crate) struct Node<K, V> {
    /// Unique in its builder; also its slot in the builder's union-find.
    pub id: usize,
    /// Its children's factories.
    children: Mutex<Vec<Factory<K, V>>>,
}

impl<K: Data, V: Data> Node<K, V> {
    pub(crate) fn new(id: usize) -> Self {
        Node { id, children: Mutex::new(Vec::new()) }
    }

    /// Adds a child.
    pub(crate) fn add_child(&self, factory: Factory<K, V>) {
        self.children.lock().unwrap_or_else(|p| p.into_inner()).push(factory);
    }
}

/// Instantiates a task's processors, once per node.
pub(crate) struct Instantiator {
    /// The application id: internal topic names start with it.
    pub application_id: String,
    /// Punctuators the task's processors registered.
    pub punctuators: Vec<crate::processor::Scheduled>,
    /// Each node's instantiated children, by node id.
    made: HashMap<usize, Box<dyn Any>>,
}

impl Instantiator {
    pub(crate) fn new(application_id: &str) -> Self {
        Instantiator { application_id: application_id.to_string(), punctuators: Vec::new(), made: HashMap::new() }
    }

    /// `node`'s children in this task, made on first use.
    pub(crate) fn downstream<K: Data, V: Data>(&mut self, node: &Node<K, V>) -> Downstream<K, V> {
        if let Some(made) = self.made.get(&node.id) {
            return made.downcast_ref::<Downstream<K, V>>().expect("one node, one record type").clone();
        }
        let factories = node.children.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let children: Vec<ProcessorRef<K, V>> = factories.iter().map(|make| make(self)).collect();
        let made = Downstream { children: children.into() };
        self.made.insert(node.id, Box::new(made.clone()));
        made
    }
}

/// A source's instance: decodes raw records and feeds its node's children.
pub(crate) trait SourceProcessor: Send {
    fn process(&mut self, ctx: &mut TaskContext, record: RawRecord) -> Result<(), StreamsError>;
}

/// A topic name as the topology knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TopicName {
    /// A topic the application does not own.
    External(String),
    /// A topic the application creates and owns; its full name is `<application id>-<suffix>`.
    Internal(String),
}

impl TopicName {
    pub(crate) fn full(&self, application_id: &str) -> String {
        match self {
            TopicName::External(name) => name.clone(),
            TopicName::Internal(suffix) => format!("{application_id}-{suffix}"),
        }
    }
}

/// Makes a source's processor in a task.
pub(crate) type SourceFactory = Arc<dyn Fn(&mut Instantiator) -> Box<dyn SourceProcessor> + Send + Sync>;

/// A source topic of the topology.
#[derive(Clone)]
pub(crate) struct SourceDef {
    pub topic: TopicName,
    pub node: usize,
    pub factory: SourceFactory,
}

/// A state store of the topology.
#[derive(Debug, Clone)]
pub(crate) struct StoreDef {
    pub name: String,
    /// The node that writes it (sources and stores joined by nodes form one sub-topology).
    pub node: usize,
}

impl StoreDef {
    /// Its changelog topic (Kafka Streams' naming).
    pub(crate) fn changelog(&self) -> TopicName {
        TopicName::Internal(format!("{}-changelog", self.name))
    }
}

/// An internal topic written by the node `writer`.
#[derive(Debug, Clone)]
pub(crate) struct RepartitionDef {
    pub topic: TopicName,
    pub writer: usize,
}

/// What the DSL has built so far.
#[derive(Default)]
pub(crate) struct Graph {
    /// Union-find parents, one slot per node.
    parent: Vec<usize>,
    pub sources: Vec<SourceDef>,
    pub stores: Vec<StoreDef>,
    pub repartitions: Vec<RepartitionDef>,
    /// Nodes of joins: their sub-topology's sources must be co-partitioned.
    pub joins: Vec<usize>,
}

impl Graph {
    /// A new node id, connected to `connected` (its parent) if any.
    pub(crate) fn new_node(&mut self, connected: Option<usize>) -> usize {
        let id = self.parent.len();
        self.parent.push(id);
        if let Some(other) = connected {
            self.union(id, other);
        }
        id
    }

    fn root(&mut self, mut id: usize) -> usize {
        while self.parent[id] != id {
            self.parent[id] = self.parent[self.parent[id]];
            id = self.parent[id];
        }
        id
    }

    /// Puts two nodes into the same sub-topology.
    pub(crate) fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.parent[a] = b;
        }
    }

    /// Sub-topologies: sources and stores grouped by the nodes connecting them, in the order
    /// their first source was added.
    pub(crate) fn sub_topologies(&mut self) -> Vec<SubTopology> {
        let mut by_root: Vec<(usize, SubTopology)> = Vec::new();
        for source in self.sources.clone() {
            let root = self.root(source.node);
            match by_root.iter_mut().find(|(r, _)| *r == root) {
                Some((_, sub)) => sub.sources.push(source),
                None => by_root.push((
                    root,
                    SubTopology { sources: vec![source], stores: Vec::new(), writes: Vec::new(), joins: false },
                )),
            }
        }
        for store in self.stores.clone() {
            let root = self.root(store.node);
            if let Some((_, sub)) = by_root.iter_mut().find(|(r, _)| *r == root) {
                sub.stores.push(store);
            }
        }
        for write in self.repartitions.clone() {
            let root = self.root(write.writer);
            if let Some((_, sub)) = by_root.iter_mut().find(|(r, _)| *r == root) {
                sub.writes.push(write.topic);
            }
        }
        for join in self.joins.clone() {
            let root = self.root(join);
            if let Some((_, sub)) = by_root.iter_mut().find(|(r, _)| *r == root) {
                sub.joins = true;
            }
        }
        by_root.into_iter().map(|(_, sub)| sub).collect()
    }
}

/// Sources and stores that work together: one task per partition of its sources.
#[derive(Clone)]
pub(crate) struct SubTopology {
    pub sources: Vec<SourceDef>,
    pub stores: Vec<StoreDef>,
    /// Internal topics it writes (read by other sub-topologies).
    pub writes: Vec<TopicName>,
    /// Whether it joins: then every source must have the same partition count, so that
    /// partition `p` of each holds the same keys.
    pub joins: bool,
}
