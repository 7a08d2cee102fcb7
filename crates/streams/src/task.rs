//! A task: one sub-topology's processors and stores for one partition of its sources.

use crate::StreamsError;
use crate::builder::Topology;
use crate::context::{Origin, TaskContext};
use crate::graph::{Instantiator, SourceProcessor};
use crate::processor::{PunctuationType, Scheduled};
use crate::record::{OutRecord, RawRecord};
use crate::store::{KeyValueStore, MemoryStore};

/// Opens a task's store by name: in memory, or on disk in the state directory.
pub(crate) type StoreOpener<'a> = dyn FnMut(&str) -> Result<Box<dyn KeyValueStore>, StreamsError> + 'a;

/// Which task: a sub-topology and a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology's index in the topology.
    pub sub_topology: usize,
    /// The partition of its sources.
    pub partition: i32,
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.sub_topology, self.partition)
    }
}

/// One task's processors and state.
pub(crate) struct Task {
    pub id: TaskId,
    /// Sources with their full topic names (a handful: a list beats hashing every record).
    sources: Vec<(String, Box<dyn SourceProcessor>)>,
    /// The index in `sources` of the last record's topic.
    last_source: usize,
    /// Punctuators of its processors.
    punctuators: Vec<Scheduled>,
    pub ctx: TaskContext,
}

impl Task {
    /// Instantiates sub-topology `id.sub_topology` for `id.partition`, with empty stores.
    pub(crate) fn new(topology: &Topology, application_id: &str, id: TaskId) -> Task {
        Task::with_stores(topology, application_id, id, &mut |_| Ok(Box::new(MemoryStore::default())))
            .expect("in-memory stores always open")
    }

    /// A task whose stores `open_store` opens (by store name).
    pub(crate) fn with_stores(
        topology: &Topology,
        application_id: &str,
        id: TaskId,
        open_store: &mut StoreOpener<'_>,
    ) -> Result<Task, StreamsError> {
        let sub = &topology.sub_topologies[id.sub_topology];
        let mut inst = Instantiator::new(application_id);
        let sources = sub.sources.iter().map(|s| (s.topic.full(application_id), (s.factory)(&mut inst))).collect();
        let mut stores = Vec::new();
        for s in &sub.stores {
            stores.push((s.name.clone(), s.changelog().full(application_id), open_store(&s.name)?));
        }
        Ok(Task {
            id,
            sources,
            last_source: 0,
            punctuators: std::mem::take(&mut inst.punctuators),
            ctx: TaskContext::new(id.partition, stores),
        })
    }

    /// Processes one record of one of its sources.
    pub(crate) fn process(&mut self, record: RawRecord) -> Result<(), StreamsError> {
        // Records come in runs of one topic sharing its name: the last one's source, found
        // by pointer.
        if !std::sync::Arc::ptr_eq(&self.ctx.origin.topic, &record.topic) {
            let Some(index) = self.sources.iter().position(|(topic, _)| **topic == *record.topic) else {
                return Err(StreamsError::Driver(format!("task {} does not read topic {}", self.id, record.topic)));
            };
            self.last_source = index;
            self.ctx.origin.topic = record.topic.clone();
        }
        let source = &mut self.sources[self.last_source].1;
        self.ctx.origin.offset = record.offset;
        self.ctx.ids_for_origin = 0;
        source.process(&mut self.ctx, record)?;
        self.take_error()?;
        self.punctuate(PunctuationType::StreamTime, self.ctx.stream_time)
    }

    fn take_error(&mut self) -> Result<(), StreamsError> {
        match self.ctx.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Fires the punctuators of `kind` that are due at `now`.
    pub(crate) fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<(), StreamsError> {
        // Most records fire nothing: the origin (which names what punctuators write) is
        // made only when one is due.
        if now == i64::MIN || !self.punctuators.iter_mut().any(|s| s.kind == kind && s.is_due(now)) {
            return Ok(());
        }
        self.ctx.origin = Origin { topic: format!("punctuation of task {}", self.id).into(), offset: now };
        self.ctx.ids_for_origin = 0;
        for scheduled in self.punctuators.iter_mut().filter(|s| s.kind == kind) {
            scheduled.fire_if_due(&mut self.ctx, now);
        }
        self.take_error()
    }

    /// What it has written since last asked.
    pub(crate) fn take_output(&mut self) -> Vec<OutRecord> {
        std::mem::take(&mut self.ctx.output)
    }

    /// Moves what it has written since last asked to the end of `out`.
    pub(crate) fn drain_output(&mut self, out: &mut Vec<OutRecord>) {
        out.append(&mut self.ctx.output);
    }

    /// Its stores: (store name, changelog topic).
    pub(crate) fn changelogs(&self) -> Vec<(String, String)> {
        self.ctx.stores.iter().map(|(name, s)| (name.clone(), s.changelog.to_string())).collect()
    }
}
