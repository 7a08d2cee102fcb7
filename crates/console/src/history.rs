//! History: samples in memory, bounded by age and by bytes, and on disk in a log of runnel's
//! own (for `runnel serve`, the internal topic `__runnel_console`, whose `retention.ms` and
//! `retention.bytes` bound it), read back at start so charts and alert windows survive a
//! restart.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel_broker::partition::PartitionRef;

use crate::sample::Sample;

/// The internal topic `runnel serve` keeps console history in (and the name of the log
/// `runnel monitor` keeps in its history directory).
pub const HISTORY_TOPIC: &str = "__runnel_console";

/// Samples, oldest first, within an age and a size (what they hold in memory).
#[derive(Debug)]
pub struct History {
    samples: VecDeque<(Sample, u64)>,
    bytes: u64,
    max_bytes: u64,
    retention_ms: i64,
}

impl History {
    /// Empty history keeping samples for `retention_ms` and at most `max_bytes`.
    pub fn new(retention_ms: i64, max_bytes: u64) -> History {
        History { samples: VecDeque::new(), bytes: 0, max_bytes, retention_ms }
    }

    /// Adds a sample and drops what is too old or too much. Samples out of time order (a clock
    /// stepped back) are kept in arrival order.
    pub fn push(&mut self, mut sample: Sample) {
        if let Some(previous) = self.latest() {
            sample.share_names(previous);
        }
        // Parsed samples have room to spare: give it back.
        sample.topics.shrink_to_fit();
        sample.groups.shrink_to_fit();
        sample.lags.shrink_to_fit();
        let size = sample.memory_bytes();
        let now = sample.t;
        self.bytes += size;
        self.samples.push_back((sample, size));
        while let Some((oldest, size)) = self.samples.front() {
            let too_old = oldest.t < now - self.retention_ms;
            let too_much = self.bytes > self.max_bytes && self.samples.len() > 1;
            if !(too_old || too_much) {
                break;
            }
            self.bytes -= size;
            self.samples.pop_front();
        }
    }

    /// Every sample kept, oldest first.
    pub fn samples(&self) -> impl DoubleEndedIterator<Item = &Sample> + ExactSizeIterator {
        self.samples.iter().map(|(s, _)| s)
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back().map(|(s, _)| s)
    }

    /// The newest sample taken at or before `t`.
    pub fn at_or_before(&self, t: i64) -> Option<&Sample> {
        self.samples().rev().find(|s| s.t <= t)
    }

    /// Samples taken at or after `since`.
    pub fn since(&self, since: i64) -> impl Iterator<Item = &Sample> {
        self.samples().filter(move |s| s.t >= since)
    }

    /// Bytes the kept samples hold in memory.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Samples kept.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// The log history is kept in: one record per sample, its value the sample as JSON, in
/// zstd-compressed batches.
#[derive(Debug, Clone)]
pub struct HistoryLog {
    partition: PartitionRef,
}

impl HistoryLog {
    /// History kept in `partition`.
    pub fn new(partition: PartitionRef) -> HistoryLog {
        HistoryLog { partition }
    }

    /// Appends one sample.
    pub fn append(&self, sample: &Sample) -> anyhow::Result<()> {
        let value = serde_json::to_vec(sample)?;
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: sample.t,
            key: None,
            value: Some(Bytes::from(value)),
            headers: Default::default(),
        };
        let mut batch = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut batch,
            &[record],
            &RecordEncodeOptions { version: 2, compression: Compression::Zstd },
        )
        .map_err(|e| anyhow::anyhow!("encode a history sample: {e}"))?;
        self.partition.append(&batch, sample.t)?;
        // Old segments go as soon as they are past retention (for runnel serve the broker's
        // retention task would also do it; runnel monitor has no other).
        self.partition.apply_retention(sample.t)?;
        Ok(())
    }

    /// Hands every sample still in the log to `keep`, oldest first, as it is read (so that a
    /// long history is never all parsed at once); returns how many. Records that do not parse
    /// (from a newer or broken writer) are skipped.
    pub fn load(&self, mut keep: impl FnMut(Sample)) -> anyhow::Result<usize> {
        let (start, end) = self.partition.offsets();
        let mut offset = start;
        let mut count = 0;
        while offset < end {
            let Some(mut bytes) = self.partition.read(offset, 4 << 20, true)?.records else { break };
            let sets = RecordBatchDecoder::decode_all(&mut bytes)
                .map_err(|e| anyhow::anyhow!("decode history at offset {offset}: {e}"))?;
            let before = offset;
            for record in sets.into_iter().flat_map(|s| s.records) {
                if record.offset < offset {
                    continue;
                }
                offset = record.offset + 1;
                let Some(value) = record.value else { continue };
                match serde_json::from_slice::<Sample>(&value) {
                    Ok(sample) => {
                        count += 1;
                        keep(sample);
                    }
                    Err(e) => tracing::debug!(offset = record.offset, error = %e, "skipping a history record"),
                }
            }
            if offset == before {
                break;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use runnel_broker::partition::Partition;
    use runnel_log::{LogConfig, PartitionLog};

    use super::*;

    fn sample(t: i64) -> Sample {
        Sample { t, up: true, ..Sample::default() }
    }

    #[test]
    fn memory_keeps_the_newest_within_age_and_bytes() {
        let each = sample(0).memory_bytes();
        let mut history = History::new(10_000, 3 * each);
        for t in 0..5 {
            history.push(sample(t * 1_000));
        }
        assert_eq!(history.len(), 3, "room for three samples");
        assert_eq!(history.bytes(), 3 * each);
        assert_eq!(history.samples().next().map(|s| s.t), Some(2_000));
        history.push(sample(20_000));
        assert_eq!(history.len(), 1, "older than 10 s are gone");
        assert_eq!(history.at_or_before(19_999), None);
        assert_eq!(history.at_or_before(25_000).map(|s| s.t), Some(20_000));
    }

    #[test]
    fn samples_written_to_the_log_come_back_after_reopening_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = || {
            let (log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).expect("open");
            HistoryLog::new(Arc::new(Partition::new("__runnel_console", 0, log)))
        };
        let log = open();
        for t in [1_000, 2_000, 3_000] {
            log.append(&sample(t)).expect("append");
        }
        log.partition.close().expect("close");
        let mut loaded = Vec::new();
        assert_eq!(open().load(|s| loaded.push(s.t)).expect("load"), 3);
        assert_eq!(loaded, vec![1_000, 2_000, 3_000]);
    }
}
