//! A test driver: runs a topology in-process with no broker, for unit tests of topologies.
//!
//! Every sub-topology runs as one task on partition 0. A piped record is processed at once,
//! records written to repartition topics are fed to the sub-topologies that read them, and
//! everything written to other topics can be read back, typed. Stores can be read by key.

use std::collections::{HashMap, VecDeque};

use crate::StreamsError;
use crate::builder::Topology;
use crate::record::{OutRecord, RawRecord, Record};
use crate::serdes::Serde;
use crate::task::{Task, TaskId};

/// The application id the driver runs under (internal topics are named after it).
pub const DRIVER_APPLICATION_ID: &str = "test-driver";

/// Runs a topology without Kafka.
pub struct TestDriver {
    tasks: Vec<Task>,
    /// Which task reads each topic.
    routes: HashMap<String, usize>,
    /// Records written to topics no task reads, per topic, oldest first.
    outputs: HashMap<String, VecDeque<OutRecord>>,
    /// The next offset per topic read.
    offsets: HashMap<String, i64>,
    /// The driver's wall clock, ms: moved only by [`TestDriver::advance_wall_clock`].
    wall_clock_ms: i64,
}

impl TestDriver {
    /// A driver for `topology`.
    pub fn new(topology: &Topology) -> TestDriver {
        let mut routes = HashMap::new();
        let tasks: Vec<Task> = (0..topology.sub_topologies.len())
            .map(|sub_topology| Task::new(topology, DRIVER_APPLICATION_ID, TaskId { sub_topology, partition: 0 }))
            .collect();
        for (i, topics) in topology.source_topics(DRIVER_APPLICATION_ID).into_iter().enumerate() {
            for topic in topics {
                routes.insert(topic, i);
            }
        }
        TestDriver { tasks, routes, outputs: HashMap::new(), offsets: HashMap::new(), wall_clock_ms: 0 }
    }

    /// Writes a record to `topic` and processes it, and everything it causes, before returning.
    pub fn pipe<K, V>(
        &mut self,
        topic: &str,
        key_serde: &impl Serde<K>,
        value_serde: &impl Serde<V>,
        record: Record<K, V>,
    ) -> Result<(), StreamsError> {
        if !self.routes.contains_key(topic) {
            return Err(StreamsError::Driver(format!("no source reads topic {topic}")));
        }
        let first = OutRecord {
            topic: topic.into(),
            partition: None,
            key: key_serde.serialize(&record.key),
            value: value_serde.serialize(&record.value),
            timestamp: record.timestamp,
            headers: record.headers,
        };
        self.route(VecDeque::from([first]))
    }

    /// Moves the wall clock on by `by` and fires the wall-clock punctuators now due.
    pub fn advance_wall_clock(&mut self, by: std::time::Duration) -> Result<(), StreamsError> {
        self.wall_clock_ms += crate::windows::ms(by);
        let mut queue = VecDeque::new();
        for task in &mut self.tasks {
            task.punctuate(crate::processor::PunctuationType::WallClockTime, self.wall_clock_ms)?;
            let timestamp = task.ctx.stream_time;
            task.ctx.flush_changelogs(timestamp);
            queue.extend(task.take_output());
        }
        self.route(queue)
    }

    /// Delivers records: to the task reading their topic (and what that causes), or to the
    /// outputs.
    fn route(&mut self, mut queue: VecDeque<OutRecord>) -> Result<(), StreamsError> {
        while let Some(out) = queue.pop_front() {
            let Some(&task) = self.routes.get(&*out.topic) else {
                self.outputs.entry(out.topic.to_string()).or_default().push_back(out);
                continue;
            };
            let offset = self.offsets.entry(out.topic.to_string()).or_insert(0);
            let raw = RawRecord {
                topic: out.topic,
                partition: 0,
                offset: *offset,
                key: out.key,
                value: out.value,
                timestamp: out.timestamp,
                headers: out.headers,
            };
            *offset += 1;
            let task = &mut self.tasks[task];
            task.process(raw)?;
            // The driver commits after every record, as Kafka's TopologyTestDriver does.
            let timestamp = task.ctx.stream_time;
            task.ctx.flush_changelogs(timestamp);
            queue.extend(task.take_output());
        }
        Ok(())
    }

    /// Pipes `value` under `key` at `timestamp`.
    pub fn pipe_kv<K, V>(
        &mut self,
        topic: &str,
        key_serde: &impl Serde<K>,
        value_serde: &impl Serde<V>,
        key: K,
        value: V,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.pipe(topic, key_serde, value_serde, Record::new(key, value, timestamp))
    }

    /// Takes every record written to `topic` so far, decoded.
    pub fn read<K, V>(
        &mut self,
        topic: &str,
        key_serde: &impl Serde<K>,
        value_serde: &impl Serde<V>,
    ) -> Result<Vec<Record<K, V>>, StreamsError> {
        let records = self.outputs.remove(topic).unwrap_or_default();
        records
            .into_iter()
            .map(|out| {
                let failed =
                    |what, e: crate::serdes::SerdeError| StreamsError::Driver(format!("decode {what} on {topic}: {e}"));
                Ok(Record {
                    key: key_serde.deserialize(out.key.as_deref()).map_err(|e| failed("key", e))?,
                    value: value_serde.deserialize(out.value.as_deref()).map_err(|e| failed("value", e))?,
                    timestamp: out.timestamp,
                    headers: out.headers,
                })
            })
            .collect()
    }

    /// Takes every record written to `topic` as (key, value) pairs.
    pub fn read_kv<K, V>(
        &mut self,
        topic: &str,
        key_serde: &impl Serde<K>,
        value_serde: &impl Serde<V>,
    ) -> Result<Vec<(K, V)>, StreamsError> {
        Ok(self.read(topic, key_serde, value_serde)?.into_iter().map(|r| (r.key, r.value)).collect())
    }

    /// Records windowed operators dropped for arriving after their window's grace period.
    pub fn late_records(&self) -> u64 {
        self.tasks.iter().map(|t| t.ctx.late_records()).sum()
    }

    /// The value of `key` in store `store`.
    pub fn store_get<K, V>(
        &self,
        store: &str,
        key_serde: &impl Serde<K>,
        value_serde: &impl Serde<V>,
        key: &K,
    ) -> Result<Option<V>, StreamsError> {
        let task = self
            .tasks
            .iter()
            .find(|t| t.ctx.stores.contains_key(store))
            .ok_or_else(|| StreamsError::Driver(format!("no store named {store}")))?;
        let Some(key) = key_serde.serialize(key) else { return Ok(None) };
        task.ctx
            .get(store, &key)
            .map(|bytes| value_serde.deserialize(Some(&bytes)))
            .transpose()
            .map_err(|e| StreamsError::Driver(format!("decode a value of store {store}: {e}")))
    }
}
