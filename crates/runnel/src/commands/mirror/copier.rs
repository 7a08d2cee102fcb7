//! The records: read from the source (committed data only), written to the same partition of
//! the copy on the target with key, value, headers and timestamp, and their source offsets
//! committed once the target has acknowledged them.
//!
//! Memory is bounded by the clients' queues: when the producer's queue is full the copier stops
//! reading until acknowledgements free it, and the consumer's fetch queue is bounded in turn.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::mm2_records::OffsetSync;
use super::offset_syncs::SyncLog;
use super::stats::MirrorStats;
use super::topics::Mirrored;
use super::transactions::Transactions;
use crate::commands::client::TIMEOUT;

/// Records copied between two looks at acknowledgements, offsets and topics.
const RECORDS_PER_STEP: usize = 1000;
/// How often acknowledged offsets are handed to the consumer (it commits them every second).
const STORE_EVERY: Duration = Duration::from_millis(200);
/// Report batches served per look (one per produce request answered).
const DELIVERY_POLLS: usize = 16;
/// How often progress is logged.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Where a copied record came from.
struct SourcePosition {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
    bytes: u64,
}

/// The last record of a source partition the target acknowledged, and where it went.
#[derive(Debug, Clone, Copy)]
struct LastCopied {
    source: i64,
    target: i64,
}

/// What the acknowledgements tell the copier between two looks.
#[derive(Default)]
struct Acknowledged {
    last: HashMap<(Arc<str>, i32), LastCopied>,
    /// Records that do not follow their partition's previous one on both sides: each starts a
    /// new run of the offset translation.
    run_starts: Vec<OffsetSync>,
    /// Per source partition, what was acknowledged since the metrics were last told.
    unreported: HashMap<(Arc<str>, i32), Unreported>,
}

/// Acknowledgements of one partition not yet in the metrics (told once a step, not per record).
#[derive(Default)]
struct Unreported {
    records: u64,
    bytes: u64,
    last_offset: i64,
    last_timestamp_ms: i64,
}

/// The target's acknowledgements.
struct Acks {
    acknowledged: Mutex<Acknowledged>,
    failure: Mutex<Option<String>>,
    copied: AtomicU64,
    stats: Arc<MirrorStats>,
}

impl Acks {
    /// Tells the metrics what was acknowledged since the last time.
    fn report(&self) {
        let unreported = {
            let mut acknowledged = self.acknowledged.lock().unwrap_or_else(|p| p.into_inner());
            if acknowledged.unreported.is_empty() {
                return;
            }
            std::mem::take(&mut acknowledged.unreported)
        };
        for ((topic, partition), u) in unreported {
            self.stats.acknowledged_records(&topic, partition, u.last_offset, u.last_timestamp_ms, u.records, u.bytes);
        }
    }
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<SourcePosition>;

    fn delivery(&self, result: &DeliveryResult<'_>, source: Box<SourcePosition>) {
        match result {
            Ok(copy) => {
                self.copied.fetch_add(1, Ordering::Relaxed);
                let target = copy.offset();
                let mut acknowledged = self.acknowledged.lock().unwrap_or_else(|p| p.into_inner());
                let Acknowledged { last, run_starts, unreported } = &mut *acknowledged;
                let u = unreported.entry((source.topic.clone(), source.partition)).or_default();
                u.records += 1;
                u.bytes += source.bytes;
                if source.offset > u.last_offset || u.records == 1 {
                    u.last_offset = source.offset;
                    u.last_timestamp_ms = source.timestamp_ms;
                }
                let now = LastCopied { source: source.offset, target };
                match last.get_mut(&(source.topic.clone(), source.partition)) {
                    Some(previous) if previous.source + 1 == source.offset && previous.target + 1 == target => {
                        *previous = now;
                    }
                    previous => {
                        run_starts.push(OffsetSync {
                            topic: source.topic.to_string(),
                            partition: source.partition,
                            upstream: source.offset,
                            downstream: target,
                        });
                        match previous {
                            Some(previous) => *previous = now,
                            None => {
                                last.insert((source.topic.clone(), source.partition), now);
                            }
                        }
                    }
                }
            }
            Err((e, m)) => {
                let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                failure.get_or_insert_with(|| {
                    format!(
                        "the target refused {}-{} offset {} (written to {}-{}): {e}",
                        source.topic,
                        source.partition,
                        source.offset,
                        m.topic(),
                        m.partition()
                    )
                });
            }
        }
    }
}

