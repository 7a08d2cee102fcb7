//! The engine: an instance's tasks, its producer, and its commits.
//!
//! At-least-once: a commit writes the stores' pending changelog records, flushes the producer
//! (every output acknowledged), then commits the input offsets. Exactly-once: output,
//! changelog records and input offsets (`send_offsets_to_transaction`) commit in one
//! transaction; a transaction that must abort takes every task's state with it, so the tasks
//! are rebuilt from their changelogs and the input rewound to the committed offsets.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::config::{ClientKind, StreamsConfig};
use super::inputs::Inputs;
use super::metrics::StreamsMetrics;
use super::restore::Restorer;
use super::state_dir::StateDir;
use crate::StreamsError;
use crate::builder::Topology;
use crate::record::{OutRecord, RawRecord};
use crate::task::{Task, TaskId};

/// Report batches served per call of [`Engine::serve_delivery_reports`] (one per produce
/// request answered; asking with none waiting costs a queue check).
const DELIVERY_POLLS: usize = 16;

/// How long a flush, a commit or a transaction call may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Watches the producer's deliveries: the first failure stops an at-least-once commit (the
/// offsets would otherwise pass records that were never written).
#[derive(Default)]
pub(crate) struct DeliveryWatch {
    failure: Mutex<Option<String>>,
}

impl ClientContext for DeliveryWatch {}

impl ProducerContext for DeliveryWatch {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            use rdkafka::message::Message;
            let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            failure.get_or_insert_with(|| format!("write to {}-{}: {e}", m.topic(), m.partition()));
        }
    }
}

/// The positions of one input topic's partitions read through the consumer's own queue.
struct DirectPositions {
    topic: Arc<str>,
    sub_topology: usize,
    /// The next offset to commit, by partition number (`None`: nothing read since the last
    /// commit).
    next: Vec<Option<i64>>,
}

impl DirectPositions {
    fn is(&self, topic: &Arc<str>) -> bool {
        Arc::ptr_eq(&self.topic, topic) || *self.topic == **topic
    }

    fn set(&mut self, partition: i32, next: i64) {
        let index = partition.max(0) as usize;
        if index >= self.next.len() {
            self.next.resize(index + 1, None);
        }
        self.next[index] = Some(next);
    }

    fn positions(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.next.iter().enumerate().filter_map(|(partition, next)| next.map(|n| (partition as i32, n)))
    }
}

/// A task taken away by a rebalance, kept in case it comes back: if its changelogs have not
/// moved since, its state is still right and needs no restore.
struct Suspended {
    task: Task,
    changelog_ends: Vec<i64>,
}

/// One instance's processing state.
pub(crate) struct Engine {
    topology: Topology,
    config: StreamsConfig,
    /// The sub-topology reading each source topic.
    topic_subs: HashMap<String, usize>,
    tasks: BTreeMap<TaskId, Task>,
    suspended: HashMap<TaskId, Suspended>,
    producer: BaseProducer<DeliveryWatch>,
    restorer: Restorer,
    /// The next offset to commit of the partitions read through the consumer's own queue.
    offsets: Vec<DirectPositions>,
    /// Whether a transaction is open (exactly-once).
    in_transaction: bool,
    /// Records written since the last commit (a commit with none and no offsets is skipped).
    written: u64,
    last_commit: Instant,
    /// The assigned partitions' queues.
    pub inputs: Inputs,
    /// Records the tasks wrote, on their way to the producer (kept to reuse its allocation).
    outbox: Vec<OutRecord>,
    /// An error met inside a rebalance callback, raised by the main loop.
    pub fatal: Option<StreamsError>,
    pub metrics: Arc<StreamsMetrics>,
    /// The stores on disk and their checkpoints, when the config names a state directory.
    state: Option<StateDir>,
}

