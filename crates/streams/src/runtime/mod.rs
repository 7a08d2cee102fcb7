//! Running a topology against Kafka (runnel or any cluster): [`KafkaStreams`].
//!
//! An instance joins the consumer group named by the application id, subscribed to every
//! source topic with the range assignor, so that partition `p` of co-partitioned topics lands on
//! the same instance. Each assigned partition starts its task: its stores are restored from
//! their changelogs before it processes a record. Modules: `config` (settings), `engine`
//! (tasks, producer, commits), `restore` (stores from changelogs), `internal_topics`
//! (repartition and changelog topics), `state_dir` (stores on disk and their checkpoints).

mod config;
mod engine;
mod inputs;
mod internal_topics;
mod metrics;
mod query_server;
mod restore;
mod state_dir;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use config::ClientKind;
pub use config::{Guarantee, StreamsConfig};
use engine::Engine;
pub use metrics::{RunStats, StreamsMetrics};
pub use query_server::QueryServer;

use crate::StreamsError;
use crate::builder::Topology;

/// Hands the group's rebalances to the engine: commit and suspend before partitions go,
/// restore after they come.
pub(crate) struct Rebalancer {
    engine: Arc<Mutex<Engine>>,
    /// The consumer itself, to split each assigned partition's queue before it is assigned
    /// (set once the consumer exists; weak, as the consumer owns this context).
    consumer: OnceLock<Weak<BaseConsumer<Rebalancer>>>,
    /// Counts rebalance callbacks: records polled before one may belong to partitions that
    /// moved, and were never processed, so the main loop drops them (their owner reads them
    /// again from the committed offsets).
    rebalances: AtomicU64,
}

impl ClientContext for Rebalancer {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(error, reason);
    }
}

/// Logs a client's error, except the end-of-partition events runnel-streams asks for
/// (`enable.partition.eof`): reaching the end of a partition is how it knows it is caught up.
pub(crate) fn log_client_error(error: KafkaError, reason: &str) {
    if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
        tracing::error!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for Rebalancer {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        match rebalance {
            Rebalance::Revoke(partitions) => {
                let mut engine = lock(&self.engine);
                if let Err(e) = engine.revoke(consumer, partitions) {
                    engine.fatal.get_or_insert(e);
                }
                for p in partitions.elements() {
                    engine.inputs.remove(p.topic(), p.partition());
                }
            }
            Rebalance::Assign(partitions) => {
                let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else { return };
                let mut engine = lock(&self.engine);
                if !engine.orders_partitions() {
                    // Every task reads one partition: the consumer's own queue serves them.
                    return;
                }
                for p in partitions.elements() {
                    match consumer.split_partition_queue(p.topic(), p.partition()) {
                        Some(queue) => engine.inputs.add(p.topic(), p.partition(), queue),
                        None => {
                            let e = StreamsError::Config(format!("split the queue of {}-{}", p.topic(), p.partition()));
                            engine.fatal.get_or_insert(e);
                        }
                    }
                }
            }
            Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        let mut engine = lock(&self.engine);
        match rebalance {
            Rebalance::Assign(partitions) => {
                if let Err(e) = engine.assign(partitions) {
                    engine.fatal.get_or_insert(e);
                }
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed; the group will try again"),
            Rebalance::Revoke(_) => {}
        }
    }
}

fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running application instance.
pub struct KafkaStreams {
    engine: Arc<Mutex<Engine>>,
    consumer: Arc<BaseConsumer<Rebalancer>>,
    config: StreamsConfig,
    metrics: Arc<StreamsMetrics>,
}

/// Reads stores of a running instance from other threads (interactive queries).
#[derive(Clone)]
pub struct StoreReader {
    engine: Arc<Mutex<Engine>>,
    metrics: Arc<StreamsMetrics>,
    application_id: String,
}

/// Why a store read found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreMiss {
    /// No task of this instance has the store (its partitions may run on another instance).
    NotHere,
    /// The tasks are busy restoring or rebalancing; ask again shortly.
    Busy,
}

impl StoreReader {
    /// The value of `key` (serialized) in `store`, `Ok(None)` if the instance's tasks with that
    /// store hold no such key.
    pub fn get(&self, store: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreMiss> {
        // A restore holds the tasks for its duration: answer "busy" rather than wait for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        loop {
            match self.engine.try_lock() {
                Ok(engine) => return engine.store_get(store, key).ok_or(StoreMiss::NotHere),
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    return p.into_inner().store_get(store, key).ok_or(StoreMiss::NotHere);
                }
                Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => return Err(StoreMiss::Busy),
            }
        }
    }

    /// What the instance has done so far.
    pub fn stats(&self) -> RunStats {
        self.metrics.snapshot()
    }

    /// The instance's metrics in Prometheus' text format.
    pub fn metrics_text(&self) -> String {
        self.metrics.render(&self.application_id)
    }
}