/// The source consumer: in `group`, read_committed, offsets stored by the copier once the
/// target acknowledged their records (`enable.auto.commit` as `config` says).
pub(super) fn source_consumer(
    config: &ClientConfig,
    group: &str,
    stats: Arc<MirrorStats>,
) -> anyhow::Result<BaseConsumer<SourceEnds>> {
    config
        .clone()
        .set("statistics.interval.ms", "1000")
        // librdkafka's default (1 s) leaves a reader that drains its queue faster than the
        // fetcher refills it waiting for the next fetch.
        .set("fetch.queue.backoff.ms", "10")
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        // Aborted records must not become committed ones on the target.
        .set("isolation.level", "read_committed")
        // Offsets are stored only for records the target acknowledged.
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", "1000")
        .create_with_context(SourceEnds { stats })
        .context("create the source consumer")
}

/// The next record the source consumer has, waiting up to `wait` for the first; `None` when
/// there is none (a consumer error is logged: librdkafka retries by itself).
pub(super) fn next_record(consumer: &BaseConsumer<SourceEnds>, wait: Duration) -> Option<BorrowedMessage<'_>> {
    loop {
        match consumer.poll(wait)? {
            Err(KafkaError::PartitionEOF(_)) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "source consumer");
                return None;
            }
            Ok(message) => return Some(message),
        }
    }
}

/// The source consumer's statistics (every second): where each partition ends, for the lag.
pub(super) struct SourceEnds {
    stats: Arc<MirrorStats>,
}

impl ClientContext for SourceEnds {
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            let name: Arc<str> = name.as_str().into();
            for (&id, partition) in &topic.partitions {
                // -1 is librdkafka's internal "unassigned" partition; a read_committed reader
                // reaches the last stable offset, not the high watermark.
                let end = if partition.ls_offset >= 0 { partition.ls_offset } else { partition.hi_offset };
                if id >= 0 && end >= 0 && partition.desired {
                    let position = Some(partition.committed_offset).filter(|o| *o >= 0);
                    self.stats.source_end(&name, id, end, position);
                }
            }
        }
    }
}

impl ConsumerContext for SourceEnds {}

/// A mirrored topic: its name on both sides, and per partition the last source offset handed
/// to the producer.
struct Route {
    source: Arc<str>,
    target: Arc<str>,
    sent: Vec<i64>,
}

/// Copies the records of the mirrored topics.
pub struct Copier {
    consumer: BaseConsumer<SourceEnds>,
    producer: BaseProducer<Acks>,
    /// Source topic to its route.
    routes: HashMap<String, Route>,
    syncs: SyncLog,
    /// `--exactly-once`: the transactions' bookkeeping.
    transactions: Option<Transactions>,
    /// Per source partition, the last end point recorded and whether it was written out.
    ends: HashMap<(Arc<str>, i32), (i64, bool)>,
    idle: bool,
    last_store: Instant,
    last_report: Instant,
    copied_at_report: u64,
}

impl Copier {
    /// A consumer in `group` on the source and an idempotent producer on the target; `syncs`
    /// keeps the offset translation. `exactly_once`: a transactional producer, and the source
    /// read by assignment from the offsets its transactions committed on the target.
    pub fn new(
        source: &ClientConfig,
        target: &ClientConfig,
        group: &str,
        stats: Arc<MirrorStats>,
        syncs: SyncLog,
        exactly_once: bool,
    ) -> anyhow::Result<Copier> {
        let mut source = source.clone();
        let mut target = target.clone();
        if exactly_once {
            source.set("enable.auto.commit", "false");
            target.set("transactional.id", group);
        } else {
            source.set("enable.auto.commit", "true");
        }
        let consumer = source_consumer(&source, group, stats.clone())?;
        let producer: BaseProducer<Acks> = target
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create_with_context(Acks {
                acknowledged: Mutex::default(),
                failure: Mutex::default(),
                copied: AtomicU64::new(0),
                stats,
            })
            .context("create the target producer")?;
        let transactions = if exactly_once {
            producer
                .init_transactions(TIMEOUT * 3)
                .with_context(|| format!("start transactions on the target as {group}"))?;
            Some(Transactions::new(&target, group)?)
        } else {
            None
        };
        let now = Instant::now();
        Ok(Copier {
            consumer,
            producer,
            routes: HashMap::new(),
            syncs,
            transactions,
            ends: HashMap::new(),
            idle: true,
            last_store: now,
            last_report: now,
            copied_at_report: 0,
        })
    }