impl Engine {
    pub(crate) fn new(
        topology: Topology,
        config: StreamsConfig,
        metrics: Arc<StreamsMetrics>,
    ) -> Result<Engine, StreamsError> {
        let mut topic_subs = HashMap::new();
        for (sub, topics) in topology.source_topics(&config.application_id).into_iter().enumerate() {
            for topic in topics {
                topic_subs.insert(topic, sub);
            }
        }
        let transactional_id = format!("{}-{}", config.application_id, uuid::Uuid::new_v4());
        let mut defaults = vec![
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            // Java's partitioner, as Kafka Streams uses: keys land where Java producers put them.
            ("partitioner", "murmur2_random"),
        ];
        if config.exactly_once() {
            defaults.push(("transactional.id", &transactional_id));
            // Kafka Streams' exactly-once default: a crashed instance's open transaction is
            // aborted within seconds, so the partitions it wrote move on.
            defaults.push(("transaction.timeout.ms", "10000"));
        }
        let producer: BaseProducer<DeliveryWatch> = config
            .client(ClientKind::Producer, &defaults)
            .create_with_context(DeliveryWatch::default())
            .map_err(|e| StreamsError::kafka("create the producer", e))?;
        if config.exactly_once() {
            producer
                .init_transactions(CLIENT_TIMEOUT)
                .map_err(|e| StreamsError::kafka("initialise transactions", e))?;
        }
        let inputs = Inputs::new(config.max_task_idle);
        Ok(Engine {
            restorer: Restorer::new(&config, metrics.clone())?,
            state: config.state_dir.as_ref().map(|dir| StateDir::open(&config, dir)).transpose()?,
            topology,
            config,
            topic_subs,
            tasks: BTreeMap::new(),
            suspended: HashMap::new(),
            producer,
            offsets: Vec::new(),
            in_transaction: false,
            written: 0,
            last_commit: Instant::now(),
            inputs,
            outbox: Vec::new(),
            fatal: None,
            metrics,
        })
    }

    /// Whether a task reads several partitions (joins, merges), so that each partition needs
    /// a queue of its own for the task to read them in timestamp order.
    pub(crate) fn orders_partitions(&self) -> bool {
        self.topology.sub_topologies.iter().any(|sub| sub.sources.len() > 1)
    }