impl KafkaStreams {
    /// Prepares an instance: creates the internal topics that are missing, the producer (with
    /// its transactions initialised under exactly-once) and the consumer, subscribed.
    pub fn new(topology: &Topology, config: StreamsConfig) -> Result<KafkaStreams, StreamsError> {
        internal_topics::prepare(topology, &config)?;
        let metrics = Arc::new(StreamsMetrics::default());
        let engine = Arc::new(Mutex::new(Engine::new(topology.clone(), config.clone(), metrics.clone())?));
        let isolation = if config.exactly_once() { "read_committed" } else { "read_uncommitted" };
        let consumer: BaseConsumer<Rebalancer> = config
            .client(
                ClientKind::Consumer,
                &[
                    ("group.id", &config.application_id),
                    ("enable.auto.commit", "false"),
                    ("auto.offset.reset", "earliest"),
                    ("partition.assignment.strategy", "range"),
                    ("isolation.level", isolation),
                    // Tells a task that a partition without records is at its end, not late.
                    ("enable.partition.eof", "true"),
                    // librdkafka's default (1 s) leaves a consumer that drains its queues faster
                    // than they refill waiting for the next fetch: 3x less throughput here.
                    ("fetch.queue.backoff.ms", "10"),
                ],
            )
            .create_with_context(Rebalancer {
                engine: engine.clone(),
                consumer: OnceLock::new(),
                rebalances: AtomicU64::new(0),
            })
            .map_err(|e| StreamsError::kafka("create the consumer", e))?;
        let consumer = Arc::new(consumer);
        let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
        let topics = lock(&engine).source_topics();
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| StreamsError::kafka(format!("subscribe to {topics:?}"), e))?;
        Ok(KafkaStreams { engine, consumer, config, metrics })
    }

    /// A handle to read this instance's stores while it runs.
    pub fn store_reader(&self) -> StoreReader {
        StoreReader {
            engine: self.engine.clone(),
            metrics: self.metrics.clone(),
            application_id: self.config.application_id.clone(),
        }
    }

    /// Processes until `stop` is set (then commits and leaves the group) or an error stops it.
    pub fn run(self, stop: &AtomicBool) -> Result<RunStats, StreamsError> {
        tracing::info!(application_id = %self.config.application_id, guarantee = ?self.config.guarantee, "streams instance running");
        let result = self.process_until(stop);
        // The partition queues hold the consumer: drop them so it can leave the group.
        lock(&self.engine).inputs.clear();
        result?;
        self.consumer.unsubscribe();
        let stats = self.metrics.snapshot();
        tracing::info!(processed = stats.processed, commits = stats.commits, "streams instance stopped");
        Ok(stats)
    }

    fn process_until(&self, stop: &AtomicBool) -> Result<(), StreamsError> {
        let mut idle = false;
        let mut last_topic: Option<std::sync::Arc<str>> = None;
        let mut batch = Vec::with_capacity(BATCH);
        let rebalances = &self.consumer.context().rebalances;
        while !stop.load(Ordering::Relaxed) {
            // Serves rebalances and client events, and brings the records of partitions whose
            // queue is not split (all of them when every task reads one partition; otherwise
            // any fetched before a queue was split), a batch at a time. The engine is not held
            // while polling: a rebalance callback takes it.
            let mut wait = if idle { Duration::from_millis(5) } else { Duration::ZERO };
            let mut direct = 0;
            while direct < RECORDS_PER_ROUND {
                let seen = rebalances.load(Ordering::Relaxed);
                let polled = self.consumer.poll(wait);
                if rebalances.load(Ordering::Relaxed) != seen {
                    batch.clear();
                }
                let record = match polled {
                    Some(Ok(m)) => {
                        let topic = rdkafka::message::Message::topic(&m);
                        // Records of one topic share its name rather than each copying it.
                        if last_topic.as_deref() != Some(topic) {
                            last_topic = Some(topic.into());
                        }
                        inputs::raw_record(&m, last_topic.clone().expect("set above"))
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => continue,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "consumer error");
                        break;
                    }
                    None => break,
                };
                batch.push(record);
                wait = Duration::ZERO;
                if batch.len() == BATCH {
                    direct += lock(&self.engine).process_batch(&mut batch)?;
                }
            }
            let mut engine = lock(&self.engine);
            direct += engine.process_batch(&mut batch)?;
            if let Some(e) = engine.fatal.take() {
                return Err(e);
            }
            idle = direct + engine.process_ready(RECORDS_PER_ROUND)? == 0;
            engine.punctuate_wall_clock()?;
            if engine.commit_due() {
                engine.commit(&self.consumer)?;
            }
            engine.poll_producer();
        }
        let mut engine = lock(&self.engine);
        engine.commit(&self.consumer)?;
        engine.close()
    }
}

/// Records polled before the engine is taken to process them.
const BATCH: usize = 64;

/// Records processed between two looks at the consumer's events and the commit timer.
const RECORDS_PER_ROUND: usize = 1000;
