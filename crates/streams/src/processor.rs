//! Custom processors: user code with stores and punctuators (callbacks on stream time or
//! wall-clock time), for what the DSL does not say (Kafka Streams' `process`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::context::TaskContext;
use crate::graph::{Data, Downstream, Instantiator, Processor, StoreDef};
use crate::grouped::check_store_name;
use crate::record::Record;
use crate::stream::KStream;

/// What drives a punctuator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunctuationType {
    /// The task's stream time (the largest record timestamp it has seen): deterministic, and
    /// silent while no records arrive.
    StreamTime,
    /// The clock on the wall: fires even when no records arrive.
    WallClockTime,
}

/// What a custom processor can do while it handles a record or a punctuation.
pub struct ProcessorContext<'a, KO, VO> {
    task: &'a mut TaskContext,
    down: &'a Downstream<KO, VO>,
}

impl<KO: Data, VO: Data> ProcessorContext<'_, KO, VO> {
    /// Sends a record downstream.
    pub fn forward(&mut self, record: Record<KO, VO>) {
        self.down.forward(self.task, record)
    }

    /// The value of `key` in store `store` (one the processor declared).
    pub fn get(&self, store: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.task.get(store, key)
    }

    /// Sets `key` in store `store`; the changelog gets it at the next commit.
    pub fn put(&mut self, store: &str, key: Vec<u8>, value: Vec<u8>) {
        self.task.put(store, key, value)
    }

    /// Removes `key` from store `store`.
    pub fn delete(&mut self, store: &str, key: &[u8]) {
        self.task.delete(store, key)
    }

    /// Entries of store `store` with `from <= key < to` (`to = None`: to the end), in order.
    pub fn range(&self, store: &str, from: &[u8], to: Option<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.task.range(store, from, to)
    }

    /// The task's stream time.
    pub fn stream_time(&self) -> i64 {
        self.task.stream_time()
    }

    /// The task's partition.
    pub fn partition(&self) -> i32 {
        self.task.partition()
    }
}

/// User code run on every record of a stream, and on the punctuations it asked for.
pub trait CustomProcessor<K, V, KO, VO>: Send {
    /// Handles one record.
    fn process(&mut self, ctx: &mut ProcessorContext<'_, KO, VO>, record: Record<K, V>);

    /// Called on each punctuation, with the stream time or wall-clock time (ms) that fired it.
    fn punctuate(&mut self, _ctx: &mut ProcessorContext<'_, KO, VO>, _kind: PunctuationType, _time: i64) {}
}

/// A punctuation target in a task.
pub(crate) trait Punctuate: Send {
    fn punctuate(&mut self, ctx: &mut TaskContext, kind: PunctuationType, time: i64);
}

/// A punctuator registered by a processor in a task.
pub(crate) struct Scheduled {
    pub kind: PunctuationType,
    pub interval_ms: i64,
    /// When it fires next (`None`: not yet started).
    pub next: Option<i64>,
    pub target: Arc<Mutex<dyn Punctuate>>,
}

impl Scheduled {
    /// Fires if `now` (of its kind) reached its time; returns whether it did.
    /// Whether it fires at `now` (the first call sets its schedule).
    pub(crate) fn is_due(&mut self, now: i64) -> bool {
        let interval = self.interval_ms.max(1);
        let next = *self.next.get_or_insert(match self.kind {
            // Stream time: on interval boundaries.
            PunctuationType::StreamTime => now - now.rem_euclid(interval) + interval,
            PunctuationType::WallClockTime => now.saturating_add(interval),
        });
        now >= next
    }

    pub(crate) fn fire_if_due(&mut self, ctx: &mut TaskContext, now: i64) -> bool {
        if !self.is_due(now) {
            return false;
        }
        let interval = self.interval_ms.max(1);
        self.target.lock().unwrap_or_else(|p| p.into_inner()).punctuate(ctx, self.kind, now);
        self.next = Some(match self.kind {
            PunctuationType::StreamTime => now - now.rem_euclid(interval) + interval,
            PunctuationType::WallClockTime => now.saturating_add(interval),
        });
        true
    }
}

/// A custom processor in a task, with its downstream.
struct CustomNode<P, KO, VO> {
    inner: P,
    down: Downstream<KO, VO>,
}

impl<K, V, KO: Data, VO: Data, P: CustomProcessor<K, V, KO, VO>> Processor<K, V> for CustomNode<P, KO, VO> {
    fn process(&mut self, ctx: &mut TaskContext, record: Record<K, V>) {
        let mut pctx = ProcessorContext { task: ctx, down: &self.down };
        self.inner.process(&mut pctx, record)
    }
}

/// Punctuation goes through a processor typed on its input, which the schedule cannot name.
struct PunctuateVia<P, K, V, KO, VO> {
    node: Arc<Mutex<CustomNode<P, KO, VO>>>,
    _input: std::marker::PhantomData<fn(K, V)>,
}

impl<K, V, KO: Data, VO: Data, P: CustomProcessor<K, V, KO, VO>> Punctuate for PunctuateVia<P, K, V, KO, VO> {
    fn punctuate(&mut self, ctx: &mut TaskContext, kind: PunctuationType, time: i64) {
        let mut node = self.node.lock().unwrap_or_else(|p| p.into_inner());
        let node = &mut *node;
        let mut pctx = ProcessorContext { task: ctx, down: &node.down };
        node.inner.punctuate(&mut pctx, kind, time)
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Runs a custom processor (one made by `make` per task) on every record. It punctuates
    /// as `punctuations` ask, and owns the stores named in `stores` (each with a changelog).
    pub fn process<KO: Data, VO: Data, P: CustomProcessor<K, V, KO, VO> + 'static>(
        &self,
        make: impl Fn() -> P + Send + Sync + 'static,
        punctuations: &[(PunctuationType, Duration)],
        stores: &[&str],
    ) -> KStream<KO, VO> {
        let out = self.builder.node::<KO, VO>(Some(self.node.id));
        let target = out.clone();
        let schedule: Vec<(PunctuationType, i64)> =
            punctuations.iter().map(|(kind, every)| (*kind, crate::windows::ms(*every))).collect();
        self.node.add_child(Arc::new(move |inst: &mut Instantiator| {
            let node = Arc::new(Mutex::new(CustomNode { inner: make(), down: inst.downstream(&target) }));
            for (kind, interval_ms) in &schedule {
                let via = PunctuateVia::<P, K, V, KO, VO> { node: node.clone(), _input: std::marker::PhantomData };
                inst.punctuators.push(Scheduled {
                    kind: *kind,
                    interval_ms: *interval_ms,
                    next: None,
                    target: Arc::new(Mutex::new(via)),
                });
            }
            node
        }));
        let mut graph = self.builder.graph();
        for store in stores {
            check_store_name(store);
            graph.stores.push(StoreDef { name: store.to_string(), node: out.id });
        }
        drop(graph);
        KStream::new(self.builder.clone(), out, true)
    }
}