    /// Mirrors exactly the topics of `mirrored` from now on.
    pub fn follow(&mut self, mirrored: &[Mirrored]) -> anyhow::Result<()> {
        if let Some(transactions) = &mut self.transactions {
            // Read by assignment: new partitions start where the target's group says.
            let start = transactions.new_partitions(mirrored)?;
            if start.count() > 0 {
                self.consumer.incremental_assign(&start).context("read the new source partitions")?;
                tracing::info!(
                    partitions = start.count(),
                    "reading source partitions from the offsets committed on the target"
                );
            }
        }
        let same = mirrored.len() == self.routes.len()
            && mirrored.iter().all(|m| self.routes.get(&m.source).is_some_and(|r| *r.target == *m.target));
        if same {
            return Ok(());
        }
        let mut previous = std::mem::take(&mut self.routes);
        self.routes = mirrored
            .iter()
            .map(|m| {
                let sent = previous.remove(&m.source).map(|r| r.sent).unwrap_or_default();
                let route = Route { source: Arc::from(m.source.as_str()), target: Arc::from(m.target.as_str()), sent };
                (m.source.clone(), route)
            })
            .collect();
        let topics: Vec<&str> = mirrored.iter().map(|m| m.source.as_str()).collect();
        if self.transactions.is_some() {
            tracing::info!(topics = ?topics, "mirroring, exactly once");
        } else if topics.is_empty() {
            self.consumer.unsubscribe();
            tracing::warn!("no source topic matches --topics yet");
        } else {
            self.consumer.subscribe(&topics).context("subscribe to the source topics")?;
            tracing::info!(topics = ?topics, "mirroring");
        }
        Ok(())
    }

