//! The records of an offset-preserving mirror (`--preserve-offsets`, a runnel target): each
//! record is written at its source offset, so the copy's offsets are the source's, gaps
//! (transaction markers, aborted or compacted records) included, and consumer group offsets
//! need no translation.
//!
//! Where to go on is the target's own log end: the mirror reads each source partition by
//! assignment from there, so a mirror killed at any moment resumes with nothing lost and
//! nothing written twice (the broker places a batch only at or above its log end, and an
//! idempotent producer's sequence numbers refuse any batch that does not follow the last one
//! taken). Memory is bounded: at most `MAX_IN_FLIGHT` requests wait for the target, and the
//! source is not read meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kafka_protocol::records::Compression;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::link_batch::{BatchBuilder, compression_named};
use super::link_writer::{LinkFailure, LinkWriter, SentBatch, log_ends};
use super::source_reader::{SourceEnds, next_record, source_consumer};
use super::stats::MirrorStats;
use super::topics::Mirrored;
use crate::commands::wire::ClientSecurity;

/// Records copied between two looks at acknowledgements and topics.
const RECORDS_PER_STEP: usize = 8000;
/// Produce requests waiting for the target at most (each up to one batch per partition): what
/// keeps a link with a long round trip full (32 requests of up to a MiB each).
const MAX_IN_FLIGHT: usize = 32;
/// The largest batch (its records before compression), under the topic's max.message.bytes.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// How long to wait before connecting again after the target failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often an idle mirror stores its source positions (past transaction markers) for its
/// group's lag.
const STORE_POSITIONS_EVERY: Duration = Duration::from_secs(1);
/// How often progress is logged.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// A mirrored topic's names and batch limit.
struct Route {
    target: Arc<str>,
    source: Arc<str>,
    partitions: i32,
    max_batch_bytes: usize,
}

/// Copies the records of the mirrored topics at their source offsets.
pub struct PreservingCopier {
    consumer: BaseConsumer<SourceEnds>,
    target_brokers: String,
    /// How runnel's own protocol client signs in to the target (its `-X` security settings).
    target_security: ClientSecurity,
    link: String,
    compression: Compression,
    writer: Option<LinkWriter>,
    retry_at: Instant,
    last_failure_logged: Option<Instant>,
    /// Source topic to its route.
    routes: HashMap<String, Route>,
    /// Target topics found promoted: never written again by this process.
    promoted: Vec<Arc<str>>,
    /// Per source partition, the batch being gathered.
    gathering: HashMap<(Arc<str>, i32), (SentBatch, BatchBuilder)>,
    stats: Arc<MirrorStats>,
    copied: u64,
    idle: bool,
    last_positions_stored: Instant,
    last_report: Instant,
    copied_at_report: u64,
}

impl PreservingCopier {
    /// A consumer in `group` on the source; the target at `target_brokers` is written as the
    /// mirror of `link`, compressed as the target config's `compression.type` says.
    pub fn new(
        source: &ClientConfig,
        target: &ClientConfig,
        target_brokers: &str,
        group: &str,
        link: &str,
        stats: Arc<MirrorStats>,
    ) -> anyhow::Result<PreservingCopier> {
        let mut source = source.clone();
        source.set("enable.auto.commit", "true");
        let consumer = source_consumer(&source, group, stats.clone())?;
        let compression = compression_named(target.get("compression.type"))?;
        let now = Instant::now();
        Ok(PreservingCopier {
            consumer,
            target_brokers: target_brokers.to_string(),
            target_security: ClientSecurity::from_properties(
                &target.config_map().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>(),
            )?,
            link: link.to_string(),
            compression,
            writer: None,
            retry_at: now,
            last_failure_logged: None,
            routes: HashMap::new(),
            promoted: Vec::new(),
            gathering: HashMap::new(),
            stats,
            copied: 0,
            idle: true,
            last_positions_stored: now,
            last_report: now,
            copied_at_report: 0,
        })
    }

    /// Mirrors exactly the topics of `mirrored` from now on; a change of topics or partitions
    /// reads every partition again from the target's log end.
    pub fn follow(&mut self, mirrored: &[Mirrored]) -> anyhow::Result<()> {
        let mirrored: Vec<&Mirrored> =
            mirrored.iter().filter(|m| !self.promoted.iter().any(|p| **p == *m.target)).collect();
        let same = mirrored.len() == self.routes.len()
            && mirrored.iter().all(|m| {
                self.routes.get(&m.source).is_some_and(|r| *r.target == *m.target && r.partitions == m.partitions)
            });
        if same {
            return Ok(());
        }
        self.routes = mirrored
            .iter()
            .map(|m| {
                let limit = m.max_message_bytes.map_or(MAX_BATCH_BYTES, |max| max.saturating_sub(1024).max(1));
                let route = Route {
                    target: Arc::from(m.target.as_str()),
                    source: Arc::from(m.source.as_str()),
                    partitions: m.partitions,
                    max_batch_bytes: limit.min(MAX_BATCH_BYTES),
                };
                (m.source.clone(), route)
            })
            .collect();
        let topics: Vec<&str> = mirrored.iter().map(|m| m.source.as_str()).collect();
        tracing::info!(topics = ?topics, link = %self.link, "mirroring at the source's offsets");
        if self.writer.is_some() {
            // What is in flight lands first, so that the log ends read next are final.
            self.send_gathered()?;
            self.serve_acknowledgements(0);
        }
        if self.writer.is_some()
            && let Err(e) = self.assign_from_target_ends()
        {
            self.broken(e);
        }
        Ok(())
    }

