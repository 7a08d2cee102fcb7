//! The translating mirror's own writer to a single-broker target: the records of each source
//! partition gathered into one batch per step and sent in pipelined, idempotent Produce
//! requests (`link_writer`), appended where the target's log ends. librdkafka's producer costs
//! a message, a delivery report and their locks per record; this costs a few bytes of encoding,
//! which is most of a mirror's CPU at small records.
//!
//! Nothing is lost when the target goes away: every batch not yet acknowledged is dropped with
//! the connection, records read while there is none are dropped too, and once connected again
//! the copier reads each partition again from the first record dropped
//! ([`AppendingWriter::take_rewinds`]). Reading on meanwhile keeps the source's end, and so the
//! mirror's lag and stall, in view. A batch the target wrote but whose answer was lost is
//! written twice: the duplicates a translating mirror allows, at most `MAX_IN_FLIGHT`
//! requests' worth.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::records::Compression;

use super::link_batch::BatchBuilder;
use super::link_writer::{LinkFailure, LinkWriter, SentBatch};
use crate::commands::wire::ClientSecurity;

/// Produce requests waiting for the target at most: what keeps a link with a long round trip
/// full.
pub const MAX_IN_FLIGHT: usize = 32;
/// The largest batch (its records before compression), under the topic's max.message.bytes.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// How long to wait before connecting again after the target failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often a failure to reach the target is logged while it lasts.
const LOG_FAILURES_EVERY: Duration = Duration::from_secs(10);

/// One record read from the source, to copy.
pub struct SourceRecord<'a> {
    /// The source topic.
    pub source: &'a Arc<str>,
    /// Its copy on the target.
    pub target: &'a Arc<str>,
    /// The partition (the same on both sides).
    pub partition: i32,
    /// The record's source offset.
    pub offset: i64,
    /// Its timestamp (-1 for none).
    pub timestamp: i64,
    /// Its key.
    pub key: Option<&'a [u8]>,
    /// Its value.
    pub value: Option<&'a [u8]>,
    /// The largest batch its topic takes.
    pub max_batch_bytes: usize,
}

/// Batches being gathered and sent to the target, and where to read again after a failure.
pub struct AppendingWriter {
    brokers: String,
    security: ClientSecurity,
    compression: Compression,
    writer: Option<LinkWriter>,
    retry_at: Instant,
    last_failure_logged: Option<Instant>,
    /// Per source partition, the batch being gathered.
    gathering: HashMap<(Arc<str>, i32), (SentBatch, BatchBuilder)>,
    /// Per source partition, the first source offset to read again (everything from it on was
    /// dropped with a failed connection).
    rewinds: HashMap<(Arc<str>, i32), i64>,
    /// Batches acknowledged while making room for a request, not yet handed out.
    pending: Vec<SentBatch>,
    /// A refusal that sending again cannot cure.
    refused: Option<anyhow::Error>,
}

impl AppendingWriter {
    /// A writer to the target at `brokers` (connected at first use), batches compressed with
    /// `compression`.
    pub fn new(brokers: &str, security: ClientSecurity, compression: Compression) -> AppendingWriter {
        AppendingWriter {
            brokers: brokers.to_string(),
            security,
            compression,
            writer: None,
            retry_at: Instant::now(),
            last_failure_logged: None,
            gathering: HashMap::new(),
            rewinds: HashMap::new(),
            pending: Vec::new(),
            refused: None,
        }
    }