    /// Copies what the source has ready (up to a step's worth), serves acknowledgements, and
    /// hands acknowledged offsets to the consumer.
    pub fn step(&mut self) -> anyhow::Result<()> {
        let mut wait = if self.idle { Duration::from_millis(100) } else { Duration::ZERO };
        let mut copied = 0;
        while copied < RECORDS_PER_STEP {
            let Some(message) = next_record(&self.consumer, wait) else { break };
            wait = Duration::ZERO;
            let Some(route) = self.routes.get_mut(message.topic()) else { continue };
            let partition = message.partition();
            if let Some(transactions) = &mut self.transactions {
                if !transactions.is_open() {
                    self.producer.begin_transaction().context("begin a transaction on the target")?;
                    transactions.opened();
                }
                transactions.copied(&route.source, partition, message.offset());
            }
            let index = partition as usize;
            if route.sent.len() <= index {
                route.sent.resize(index + 1, -1);
            }
            route.sent[index] = message.offset();
            let timestamp = message.timestamp().to_millis();
            let position = Box::new(SourcePosition {
                topic: route.source.clone(),
                partition,
                offset: message.offset(),
                timestamp_ms: timestamp.unwrap_or(0),
                bytes: (message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len)) as u64,
            });
            let target_topic: &str = &route.target;
            let mut record = BaseRecord::with_opaque_to(target_topic, position).partition(partition);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(value) = message.payload() {
                record = record.payload(value);
            }
            if let Some(timestamp) = timestamp {
                record = record.timestamp(timestamp);
            }
            if let Some(headers) = message.headers().filter(|h| h.count() > 0) {
                record = record.headers(headers.detach());
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // Backpressure: wait for the target rather than read further.
                        record = back;
                        for _ in 0..DELIVERY_POLLS {
                            self.producer.poll(Duration::ZERO);
                        }
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    Err((e, _)) => bail!("write to {target_topic} on the target: {e}"),
                }
            }
            copied += 1;
        }
        self.idle = copied == 0;
        self.serve_acknowledgements();
        if self.transactions.is_some() {
            if self.transactions.as_ref().is_some_and(Transactions::due) || self.failure().is_some() {
                self.commit_transaction()?;
            }
        } else if let Some(failure) = self.failure() {
            bail!("{failure}; offsets are committed only up to what the target acknowledged before it");
        }
        if self.last_store.elapsed() >= STORE_EVERY {
            self.record_progress()?;
        }
        self.store_ready()?;
        if self.last_report.elapsed() >= REPORT_EVERY {
            let total = self.copied();
            let rate = (total - self.copied_at_report) as f64 / self.last_report.elapsed().as_secs_f64();
            tracing::info!(copied = total, records_per_s = rate.round() as u64, "mirror progress");
            self.copied_at_report = total;
            self.last_report = Instant::now();
        }
        Ok(())
    }

    /// The first refusal by the target, if any.
    fn failure(&self) -> Option<String> {
        self.producer.context().failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Commits the open transaction with the source offsets it reaches: every record in it
    /// acknowledged, the offset translation's points written, then the offsets and the commit.
    /// A transaction that cannot commit is aborted and its records read again; a mirror fenced
    /// by another with the same transactional id stops.
    fn commit_transaction(&mut self) -> anyhow::Result<()> {
        if !self.transactions.as_ref().is_some_and(Transactions::is_open) {
            return Ok(());
        }
        let outcome = self.try_commit();
        let Some(transactions) = self.transactions.as_mut() else { return Ok(()) };
        match outcome {
            Ok(()) => {
                transactions.committed();
                Ok(())
            }
            Err(e) if e.fatal => Err(e.error.context("the target's transactions stopped")),
            Err(e) => {
                tracing::warn!(error = format!("{:#}", e.error), "transaction aborted; its records are copied again");
                if let Err(abort) = self.producer.abort_transaction(TIMEOUT * 3) {
                    if matches!(&abort, KafkaError::Transaction(t) if t.is_fatal()) {
                        bail!("abort a transaction on the target: {abort}");
                    }
                    tracing::warn!(error = %abort, "abort not confirmed yet");
                }
                let rewind = transactions.aborted()?;
                *self.producer.context().failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
                for route in self.routes.values_mut() {
                    route.sent.clear();
                }
                self.consumer.seek_partitions(rewind, TIMEOUT).context("read the aborted records again")?;
                std::thread::sleep(Duration::from_millis(500));
                Ok(())
            }
        }
    }

    fn try_commit(&mut self) -> Result<(), CommitError> {
        self.producer.flush(TIMEOUT * 3).map_err(CommitError::from)?;
        if let Some(failure) = self.failure() {
            return Err(CommitError { error: anyhow::anyhow!(failure), fatal: false });
        }
        self.record_progress().map_err(|error| CommitError { error, fatal: false })?;
        self.syncs.flush().map_err(|error| CommitError { error, fatal: false })?;
        let Some(transactions) = self.transactions.as_ref() else { return Ok(()) };
        let routes = &self.routes;
        let offsets = transactions
            .offsets(|topic| routes.get(topic).map(|r| r.target.clone()))
            .map_err(|error| CommitError { error, fatal: false })?;
        self.producer
            .send_offsets_to_transaction(&offsets, transactions.metadata(), TIMEOUT * 3)
            .map_err(CommitError::from)?;
        self.producer.commit_transaction(TIMEOUT * 3).map_err(CommitError::from)
    }

    /// Serves the delivery reports waiting. rdkafka's `poll` serves one batch of reports when
    /// given no time and sleeps out any time it is given, so it is asked often, with none.
    fn serve_acknowledgements(&self) {
        for _ in 0..DELIVERY_POLLS {
            self.producer.poll(Duration::ZERO);
        }
        self.producer.context().report();
    }

    /// Records the offset translation's new points (run starts, and where each partition's
    /// copy ends) and queues the source offsets to commit once the points are written.
    ///
    /// A partition whose every record handed to the producer is acknowledged ends at the
    /// consumer's position, past any transaction markers; that end is written out. A busy
    /// partition ends after its last acknowledged record, kept in memory only: the next run
    /// start or idle moment writes what a restart needs.
    fn record_progress(&mut self) -> anyhow::Result<()> {
        self.last_store = Instant::now();
        let (run_starts, last) = {
            let mut acknowledged = self.producer.context().acknowledged.lock().unwrap_or_else(|p| p.into_inner());
            let run_starts = std::mem::take(&mut acknowledged.run_starts);
            let last: Vec<((Arc<str>, i32), LastCopied)> =
                acknowledged.last.iter().map(|(key, last)| (key.clone(), *last)).collect();
            (run_starts, last)
        };
        for start in run_starts {
            self.syncs.record(start, true)?;
        }
        let positions = self.consumer.position().ok();
        let mut commit = TopicPartitionList::new();
        for ((topic, partition), copied) in last {
            let sent = self.routes.get(&*topic).and_then(|r| r.sent.get(partition as usize).copied()).unwrap_or(-1);
            let idle = sent == copied.source;
            let position = positions
                .as_ref()
                .and_then(|p| p.find_partition(&topic, partition))
                .and_then(|e| e.offset().to_raw())
                .filter(|p| *p > copied.source);
            let upstream = match position {
                Some(position) if idle => position,
                _ => copied.source + 1,
            };
            let (recorded, written) = self.ends.get(&(topic.clone(), partition)).copied().unwrap_or((-1, false));
            if upstream < recorded || (upstream == recorded && (written || !idle)) {
                continue;
            }
            let end = OffsetSync { topic: topic.to_string(), partition, upstream, downstream: copied.target + 1 };
            self.syncs.record(end, idle)?;
            self.ends.insert((topic.clone(), partition), (upstream, idle));
            // The next offset to read, as a commit names it.
            let _ = commit.add_partition_offset(&topic, partition, Offset::Offset(upstream));
        }
        // Under --exactly-once the offsets go with the transaction instead.
        if self.transactions.is_none() {
            self.syncs.commit_after_points(commit);
        }
        Ok(())
    }

    /// Hands the consumer the source offsets whose translation points are written, for its
    /// next commit.
    fn store_ready(&mut self) -> anyhow::Result<()> {
        for offsets in self.syncs.ready()? {
            // Fails for partitions this mirror no longer reads (a rebalance moved them): their
            // new owner copies from the last commit.
            if let Err(e) = self.consumer.store_offsets(&offsets) {
                tracing::debug!(error = %e, "offsets not stored");
            }
        }
        Ok(())
    }

    /// Records the target has acknowledged so far.
    pub fn copied(&self) -> u64 {
        self.producer.context().copied.load(Ordering::Relaxed)
    }

    /// Waits for every record sent to be acknowledged, then commits their offsets.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if self.transactions.is_some() {
            self.commit_transaction()?;
            if self.transactions.as_ref().is_some_and(Transactions::is_open) {
                bail!("the last transaction did not commit; a restart copies its records again");
            }
            self.consumer.unassign().ok();
            return Ok(());
        }
        self.producer.flush(Duration::from_secs(60)).context("wait for the target's acknowledgements")?;
        self.producer.context().report();
        if let Some(failure) = self.producer.context().failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            bail!("{failure}; offsets are committed only up to what the target acknowledged before it");
        }
        self.record_progress()?;
        self.syncs.flush()?;
        self.store_ready()?;
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => return Err(e).context("commit the source offsets"),
        }
        self.consumer.unsubscribe();
        Ok(())
    }
}

/// Why a transaction did not commit, and whether the producer can go on.
struct CommitError {
    error: anyhow::Error,
    fatal: bool,
}

impl From<KafkaError> for CommitError {
    fn from(error: KafkaError) -> Self {
        let fatal = matches!(&error, KafkaError::Transaction(e) if e.is_fatal());
        CommitError { error: error.into(), fatal }
    }
}