    /// Every source topic, for the subscription.
    pub(crate) fn source_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.topic_subs.keys().cloned().collect();
        topics.sort();
        topics
    }

    /// Processes a record that came through the consumer's own queue (fetched before its
    /// partition's queue was split): its position is kept here rather than by the inputs.
    fn process(&mut self, record: RawRecord) -> Result<(), StreamsError> {
        // Records come in runs of one topic, sharing its name: found by pointer, not by hash.
        let index = match self.offsets.iter().position(|p| p.is(&record.topic)) {
            Some(index) => index,
            None => {
                let Some(&sub_topology) = self.topic_subs.get(&*record.topic) else { return Ok(()) };
                self.offsets.push(DirectPositions { topic: record.topic.clone(), sub_topology, next: Vec::new() });
                self.offsets.len() - 1
            }
        };
        let id = TaskId { sub_topology: self.offsets[index].sub_topology, partition: record.partition };
        if !self.tasks.contains_key(&id) {
            // Fetched before its partition was taken away: the new owner reads it from the
            // committed offset, which must not move past it.
            tracing::warn!(task = %id, "a record for a task this instance does not run; skipped");
            return Ok(());
        }
        self.offsets[index].set(record.partition, record.offset + 1);
        self.process_in(id, record)
    }

    /// Processes the records polled from the consumer's own queue, emptying `batch`; returns
    /// how many.
    pub(crate) fn process_batch(&mut self, batch: &mut Vec<RawRecord>) -> Result<usize, StreamsError> {
        let count = batch.len();
        for record in batch.drain(..) {
            self.process(record)?;
        }
        self.send_outbox()?;
        Ok(count)
    }

    /// Processes one input record in task `id` and sends what it writes.
    fn process_in(&mut self, id: TaskId, record: RawRecord) -> Result<(), StreamsError> {
        let Some(task) = self.tasks.get_mut(&id) else {
            tracing::warn!(task = %id, "a record for a task this instance does not run; skipped");
            return Ok(());
        };
        task.process(record)?;
        // Sent by the caller once its batch is done.
        task.drain_output(&mut self.outbox);
        self.metrics.processed();
        Ok(())
    }

    /// Processes up to `limit` records of the running tasks, each task's in timestamp order
    /// across its partitions; returns how many.
    pub(crate) fn process_ready(&mut self, limit: usize) -> Result<usize, StreamsError> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        let per_task = (limit / ids.len().max(1)).max(1);
        let mut processed = 0;
        for id in ids {
            let keys: Vec<(String, i32)> =
                self.source_topics_of(id.sub_topology).into_iter().map(|t| (t, id.partition)).collect();
            for _ in 0..per_task {
                let Some(record) = self.inputs.next_for(id, &keys) else { break };
                self.process_in(id, record)?;
                processed += 1;
            }
            self.send_outbox()?;
        }
        Ok(processed)
    }

    fn source_topics_of(&self, sub_topology: usize) -> Vec<String> {
        self.topic_subs.iter().filter(|(_, s)| **s == sub_topology).map(|(t, _)| t.clone()).collect()
    }

    fn begin_if_needed(&mut self) -> Result<(), StreamsError> {
        if self.config.exactly_once() && !self.in_transaction {
            self.producer.begin_transaction().map_err(|e| StreamsError::kafka("begin a transaction", e))?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Sends the records in the outbox, keeping its allocation for the next ones.
    fn send_outbox(&mut self) -> Result<(), StreamsError> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let mut records = std::mem::take(&mut self.outbox);
        let sent = self.send(records.drain(..));
        self.outbox = records;
        sent
    }

    fn send(&mut self, records: impl Iterator<Item = OutRecord>) -> Result<(), StreamsError> {
        let mut records = records.peekable();
        if records.peek().is_none() {
            return Ok(());
        }
        self.begin_if_needed()?;
        for r in records {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&r.topic).timestamp(r.timestamp);
            // No header list for a record without headers: librdkafka allocates one per record.
            if !r.headers.is_empty() {
                let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
                for (key, value) in &r.headers {
                    headers = headers.insert(Header { key, value: value.as_deref() });
                }
                record = record.headers(headers);
            }
            if let Some(key) = &r.key {
                record = record.key(key);
            }
            if let Some(value) = &r.value {
                record = record.payload(value);
            }
            if let Some(partition) = r.partition {
                record = record.partition(partition);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // Acknowledged records leave the queue once their reports are served.
                        record = back;
                        self.serve_delivery_reports();
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    Err((e, _)) => return Err(StreamsError::kafka(format!("write to {}", r.topic), e)),
                }
            }
            self.written += 1;
        }
        Ok(())
    }

    /// Waits until every record sent is acknowledged, asking librdkafka to send what lingers.
    /// rdkafka's own `flush` (which `commit_transaction` calls first) waits in 100 ms steps
    /// on this producer, so every commit would cost 100 ms; this waits in 1 ms steps, and the
    /// flush that follows finds nothing left.
    fn drain(&self) -> Result<(), StreamsError> {
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        while self.producer.in_flight_count() > 0 {
            let _ = self.producer.flush(Duration::ZERO);
            self.producer.poll(Duration::from_millis(1));
            if Instant::now() >= deadline {
                return Err(StreamsError::Config(format!(
                    "records not acknowledged within {} s; is the cluster reachable?",
                    CLIENT_TIMEOUT.as_secs()
                )));
            }
        }
        Ok(())
    }

    /// Fires every task's wall-clock punctuators that are due, and sends what they write.
    pub(crate) fn punctuate_wall_clock(&mut self) -> Result<(), StreamsError> {
        let now = now_ms();
        for task in self.tasks.values_mut() {
            task.punctuate(crate::processor::PunctuationType::WallClockTime, now)?;
            task.drain_output(&mut self.outbox);
        }
        self.send_outbox()
    }

    /// Serves the producer's delivery reports.
    pub(crate) fn poll_producer(&self) {
        self.serve_delivery_reports();
    }

    /// Serves the delivery reports waiting. rdkafka's `poll` serves one report batch when
    /// given no time, and waits out the whole time when given some (even with reports to
    /// serve), so this asks often with none.
    fn serve_delivery_reports(&self) {
        for _ in 0..DELIVERY_POLLS {
            self.producer.poll(Duration::ZERO);
        }
    }

    /// Whether the commit interval has passed.
    pub(crate) fn commit_due(&self) -> bool {
        self.last_commit.elapsed() >= self.config.commit_interval
    }

    /// Commits what every task has done: changelogs, output, input offsets.
    pub(crate) fn commit<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<(), StreamsError> {
        self.last_commit = Instant::now();
        let now = now_ms();
        for task in self.tasks.values_mut() {
            let timestamp = if task.ctx.stream_time >= 0 { task.ctx.stream_time } else { now };
            task.ctx.flush_changelogs(timestamp);
            task.drain_output(&mut self.outbox);
        }
        self.send_outbox()?;
        let taken = self.inputs.positions();
        if self.offsets.is_empty() && taken.is_empty() && self.written == 0 {
            return Ok(());
        }
        // A store that lost a write must not have its input committed past it.
        if let Some(failure) = self.tasks.values().find_map(|t| t.ctx.store_failure()) {
            return Err(StreamsError::State(format!("{failure}; the offsets were not committed")));
        }
        let mut positions = TopicPartitionList::new();
        for (topic, partition, offset) in &taken {
            positions
                .add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| StreamsError::kafka("list offsets to commit", e))?;
        }
        for direct in &self.offsets {
            for (partition, offset) in direct.positions() {
                positions
                    .add_partition_offset(&direct.topic, partition, Offset::Offset(offset))
                    .map_err(|e| StreamsError::kafka("list offsets to commit", e))?;
            }
        }
        let started = Instant::now();
        if self.config.exactly_once() {
            self.commit_transaction(consumer, &positions)?;
            tracing::debug!(us = started.elapsed().as_micros() as u64, "committed a transaction");
        } else {
            self.drain()?;
            if let Some(failure) = self.producer.context().failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(StreamsError::Config(format!("{failure}; the offsets were not committed")));
            }
            if positions.count() > 0 {
                consumer
                    .commit(&positions, CommitMode::Sync)
                    .map_err(|e| StreamsError::kafka("commit the input offsets", e))?;
            }
            // At-least-once keeps checkpoints current at every commit (a crash then restores
            // only the changelog's tail; the input since the commit is processed again).
            let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
            self.write_checkpoints(&ids)?;
        }
        self.offsets.clear();
        self.inputs.clear_positions();
        self.written = 0;
        self.metrics.committed();
        self.metrics.set_late(self.tasks.values().map(|t| t.ctx.late_records()).sum());
        Ok(())
    }

    fn commit_transaction<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        positions: &TopicPartitionList,
    ) -> Result<(), StreamsError> {
        self.begin_if_needed()?;
        let result = (|| {
            if positions.count() > 0 {
                let group = consumer
                    .group_metadata()
                    .ok_or_else(|| StreamsError::Config("the consumer has no group metadata".into()))?;
                self.producer
                    .send_offsets_to_transaction(positions, &group, CLIENT_TIMEOUT)
                    .map_err(|e| StreamsError::kafka("add the input offsets to the transaction", e))?;
            }
            self.drain()?;
            self.producer
                .commit_transaction(CLIENT_TIMEOUT)
                .map_err(|e| StreamsError::kafka("commit the transaction", e))
        })();
        self.in_transaction = false;
        match result {
            Ok(()) => Ok(()),
            Err(StreamsError::Kafka { source: KafkaError::Transaction(e), context }) if e.txn_requires_abort() => {
                tracing::warn!(error = %e, "{context} failed; aborting and rebuilding the tasks from their changelogs");
                self.producer
                    .abort_transaction(CLIENT_TIMEOUT)
                    .map_err(|e| StreamsError::kafka("abort the transaction", e))?;
                self.rewind(consumer)
            }
            Err(StreamsError::Kafka { source: KafkaError::Transaction(e), .. }) if e.is_fatal() => {
                Err(StreamsError::Fenced(format!("{e}: another instance took over this one's work")))
            }
            Err(e) => Err(e),
        }
    }

    /// After an aborted transaction: every task's state and position is thrown away and taken
    /// again from the changelogs and the committed offsets.
    fn rewind<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<(), StreamsError> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        self.tasks.clear();
        self.suspended.clear();
        self.offsets.clear();
        self.inputs.clear_positions();
        self.written = 0;
        let assignment = consumer.assignment().map_err(|e| StreamsError::kafka("read the assignment", e))?;
        let committed = consumer
            .committed_offsets(assignment, CLIENT_TIMEOUT)
            .map_err(|e| StreamsError::kafka("read the committed offsets", e))?;
        for mut elem in committed.elements() {
            if !matches!(elem.offset(), Offset::Offset(_)) {
                elem.set_offset(Offset::Beginning).map_err(|e| StreamsError::kafka("rewind", e))?;
            }
        }
        consumer.seek_partitions(committed, CLIENT_TIMEOUT).map_err(|e| StreamsError::kafka("rewind the input", e))?;
        for id in ids {
            self.start_task(id)?;
        }
        Ok(())
    }

    /// Creates and restores task `id`, or takes it back from the suspended ones.
    fn start_task(&mut self, id: TaskId) -> Result<(), StreamsError> {
        let mut checkpoint = HashMap::new();
        if let Some(state) = &self.state {
            checkpoint = state.checkpoint(id);
            if self.config.exactly_once() {
                // From here on the stores take writes that may yet be aborted: until the next
                // clean stop, a crash must leave them untrusted.
                state.remove_checkpoint(id)?;
            }
        }
        if let Some(suspended) = self.suspended.remove(&id)
            && self.changelog_ends(&suspended.task)? == suspended.changelog_ends
        {
            tracing::info!(task = %id, "task resumed with its state (its changelogs did not move)");
            self.tasks.insert(id, suspended.task);
            return Ok(());
        }
        let mut task = match &self.state {
            None => Task::new(&self.topology, &self.config.application_id, id),
            Some(state) => {
                Task::with_stores(&self.topology, &self.config.application_id, id, &mut |store| state.store(id, store))?
            }
        };
        let restored = self.restorer.restore(&mut task, &checkpoint)?;
        self.metrics.restored(restored.records, restored.elapsed);
        self.tasks.insert(id, task);
        Ok(())
    }

    /// Writes the checkpoints of tasks `ids` (running or suspended) once their stores are on
    /// disk: each store is current up to its changelog's end. Call only after a commit, with
    /// every changelog record acknowledged.
    fn write_checkpoints(&self, ids: &[TaskId]) -> Result<(), StreamsError> {
        let Some(state) = &self.state else { return Ok(()) };
        state.sync()?;
        for id in ids {
            let Some(task) = self.tasks.get(id).or_else(|| self.suspended.get(id).map(|s| &s.task)) else { continue };
            let mut offsets = Vec::new();
            for (store, changelog) in task.changelogs() {
                offsets.push((store, self.restorer.end_offset(&changelog, id.partition)?));
            }
            state.write_checkpoint(*id, &offsets)?;
        }
        Ok(())
    }

    /// After the last commit of a clean stop: every task's checkpoint, so that the next
    /// start restores only what the changelogs gain meanwhile.
    pub(crate) fn close(&mut self) -> Result<(), StreamsError> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        self.write_checkpoints(&ids)
    }

    fn changelog_ends(&self, task: &Task) -> Result<Vec<i64>, StreamsError> {
        task.changelogs().iter().map(|(_, changelog)| self.restorer.end_offset(changelog, task.id.partition)).collect()
    }

    /// The group took partitions away: commit, then suspend their tasks.
    pub(crate) fn revoke<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partitions: &TopicPartitionList,
    ) -> Result<(), StreamsError> {
        self.commit(consumer)?;
        let ids = self.task_ids(partitions);
        self.write_checkpoints(&ids)?;
        for id in ids {
            if let Some(task) = self.tasks.remove(&id) {
                let changelog_ends = self.changelog_ends(&task)?;
                self.suspended.insert(id, Suspended { task, changelog_ends });
            }
        }
        Ok(())
    }

    /// The group gave partitions: start their tasks (restoring state), and forget suspended
    /// tasks that went elsewhere.
    pub(crate) fn assign(&mut self, partitions: &TopicPartitionList) -> Result<(), StreamsError> {
        let ids = self.task_ids(partitions);
        for id in &ids {
            if !self.tasks.contains_key(id) {
                self.start_task(*id)?;
            }
        }
        self.suspended.clear();
        self.metrics.set_tasks(self.tasks.len());
        tracing::info!(tasks = ?self.tasks.keys().map(|id| id.to_string()).collect::<Vec<_>>(), "tasks assigned");
        Ok(())
    }

    fn task_ids(&self, partitions: &TopicPartitionList) -> Vec<TaskId> {
        let ids: HashSet<TaskId> = partitions
            .elements()
            .iter()
            .filter_map(|e| {
                let sub_topology = *self.topic_subs.get(e.topic())?;
                Some(TaskId { sub_topology, partition: e.partition() })
            })
            .collect();
        let mut ids: Vec<TaskId> = ids.into_iter().collect();
        ids.sort();
        ids
    }

    /// A store's value by key, in whichever task of this instance holds it.
    pub(crate) fn store_get(&self, store: &str, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let mut holders = self.tasks.values().filter(|t| t.ctx.stores.contains_key(store)).peekable();
        holders.peek()?;
        Some(holders.find_map(|t| t.ctx.get(store, key)))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