    /// Whether the target is connected, connecting if it is time to try again; when not, waits
    /// a little (up to 100 ms) so that a caller looping on it does not spin.
    pub fn connected(&mut self) -> bool {
        if self.writer.is_some() {
            return true;
        }
        let wait = self.retry_at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait.min(Duration::from_millis(100)));
            return false;
        }
        match LinkWriter::connect(&self.brokers, &self.security, None, self.compression) {
            Ok(writer) => {
                if self.last_failure_logged.take().is_some() {
                    tracing::info!(target_brokers = %self.brokers, "writing to the target again");
                }
                self.writer = Some(writer);
                true
            }
            Err(e) => {
                self.broken(e);
                false
            }
        }
    }

    /// Adds `record` to its partition's batch; a batch that would grow past its limit is sent
    /// first, alone. Without a connection the record is dropped, to be read again.
    pub fn push<'h>(
        &mut self,
        record: &SourceRecord<'_>,
        headers: impl Iterator<Item = (&'h str, Option<&'h [u8]>)>,
    ) -> anyhow::Result<()> {
        let key = (record.source.clone(), record.partition);
        if self.writer.is_none() {
            let at = self.rewinds.entry(key).or_insert(record.offset);
            *at = (*at).min(record.offset);
            return Ok(());
        }
        let bytes = record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len);
        let full = self.gathering.get(&key).is_some_and(|(_, b)| b.size() + bytes > record.max_batch_bytes);
        if full && let Some(batch) = self.gathering.remove(&key) {
            self.send(vec![batch]);
        }
        let (meta, builder) = self.gathering.entry(key).or_insert_with(|| {
            let meta = SentBatch {
                source: record.source.clone(),
                target: record.target.clone(),
                partition: record.partition,
                base_offset: record.offset,
                last_offset: record.offset - 1,
                source_jumps: Vec::new(),
                target_base: -1,
                records: 0,
                bytes: 0,
                last_timestamp: record.timestamp,
            };
            // Offsets inside the batch count the records: the target places them one after
            // another wherever its log ends.
            (meta, BatchBuilder::new(0, record.timestamp))
        });
        if meta.records > 0 && record.offset != meta.last_offset + 1 {
            meta.source_jumps.push((meta.records as u32, record.offset));
        }
        builder.push(meta.records as i64, record.timestamp, record.key, record.value, headers)?;
        meta.last_offset = record.offset;
        meta.records += 1;
        meta.bytes += bytes as u64;
        meta.last_timestamp = record.timestamp;
        Ok(())
    }

    /// Sends every batch being gathered, one request, once fewer than `MAX_IN_FLIGHT` wait.
    pub fn send_gathered(&mut self) {
        if !self.gathering.is_empty() {
            let batches = self.gathering.drain().map(|(_, batch)| batch).collect();
            self.send(batches);
        }
    }

    fn send(&mut self, batches: Vec<(SentBatch, BatchBuilder)>) {
        self.collect(MAX_IN_FLIGHT - 1);
        let Some(writer) = self.writer.as_mut() else {
            // The connection failed meanwhile: these are read again too.
            for (batch, _) in &batches {
                self.rewind(batch);
            }
            return;
        };
        if let Err(e) = writer.send(batches) {
            self.broken(e);
        }
    }

    /// The batches the target acknowledged, each with its `target_base`, waiting until at most
    /// `keep` requests are in flight.
    pub fn acknowledged(&mut self, keep: usize) -> Vec<SentBatch> {
        self.collect(keep);
        std::mem::take(&mut self.pending)
    }

    /// Takes the target's answers into `pending`, waiting until at most `keep` requests are in
    /// flight.
    fn collect(&mut self, keep: usize) {
        let Some(writer) = self.writer.as_mut() else { return };
        let (mut batches, failure) = writer.acknowledged(keep);
        self.pending.append(&mut batches);
        match failure {
            None => {}
            Some(LinkFailure::Refused(e)) => {
                self.refused.get_or_insert(e);
                self.broken(anyhow::anyhow!("the target refused a batch"));
            }
            Some(LinkFailure::Broken(e)) => self.broken(e),
            Some(LinkFailure::NotMirrorTopic { message, .. }) => self.broken(anyhow::anyhow!(message)),
        }
    }

    /// The refusal that stops the mirror, if the target refused a batch for good.
    pub fn refusal(&mut self) -> Option<anyhow::Error> {
        self.refused.take()
    }

    /// Per source partition, the offset to read again from: everything from it on was dropped
    /// (with a failed connection, or read while there was none). Empty until connected again.
    pub fn take_rewinds(&mut self) -> HashMap<(Arc<str>, i32), i64> {
        if self.writer.is_none() {
            return HashMap::new();
        }
        std::mem::take(&mut self.rewinds)
    }

    fn rewind(&mut self, batch: &SentBatch) {
        let at = self.rewinds.entry((batch.source.clone(), batch.partition)).or_insert(batch.base_offset);
        *at = (*at).min(batch.base_offset);
    }

    /// Drops the connection, what was gathered and what was in flight; each partition they
    /// held is read again from its first record among them.
    fn broken(&mut self, error: anyhow::Error) {
        let connected = self.writer.is_some();
        if let Some(writer) = self.writer.take() {
            for batch in writer.unanswered() {
                self.rewind(batch);
            }
        }
        for (batch, _) in std::mem::take(&mut self.gathering).into_values() {
            self.rewind(&batch);
        }
        if connected || self.last_failure_logged.is_none_or(|at| at.elapsed() >= LOG_FAILURES_EVERY) {
            self.last_failure_logged = Some(Instant::now());
            tracing::warn!(
                error = format!("{error:#}"),
                "target not written; reading the records it has not acknowledged again in {RETRY_AFTER:?}"
            );
        }
        self.retry_at = Instant::now() + RETRY_AFTER;
    }
}