    /// Reads every mirrored source partition from its copy's log end on the target.
    fn assign_from_target_ends(&mut self) -> anyhow::Result<()> {
        self.gathering.clear();
        let partitions: Vec<(Arc<str>, i32)> =
            self.routes.values().flat_map(|r| (0..r.partitions).map(|p| (r.target.clone(), p))).collect();
        let ends = if partitions.is_empty() {
            HashMap::new()
        } else {
            log_ends(&self.target_brokers, &self.target_security, &partitions)?
        };
        let mut assignment = TopicPartitionList::new();
        for route in self.routes.values() {
            for partition in 0..route.partitions {
                let end = ends.get(&(route.target.clone(), partition)).copied().unwrap_or(0);
                assignment.add_partition_offset(&route.source, partition, Offset::Offset(end))?;
            }
        }
        self.consumer.assign(&assignment).context("read the source partitions from the target's log ends")?;
        // Where the copy ends is where the source is read from: the mirror group's lag.
        if assignment.count() > 0
            && let Err(e) = self.consumer.store_offsets(&assignment)
        {
            tracing::debug!(error = %e, "offsets not stored");
        }
        tracing::debug!(partitions = assignment.count(), "source partitions read from the target's log ends");
        Ok(())
    }

    /// Copies what the source has ready (up to a step's worth) and serves acknowledgements.
    pub fn step(&mut self) -> anyhow::Result<()> {
        if self.writer.is_none() {
            let wait = self.retry_at.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait.min(Duration::from_millis(100)));
                return Ok(());
            }
            match LinkWriter::connect(&self.target_brokers, &self.target_security, Some(&self.link), self.compression) {
                Ok(writer) => self.writer = Some(writer),
                Err(e) => {
                    self.broken(e);
                    return Ok(());
                }
            }
            if let Err(e) = self.assign_from_target_ends() {
                self.broken(e);
                return Ok(());
            }
            tracing::info!(link = %self.link, "writing to the target at the source's offsets");
        }
        let mut wait = if self.idle { Duration::from_millis(100) } else { Duration::ZERO };
        let mut read = 0;
        let mut full_batch = None;
        while read < RECORDS_PER_STEP {
            let Some(message) = next_record(&self.consumer, wait) else { break };
            wait = Duration::ZERO;
            read += 1;
            let Some(route) = self.routes.get(message.topic()) else { continue };
            let key = (route.source.clone(), message.partition());
            let timestamp = message.timestamp().to_millis().unwrap_or(-1);
            let bytes = (message.key().map_or(0, <[u8]>::len) + message.payload().map_or(0, <[u8]>::len)) as u64;
            let limit = route.max_batch_bytes;
            let full = self.gathering.get(&key).is_some_and(|(_, b)| {
                b.size() + bytes as usize > limit || message.offset() - b.base_offset() > i32::MAX as i64 / 2
            });
            if full {
                full_batch = self.gathering.remove(&key);
            }
            let route = &self.routes[message.topic()];
            let (meta, builder) = self.gathering.entry(key).or_insert_with(|| {
                let meta = SentBatch {
                    source: route.source.clone(),
                    target: route.target.clone(),
                    partition: message.partition(),
                    base_offset: message.offset(),
                    last_offset: message.offset(),
                    source_jumps: Vec::new(),
                    target_base: -1,
                    records: 0,
                    bytes: 0,
                    last_timestamp: timestamp,
                };
                (meta, BatchBuilder::new(message.offset(), timestamp))
            });
            if message.offset() <= builder.last_offset() {
                // A record read again after a seek: the batch already holds it.
                continue;
            }
            let headers = message.headers();
            let header_pairs = headers.iter().flat_map(|h| h.iter()).map(|h| (h.key, h.value));
            builder.push(message.offset(), timestamp, message.key(), message.payload(), header_pairs)?;
            meta.last_offset = message.offset();
            meta.records += 1;
            meta.bytes += bytes;
            meta.last_timestamp = timestamp;
            if full_batch.is_some() {
                // A request carries one batch per partition: the full one goes first, alone.
                break;
            }
        }
        self.idle = read == 0;
        if let Some(batch) = full_batch {
            self.send(vec![batch])?;
        }
        self.send_gathered()?;
        self.serve_acknowledgements(MAX_IN_FLIGHT);
        if self.idle
            && self.gathering.is_empty()
            && self.writer.as_ref().is_some_and(LinkWriter::is_idle)
            && self.last_positions_stored.elapsed() >= STORE_POSITIONS_EVERY
        {
            self.store_positions();
        }
        if self.last_report.elapsed() >= REPORT_EVERY {
            let rate = (self.copied - self.copied_at_report) as f64 / self.last_report.elapsed().as_secs_f64();
            tracing::info!(copied = self.copied, records_per_s = rate.round() as u64, "mirror progress");
            self.copied_at_report = self.copied;
            self.last_report = Instant::now();
        }
        Ok(())
    }

    /// Stores the consumer's positions: with nothing gathered or in flight, everything before
    /// them is copied, and they have passed any transaction markers at the end.
    fn store_positions(&mut self) {
        self.last_positions_stored = Instant::now();
        let Ok(positions) = self.consumer.position() else { return };
        let mut store = TopicPartitionList::new();
        for element in positions.elements() {
            if let Some(offset) = element.offset().to_raw().filter(|o| *o >= 0) {
                let _ = store.add_partition_offset(element.topic(), element.partition(), Offset::Offset(offset));
            }
        }
        if store.count() > 0
            && let Err(e) = self.consumer.store_offsets(&store)
        {
            tracing::debug!(error = %e, "positions not stored");
        }
    }

    /// Sends every batch being gathered, one request.
    fn send_gathered(&mut self) -> anyhow::Result<()> {
        if self.gathering.is_empty() {
            return Ok(());
        }
        let batches: Vec<(SentBatch, BatchBuilder)> = self.gathering.drain().map(|(_, batch)| batch).collect();
        self.send(batches)
    }

    /// Sends `batches` in one request once fewer than `MAX_IN_FLIGHT` wait (the source is not
    /// read meanwhile: backpressure).
    fn send(&mut self, batches: Vec<(SentBatch, BatchBuilder)>) -> anyhow::Result<()> {
        self.serve_acknowledgements(MAX_IN_FLIGHT - 1);
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        if let Err(e) = writer.send(batches) {
            self.broken(e);
        }
        Ok(())
    }

    /// Takes the target's answers, waiting until at most `keep` requests are in flight.
    fn serve_acknowledgements(&mut self, keep: usize) {
        let Some(writer) = self.writer.as_mut() else { return };
        let (batches, failure) = writer.acknowledged(keep);
        let mut store = TopicPartitionList::new();
        for batch in batches {
            self.copied += batch.records;
            self.stats.acknowledged_records(
                &batch.source,
                batch.partition,
                batch.last_offset,
                batch.last_timestamp,
                batch.records,
                batch.bytes,
            );
            let _ = store.add_partition_offset(&batch.source, batch.partition, Offset::Offset(batch.last_offset + 1));
        }
        // The mirror's own group shows its progress on the source (`runnel group lag`).
        if store.count() > 0
            && let Err(e) = self.consumer.store_offsets(&store)
        {
            tracing::debug!(error = %e, "offsets not stored");
        }
        match failure {
            None => {}
            Some(LinkFailure::NotMirrorTopic { target, message }) => {
                tracing::warn!(topic = %target, reason = %message, "stopped mirroring a topic the target promoted");
                self.routes.retain(|_, r| r.target != target);
                self.promoted.push(target);
                self.broken(anyhow::anyhow!("the target promoted a mirror topic"));
                self.retry_at = Instant::now();
            }
            Some(LinkFailure::Broken(e) | LinkFailure::Refused(e)) => self.broken(e),
        }
    }

    /// Drops the connection and what was gathered; the next step connects again and reads
    /// from the target's log ends.
    fn broken(&mut self, error: anyhow::Error) {
        // The first failure is logged, then one every 10 s while the target stays away.
        let connected = self.writer.take().is_some();
        if connected || self.last_failure_logged.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            self.last_failure_logged = Some(Instant::now());
            tracing::warn!(
                error = format!("{error:#}"),
                "target not written; going on from its log ends in {RETRY_AFTER:?}"
            );
        }
        self.gathering.clear();
        self.retry_at = Instant::now() + RETRY_AFTER;
    }

    /// Records the target has acknowledged so far.
    pub fn copied(&self) -> u64 {
        self.copied
    }

    /// Sends what was gathered, waits for every answer, and commits the mirror group's
    /// offsets on the source (for its lag; the target's log ends are what a restart uses).
    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.send_gathered()?;
        self.serve_acknowledgements(0);
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(error = %e, "the mirror group's offsets on the source not committed"),
        }
        self.consumer.unassign().ok();
        Ok(())
    }
}
