//! What the target's acknowledgements tell a translating mirror: per source partition the last
//! record copied and where it went, the points where the offset translation starts a new run,
//! and what the metrics have not been told yet. Fed per record by librdkafka's delivery reports
//! or per batch by the mirror's own writer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};

use super::link_writer::SentBatch;
use super::mm2_records::OffsetSync;
use super::stats::MirrorStats;

/// Where a copied record came from.
pub(super) struct SourcePosition {
    pub(super) topic: Arc<str>,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) timestamp_ms: i64,
    pub(super) bytes: u64,
}

/// The last record of a source partition the target acknowledged, and where it went.
#[derive(Debug, Clone, Copy)]
pub(super) struct LastCopied {
    pub(super) source: i64,
    pub(super) target: i64,
}

/// What the acknowledgements tell the copier between two looks.
#[derive(Default)]
pub(super) struct Acknowledged {
    pub(super) last: HashMap<(Arc<str>, i32), LastCopied>,
    /// Records that do not follow their partition's previous one on both sides: each starts a
    /// new run of the offset translation.
    pub(super) run_starts: Vec<OffsetSync>,
    /// Per source partition, what was acknowledged since the metrics were last told.
    pub(super) unreported: HashMap<(Arc<str>, i32), Unreported>,
}

impl Acknowledged {
    /// `count` records of `topic`-`partition` acknowledged, one after another on both sides:
    /// source offsets from `source`, target offsets from `target`; `bytes` of keys and values,
    /// the last stamped `last_timestamp_ms`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        source: i64,
        target: i64,
        count: u64,
        bytes: u64,
        last_timestamp_ms: i64,
    ) {
        let key = (topic.clone(), partition);
        let last_source = source + count as i64 - 1;
        let u = self.unreported.entry(key.clone()).or_default();
        let first = u.records == 0;
        u.records += count;
        u.bytes += bytes;
        if last_source > u.last_offset || first {
            u.last_offset = last_source;
            u.last_timestamp_ms = last_timestamp_ms;
        }
        let now = LastCopied { source: last_source, target: target + count as i64 - 1 };
        match self.last.get_mut(&key) {
            Some(previous) if previous.source + 1 == source && previous.target + 1 == target => *previous = now,
            previous => {
                self.run_starts.push(OffsetSync {
                    topic: topic.to_string(),
                    partition,
                    upstream: source,
                    downstream: target,
                });
                match previous {
                    Some(previous) => *previous = now,
                    None => {
                        self.last.insert(key, now);
                    }
                }
            }
        }
    }

    /// A batch of the mirror's own writer, acknowledged: one run per stretch of consecutive
    /// source offsets in it.
    pub(super) fn batch(&mut self, batch: &SentBatch) {
        let mut starts: Vec<(u64, i64)> = vec![(0, batch.base_offset)];
        starts.extend(batch.source_jumps.iter().map(|&(index, offset)| (u64::from(index), offset)));
        for (i, &(index, source)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(batch.records, |next| next.0);
            let last = i + 1 == starts.len();
            self.run(
                &batch.source,
                batch.partition,
                source,
                batch.target_base + index as i64,
                end - index,
                if last { batch.bytes } else { 0 },
                batch.last_timestamp,
            );
        }
    }
}

/// Acknowledgements of one partition not yet in the metrics (told once a step, not per record).
#[derive(Default)]
pub(super) struct Unreported {
    records: u64,
    bytes: u64,
    last_offset: i64,
    last_timestamp_ms: i64,
}

/// The target's acknowledgements.
pub(super) struct Acks {
    pub(super) acknowledged: Mutex<Acknowledged>,
    pub(super) failure: Mutex<Option<String>>,
    pub(super) copied: AtomicU64,
    pub(super) stats: Arc<MirrorStats>,
}

impl Acks {
    /// Tells the metrics what was acknowledged since the last time.
    pub(super) fn report(&self) {
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
                let mut acknowledged = self.acknowledged.lock().unwrap_or_else(|p| p.into_inner());
                acknowledged.run(
                    &source.topic,
                    source.partition,
                    source.offset,
                    copy.offset(),
                    1,
                    source.bytes,
                    source.timestamp_ms,
                );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(base_offset: i64, records: u64, source_jumps: Vec<(u32, i64)>, target_base: i64) -> SentBatch {
        SentBatch {
            source: Arc::from("orders"),
            target: Arc::from("us.orders"),
            partition: 0,
            base_offset,
            last_offset: -1,
            source_jumps,
            target_base,
            records,
            bytes: 10 * records,
            last_timestamp: 1_000,
        }
    }

    fn syncs(acknowledged: &mut Acknowledged) -> Vec<(i64, i64)> {
        std::mem::take(&mut acknowledged.run_starts).iter().map(|s| (s.upstream, s.downstream)).collect()
    }

    #[test]
    fn an_acknowledged_batch_starts_a_translation_run_at_each_gap_in_its_source_offsets() {
        let mut acknowledged = Acknowledged::default();
        // Source offsets 10, 11, then 20, 21, 22 (a transaction marker and aborted records
        // between), written at 100..=104.
        acknowledged.batch(&sent(10, 5, vec![(2, 20)], 100));
        assert_eq!(syncs(&mut acknowledged), [(10, 100), (20, 102)]);
        let key = (Arc::from("orders"), 0);
        let last = acknowledged.last[&key];
        assert_eq!((last.source, last.target), (22, 104));
        let unreported = &acknowledged.unreported[&key];
        assert_eq!((unreported.records, unreported.bytes, unreported.last_offset), (5, 50, 22));

        // The next batch follows on both sides: no new run.
        acknowledged.batch(&sent(23, 3, Vec::new(), 105));
        assert!(syncs(&mut acknowledged).is_empty());
        // One written after a rewind lands past copies made twice: a new run.
        acknowledged.batch(&sent(24, 2, Vec::new(), 108));
        assert_eq!(syncs(&mut acknowledged), [(24, 108)]);
        let last = acknowledged.last[&key];
        assert_eq!((last.source, last.target), (25, 109));
    }
}
