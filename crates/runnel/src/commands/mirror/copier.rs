//! The records: read from the source (committed data only), written to the same partition of
//! the copy on the target with key, value, headers and timestamp, and their source offsets
//! committed once the target has acknowledged them.
//!
//! The records go through librdkafka's producer (any cluster, and transactions) or, to a
//! single-broker target, through the mirror's own writer (`appending_writer`); what the
//! acknowledgements say is kept in `acknowledgements`. Memory is bounded: when the producer's
//! queue is full, or the own writer has its most requests in flight, the copier stops reading
//! until acknowledgements free room, and the consumer's fetch queue is bounded in turn.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kafka_protocol::records::Compression;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::acknowledgements::{Acks, LastCopied, SourcePosition};
use super::appending_writer::{AppendingWriter, MAX_BATCH_BYTES, MAX_IN_FLIGHT, SourceRecord};
use super::mm2_records::OffsetSync;
use super::offset_syncs::SyncLog;
use super::source_reader::{SourceEnds, next_record, source_consumer};
use super::stats::MirrorStats;
use super::topics::Mirrored;
use super::transactions::Transactions;
use crate::commands::client::TIMEOUT;
use crate::commands::wire::ClientSecurity;

/// Records copied between two looks at acknowledgements, offsets and topics.
const RECORDS_PER_STEP: usize = 1000;
/// The same for the mirror's own writer, whose step gathers one batch per partition: larger
/// steps, larger batches.
const DIRECT_RECORDS_PER_STEP: usize = 8000;
/// How often acknowledged offsets are handed to the consumer (it commits them every second).
const STORE_EVERY: Duration = Duration::from_millis(200);
/// Report batches served per look (one per produce request answered).
const DELIVERY_POLLS: usize = 16;
/// How often progress is logged.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// A mirrored topic: its name on both sides, its largest batch, and per partition the last
/// source offset handed to the writer.
struct Route {
    source: Arc<str>,
    target: Arc<str>,
    max_batch_bytes: usize,
    sent: Vec<i64>,
}

/// A single-broker target the copier writes to itself, over plain TCP.
pub struct DirectTarget {
    /// Its address.
    pub brokers: String,
    /// How to sign in (the target's `-X` security settings).
    pub security: ClientSecurity,
    /// The codec of the target config's `compression.type`.
    pub compression: Compression,
}

/// Where the records go: librdkafka's producer (any cluster, and transactions), or the
/// mirror's own writer (a single-broker target: a fraction of the CPU per record).
enum Sink {
    Client(BaseProducer<Acks>),
    Direct { writer: Box<AppendingWriter>, acks: Acks },
}

/// Copies the records of the mirrored topics.
pub struct Copier {
    consumer: BaseConsumer<SourceEnds>,
    sink: Sink,
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
    /// A consumer in `group` on the source and an idempotent producer on the target (the
    /// mirror's own writer to `direct`, when given); `syncs` keeps the offset translation.
    /// `exactly_once`: a transactional producer, and the source read by assignment from the
    /// offsets its transactions committed on the target.
    pub fn new(
        source: &ClientConfig,
        target: &ClientConfig,
        group: &str,
        stats: Arc<MirrorStats>,
        syncs: SyncLog,
        exactly_once: bool,
        direct: Option<DirectTarget>,
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
        let acks = Acks { acknowledged: Mutex::default(), failure: Mutex::default(), copied: AtomicU64::new(0), stats };
        if let Some(direct) = direct.filter(|_| !exactly_once) {
            let writer = AppendingWriter::new(&direct.brokers, direct.security, direct.compression);
            return Ok(Copier::with(consumer, Sink::Direct { writer: Box::new(writer), acks }, syncs, None));
        }
        let producer: BaseProducer<Acks> = target
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create_with_context(acks)
            .context("create the target producer")?;
        let transactions = if exactly_once {
            producer
                .init_transactions(TIMEOUT * 3)
                .with_context(|| format!("start transactions on the target as {group}"))?;
            Some(Transactions::new(&target, group)?)
        } else {
            None
        };
        Ok(Copier::with(consumer, Sink::Client(producer), syncs, transactions))
    }

    fn with(
        consumer: BaseConsumer<SourceEnds>,
        sink: Sink,
        syncs: SyncLog,
        transactions: Option<Transactions>,
    ) -> Copier {
        let now = Instant::now();
        Copier {
            consumer,
            sink,
            routes: HashMap::new(),
            syncs,
            transactions,
            ends: HashMap::new(),
            idle: true,
            last_store: now,
            last_report: now,
            copied_at_report: 0,
        }
    }

    /// The acknowledgements so far.
    fn acks(&self) -> &Acks {
        match &self.sink {
            Sink::Client(producer) => producer.context(),
            Sink::Direct { acks, .. } => acks,
        }
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
                let max_batch_bytes = m
                    .max_message_bytes
                    .map_or(MAX_BATCH_BYTES, |max| max.saturating_sub(1024).max(1))
                    .min(MAX_BATCH_BYTES);
                let route = Route {
                    source: Arc::from(m.source.as_str()),
                    target: Arc::from(m.target.as_str()),
                    max_batch_bytes,
                    sent,
                };
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
        if let Sink::Direct { writer, .. } = &mut self.sink
            && writer.connected()
        {
            self.read_dropped_again();
        }
        let copied = self.copy_ready()?;
        self.idle = copied == 0;
        self.serve_acknowledgements(MAX_IN_FLIGHT);
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

    /// Hands what the source has ready (up to a step's worth) to the sink; returns how many
    /// records.
    fn copy_ready(&mut self) -> anyhow::Result<usize> {
        let per_step = match self.sink {
            Sink::Client(_) => RECORDS_PER_STEP,
            Sink::Direct { .. } => DIRECT_RECORDS_PER_STEP,
        };
        let mut wait = if self.idle { Duration::from_millis(100) } else { Duration::ZERO };
        let mut copied = 0;
        while copied < per_step {
            let Some(message) = next_record(&self.consumer, wait) else { break };
            wait = Duration::ZERO;
            let Some(route) = self.routes.get_mut(message.topic()) else { continue };
            let partition = message.partition();
            if let (Some(transactions), Sink::Client(producer)) = (&mut self.transactions, &self.sink) {
                if !transactions.is_open() {
                    producer.begin_transaction().context("begin a transaction on the target")?;
                    transactions.opened();
                }
                transactions.copied(&route.source, partition, message.offset());
            }
            let index = partition as usize;
            if route.sent.len() <= index {
                route.sent.resize(index + 1, -1);
            }
            route.sent[index] = message.offset();
            match &mut self.sink {
                Sink::Client(producer) => send_through(producer, route, &message)?,
                Sink::Direct { writer, .. } => {
                    let record = SourceRecord {
                        source: &route.source,
                        target: &route.target,
                        partition,
                        offset: message.offset(),
                        timestamp: message.timestamp().to_millis().unwrap_or(-1),
                        key: message.key(),
                        value: message.payload(),
                        max_batch_bytes: route.max_batch_bytes,
                    };
                    let headers = message.headers();
                    writer.push(&record, headers.iter().flat_map(|h| h.iter()).map(|h| (h.key, h.value)))?;
                }
            }
            copied += 1;
        }
        if let Sink::Direct { writer, .. } = &mut self.sink {
            writer.send_gathered();
        }
        Ok(copied)
    }

    /// The first refusal by the target, if any.
    fn failure(&self) -> Option<String> {
        self.acks().failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
                let Sink::Client(producer) = &self.sink else { bail!("transactions need librdkafka's producer") };
                if let Err(abort) = producer.abort_transaction(TIMEOUT * 3) {
                    if matches!(&abort, KafkaError::Transaction(t) if t.is_fatal()) {
                        bail!("abort a transaction on the target: {abort}");
                    }
                    tracing::warn!(error = %abort, "abort not confirmed yet");
                }
                let rewind = transactions.aborted()?;
                *self.acks().failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
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
        transactional(&self.sink)?.flush(TIMEOUT * 3).map_err(CommitError::from)?;
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
        transactional(&self.sink)?
            .send_offsets_to_transaction(&offsets, transactions.metadata(), TIMEOUT * 3)
            .map_err(CommitError::from)?;
        transactional(&self.sink)?.commit_transaction(TIMEOUT * 3).map_err(CommitError::from)
    }

    /// Serves the delivery reports waiting, or the own writer's answers (waiting until at most
    /// `keep` requests are in flight). rdkafka's `poll` serves one batch of reports when given
    /// no time and sleeps out any time it is given, so it is asked often, with none.
    fn serve_acknowledgements(&mut self, keep: usize) {
        let (writer, acks) = match &mut self.sink {
            Sink::Client(producer) => {
                for _ in 0..DELIVERY_POLLS {
                    producer.poll(Duration::ZERO);
                }
                producer.context().report();
                return;
            }
            Sink::Direct { writer, acks } => (writer, acks),
        };
        let batches = writer.acknowledged(keep);
        if !batches.is_empty() {
            let mut acknowledged = acks.acknowledged.lock().unwrap_or_else(|p| p.into_inner());
            for batch in &batches {
                acknowledged.batch(batch);
            }
            acks.copied.fetch_add(batches.iter().map(|b| b.records).sum(), Ordering::Relaxed);
        }
        acks.report();
        if let Some(refusal) = writer.refusal() {
            acks.failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(format!("{refusal:#}"));
        }
    }

    /// Reads again, from the first of them, the records the own writer dropped with a failed
    /// connection or while it had none. Done only once connected again, before anything more
    /// is read: until then the source is read on (its end keeps showing in the lag) and what
    /// comes is dropped.
    fn read_dropped_again(&mut self) {
        let Sink::Direct { writer, .. } = &mut self.sink else { return };
        for ((topic, partition), offset) in writer.take_rewinds() {
            if let Some(sent) = self.routes.get_mut(&*topic).and_then(|r| r.sent.get_mut(partition as usize)) {
                *sent = offset - 1;
            }
            // Fails for a partition this mirror no longer reads: its new owner copies from the
            // last commit.
            if let Err(e) = self.consumer.seek(&topic, partition, Offset::Offset(offset), TIMEOUT) {
                tracing::debug!(topic = %topic, partition, error = %e, "not read again here");
            }
        }
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
            let mut acknowledged = self.acks().acknowledged.lock().unwrap_or_else(|p| p.into_inner());
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
        self.acks().copied.load(Ordering::Relaxed)
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
        match &mut self.sink {
            Sink::Client(producer) => {
                producer.flush(Duration::from_secs(60)).context("wait for the target's acknowledgements")?;
            }
            Sink::Direct { writer, .. } => writer.send_gathered(),
        }
        self.serve_acknowledgements(0);
        if let Some(failure) = self.failure() {
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

/// librdkafka's producer, the only sink a mirror with transactions has.
fn transactional(sink: &Sink) -> Result<&BaseProducer<Acks>, CommitError> {
    match sink {
        Sink::Client(producer) => Ok(producer),
        Sink::Direct { .. } => {
            Err(CommitError { error: anyhow::anyhow!("transactions need librdkafka's producer"), fatal: true })
        }
    }
}

/// Hands `message` to librdkafka's producer for `route`'s copy, waiting while its queue is full
/// (backpressure: the source is not read further meanwhile).
fn send_through(producer: &BaseProducer<Acks>, route: &Route, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
    let partition = message.partition();
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
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                for _ in 0..DELIVERY_POLLS {
                    producer.poll(Duration::ZERO);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err((e, _)) => bail!("write to {target_topic} on the target: {e}"),
        }
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
