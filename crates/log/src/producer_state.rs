//! Producer state of one partition: which sequence numbers each idempotent producer has written,
//! so retried batches are recognised as duplicates and gaps are refused; and which producers
//! have a transaction open here, from its first record, which holds back the last stable
//! offset (LSO) until its marker.
//!
//! State is rebuilt from batch headers (producer id, epoch, base sequence, last offset delta,
//! and the marker type of control batches), so replaying the log after a crash reproduces it
//! exactly. A snapshot file `<20-digit offset>.snapshot` records the state as of that offset so
//! recovery only replays the batches after it. Snapshot format (big-endian): `version: u16 = 3`,
//! `crc32c: u32` of what follows, `count: u32`, then per producer `id: i64, epoch: i16,
//! txn_first_offset: i64 (-1: none open), last_timestamp: i64, batches: u8`, then per batch
//! `first_seq: i32, last_seq: i32, base_offset: i64, last_offset_delta: i32`. Versions 1 (no
//! transactions) and 2 (no timestamp: read as -1) are still read.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::Path;

use crate::batch::BatchHeader;
use crate::control::ControlType;

/// How many recent batches per producer are remembered for duplicate detection (Kafka's value,
/// matching the client's max.in.flight.requests.per.connection bound of 5).
pub const BATCHES_PER_PRODUCER: usize = 5;

const SNAPSHOT_VERSION: u16 = 3;

/// A refusal of an idempotent batch, mapped to Kafka's error codes by the broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The producer's epoch is older than one already seen: a zombie instance.
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// Producer id.
        producer_id: i64,
        /// Epoch in the batch.
        epoch: i16,
        /// Epoch already recorded.
        current: i16,
    },
    /// The batch does not follow the last written sequence: records in between are missing.
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// Next sequence the partition expects.
        expected: i32,
        /// First sequence of the batch.
        got: i32,
    },
}

/// Outcome of checking an idempotent batch before appending it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New data in order: append it.
    Append,
    /// A retry of a batch already in the log at this base offset: acknowledge, do not append.
    Duplicate {
        /// Base offset the batch was stored at.
        base_offset: i64,
    },
}

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMetadata {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset_delta: i32,
}

/// What the partition knows of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
    /// Offset of the first record of its open transaction in this partition.
    txn_first_offset: Option<i64>,
    /// Max timestamp of its last batch (-1: unknown).
    last_timestamp: i64,
}

/// One producer of a partition, as DescribeProducers (`kafka-transactions.sh
/// describe-producers`) shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    /// Producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// Last sequence number written (-1: none, a transactional producer's markers only).
    pub last_sequence: i32,
    /// Max timestamp of its last batch (-1: unknown, from an older snapshot).
    pub last_timestamp: i64,
    /// First offset of its open transaction here (-1: none open).
    pub txn_start_offset: i64,
}

/// A transaction that a marker just ended in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of its first record here.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// Whether it was aborted.
    pub aborted: bool,
}

/// The per-partition producer table.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions by first offset: the smallest bounds the last stable offset.
    open: BTreeMap<i64, i64>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (next == 0 && last == i32::MAX)
}

impl ProducerState {
    /// Checks a batch from an idempotent producer, as Kafka's ProducerStateManager does.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state aged out with retention): accept any sequence.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(SequenceError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: entry.epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            if h.base_sequence != 0 {
                return Err(SequenceError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(SequenceCheck::Append);
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq) {
            return Ok(SequenceCheck::Duplicate { base_offset: dup.base_offset });
        }
        let current_last = entry.batches.back().map(|b| b.last_seq).unwrap_or(-1);
        if !in_sequence(current_last, h.base_sequence) {
            return Err(SequenceError::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected: current_last.wrapping_add(1),
                got: h.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that is now in the log at `base_offset` (append or replay). `marker` is
    /// the type of a control batch's marker. Returns the transaction a marker ended, if any.
    pub fn record(&mut self, h: &BatchHeader, base_offset: i64, marker: Option<ControlType>) -> Option<CompletedTxn> {
        if !h.has_producer_id() {
            return None;
        }
        let entry = self.producers.entry(h.producer_id).or_insert_with(|| ProducerEntry {
            epoch: h.producer_epoch,
            batches: VecDeque::new(),
            txn_first_offset: None,
            last_timestamp: -1,
        });
        entry.last_timestamp = h.max_timestamp;
        if h.is_control() {
            // A marker carries no sequence; an epoch bumped by the coordinator (an abort on
            // timeout) fences the producer's older epoch from here on.
            if h.producer_epoch > entry.epoch {
                entry.epoch = h.producer_epoch;
                entry.batches.clear();
            }
            let first_offset = entry.txn_first_offset.take()?;
            self.open.remove(&first_offset);
            return Some(CompletedTxn {
                producer_id: h.producer_id,
                first_offset,
                last_offset: base_offset,
                aborted: marker != Some(ControlType::Commit),
            });
        }
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        // A batch without sequence numbers (a coordinator's own) leaves nothing to check
        // duplicates against.
        if h.base_sequence >= 0 {
            if entry.batches.len() == BATCHES_PER_PRODUCER {
                entry.batches.pop_front();
            }
            entry.batches.push_back(BatchMetadata {
                first_seq: h.base_sequence,
                last_seq: h.last_sequence(),
                base_offset,
                last_offset_delta: h.last_offset_delta,
            });
        }
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(base_offset);
            self.open.insert(base_offset, h.producer_id);
        }
        None
    }

    /// Producer id -> base offset of its last batch here: batches the cleaner keeps whole, so
    /// the producer's sequence state can be rebuilt from the log.
    pub fn last_batch_offsets(&self) -> HashMap<i64, i64> {
        self.producers.iter().filter_map(|(id, p)| p.batches.back().map(|b| (*id, b.base_offset))).collect()
    }

    /// The first offset of the oldest transaction still open here: the last stable offset, if
    /// any is open.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open.keys().next().copied()
    }

    /// Whether `producer_id` has a transaction open in this partition.
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.producers.get(&producer_id).is_some_and(|e| e.txn_first_offset.is_some())
    }

    /// Every producer tracked, by producer id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let mut all: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(id, e)| ActiveProducer {
                producer_id: *id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                txn_start_offset: e.txn_first_offset.unwrap_or(-1),
            })
            .collect();
        all.sort_by_key(|p| p.producer_id);
        all
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Serialises the state (format in the module doc).
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort();
        for id in ids {
            let e = &self.producers[id];
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&e.epoch.to_be_bytes());
            body.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
            body.extend_from_slice(&e.last_timestamp.to_be_bytes());
            body.push(e.batches.len() as u8);
            for b in &e.batches {
                body.extend_from_slice(&b.first_seq.to_be_bytes());
                body.extend_from_slice(&b.last_seq.to_be_bytes());
                body.extend_from_slice(&b.base_offset.to_be_bytes());
                body.extend_from_slice(&b.last_offset_delta.to_be_bytes());
            }
        }
        let mut out = Vec::with_capacity(body.len() + 6);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a snapshot; `None` when it is damaged or of an unknown version.
    pub fn from_snapshot(raw: &[u8]) -> Option<ProducerState> {
        let mut r = Reader { raw, at: 0 };
        let version = r.u16()?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return None;
        }
        let crc = r.u32()?;
        if crc32c::crc32c(raw.get(6..)?) != crc {
            return None;
        }
        let count = r.u32()?;
        let mut producers = HashMap::new();
        let mut open = BTreeMap::new();
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.u16()? as i16;
            let txn_first_offset = if version >= 2 { Some(r.i64()?).filter(|o| *o >= 0) } else { None };
            if let Some(first) = txn_first_offset {
                open.insert(first, id);
            }
            let last_timestamp = if version >= 3 { r.i64()? } else { -1 };
            let n = r.u8()?;
            let mut batches = VecDeque::new();
            for _ in 0..n {
                batches.push_back(BatchMetadata {
                    first_seq: r.u32()? as i32,
                    last_seq: r.u32()? as i32,
                    base_offset: r.i64()?,
                    last_offset_delta: r.u32()? as i32,
                });
            }
            producers.insert(id, ProducerEntry { epoch, batches, txn_first_offset, last_timestamp });
        }
        Some(ProducerState { producers, open })
    }

    /// Writes a snapshot as of `offset` into `dir` (temp file, fsync, rename).
    pub fn write_snapshot(&self, dir: &Path, offset: i64) -> io::Result<()> {
        let path = crate::segment::segment_path(dir, offset, "snapshot");
        crate::durable_file::write_atomically(&path, &self.to_snapshot())
    }

    /// Loads the newest readable snapshot at or below `max_offset`, deleting any above it.
    /// Returns the state and the offset it is valid for.
    pub fn load_latest_snapshot(dir: &Path, max_offset: i64) -> io::Result<Option<(ProducerState, i64)>> {
        let mut offsets = snapshot_offsets(dir)?;
        offsets.sort_unstable();
        for &offset in offsets.iter().rev() {
            let path = crate::segment::segment_path(dir, offset, "snapshot");
            if offset > max_offset {
                fs::remove_file(&path)?;
                continue;
            }
            if let Some(state) = fs::read(&path).ok().and_then(|raw| ProducerState::from_snapshot(&raw)) {
                return Ok(Some((state, offset)));
            }
        }
        Ok(None)
    }
}

/// Offsets of the snapshot files present in `dir`.
pub fn snapshot_offsets(dir: &Path) -> io::Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".snapshot")
            && let Ok(offset) = stem.parse::<i64>()
        {
            offsets.push(offset);
        }
    }
    Ok(offsets)
}

struct Reader<'a> {
    raw: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let slice = self.raw.get(self.at..self.at.checked_add(N)?)?;
        self.at += N;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take::<2>().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take::<8>().map(i64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::validate;
    use crate::testing::batch;

    fn header(pid: i64, epoch: i16, seq: i32, count: usize) -> BatchHeader {
        validate(&batch(count, 0, Some((pid, epoch, seq)))).expect("valid")
    }

    #[test]
    fn in_order_batches_append_and_a_retry_is_a_duplicate() {
        let mut state = ProducerState::default();
        let first = header(1, 0, 0, 3);
        assert_eq!(state.check(&first), Ok(SequenceCheck::Append));
        state.record(&first, 100, None);
        let second = header(1, 0, 3, 2);
        assert_eq!(state.check(&second), Ok(SequenceCheck::Append));
        state.record(&second, 103, None);
        assert_eq!(state.check(&first), Ok(SequenceCheck::Duplicate { base_offset: 100 }));
        assert_eq!(state.check(&second), Ok(SequenceCheck::Duplicate { base_offset: 103 }));
    }

    #[test]
    fn a_gap_in_sequences_is_out_of_order() {
        let mut state = ProducerState::default();
        state.record(&header(1, 0, 0, 3), 0, None);
        assert!(matches!(
            state.check(&header(1, 0, 5, 1)),
            Err(SequenceError::OutOfOrderSequence { expected: 3, got: 5, .. })
        ));
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_new_epoch_starts_at_zero() {
        let mut state = ProducerState::default();
        state.record(&header(1, 2, 0, 1), 0, None);
        assert!(matches!(state.check(&header(1, 1, 1, 1)), Err(SequenceError::InvalidProducerEpoch { .. })));
        assert_eq!(state.check(&header(1, 3, 0, 1)), Ok(SequenceCheck::Append));
        assert!(matches!(state.check(&header(1, 3, 4, 1)), Err(SequenceError::OutOfOrderSequence { .. })));
    }

    fn transactional(pid: i64, epoch: i16, seq: i32, count: usize) -> BatchHeader {
        validate(&crate::testing::transactional_batch(count, 0, (pid, epoch, seq))).expect("valid")
    }

    fn marker(pid: i64, epoch: i16, kind: ControlType) -> (BatchHeader, Option<ControlType>) {
        let batch = crate::control::marker_batch(pid, epoch, kind, 0, 0);
        let header = validate(&batch).expect("valid");
        (header, crate::control::control_type(&header, &batch))
    }

    #[test]
    fn open_transactions_hold_the_stable_offset_until_their_markers() {
        let mut state = ProducerState::default();
        assert_eq!(state.first_unstable_offset(), None);
        state.record(&transactional(1, 0, 0, 2), 10, None);
        state.record(&transactional(2, 0, 0, 1), 12, None);
        state.record(&transactional(1, 0, 2, 2), 13, None);
        assert_eq!(state.first_unstable_offset(), Some(10));
        assert!(state.has_open_transaction(1) && state.has_open_transaction(2));

        let (h, kind) = marker(1, 0, ControlType::Commit);
        let done = state.record(&h, 15, kind).expect("a transaction ended");
        assert_eq!(done, CompletedTxn { producer_id: 1, first_offset: 10, last_offset: 15, aborted: false });
        assert_eq!(state.first_unstable_offset(), Some(12));
        // A marker for a producer with nothing open here ends nothing.
        assert_eq!(state.record(&h, 16, kind), None);

        let (h, kind) = marker(2, 1, ControlType::Abort);
        let done = state.record(&h, 17, kind).expect("a transaction ended");
        assert!(done.aborted && done.first_offset == 12);
        assert_eq!(state.first_unstable_offset(), None);
        // The abort came with a bumped epoch: the old one is fenced.
        assert!(matches!(state.check(&transactional(2, 0, 1, 1)), Err(SequenceError::InvalidProducerEpoch { .. })));
    }

    #[test]
    fn an_open_transaction_survives_a_snapshot_and_version_1_snapshots_still_load() {
        let mut state = ProducerState::default();
        state.record(&transactional(5, 0, 0, 3), 40, None);
        state.record(&header(6, 0, 0, 1), 43, None);
        let restored = ProducerState::from_snapshot(&state.to_snapshot()).expect("loads");
        assert_eq!(restored, state);
        assert_eq!(restored.first_unstable_offset(), Some(40));

        // Version 1: one producer (id 6, epoch 0) with one batch, no transaction field.
        let mut body = Vec::new();
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&6i64.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.push(1);
        for v in [0i32, 0] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        body.extend_from_slice(&43i64.to_be_bytes());
        body.extend_from_slice(&0i32.to_be_bytes());
        let mut v1 = 1u16.to_be_bytes().to_vec();
        v1.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        v1.extend_from_slice(&body);
        let old = ProducerState::from_snapshot(&v1).expect("a version 1 snapshot loads");
        assert_eq!(old.check(&header(6, 0, 0, 1)), Ok(SequenceCheck::Duplicate { base_offset: 43 }));
        assert_eq!(old.first_unstable_offset(), None);
    }

    #[test]
    fn snapshots_round_trip_and_damage_is_detected() {
        let mut state = ProducerState::default();
        for i in 0..7 {
            state.record(&header(9, 0, i * 2, 2), (i * 2) as i64, None);
        }
        state.record(&header(4, 1, 0, 1), 50, None);
        let raw = state.to_snapshot();
        assert_eq!(ProducerState::from_snapshot(&raw), Some(state.clone()));
        let mut damaged = raw.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(ProducerState::from_snapshot(&damaged), None);
        assert_eq!(ProducerState::from_snapshot(&raw[..raw.len() - 3]), None);
    }

    #[test]
    fn active_producers_show_epoch_last_sequence_timestamp_and_open_transaction() {
        let mut state = ProducerState::default();
        state.record(&header(9, 2, 0, 3), 0, None);
        state.record(&transactional(4, 0, 0, 2), 3, None);
        let producers = state.active_producers();
        let ids: Vec<(i64, i16, i32, i64)> =
            producers.iter().map(|p| (p.producer_id, p.epoch, p.last_sequence, p.txn_start_offset)).collect();
        assert_eq!(ids, vec![(4, 0, 1, 3), (9, 2, 2, -1)]);
        let stamped = transactional(4, 0, 0, 2).max_timestamp;
        assert_eq!(producers[0].last_timestamp, stamped);
        // The timestamp survives a snapshot; a version 2 snapshot (none kept) reads as -1.
        let restored = ProducerState::from_snapshot(&state.to_snapshot()).expect("loads");
        assert_eq!(restored.active_producers(), producers);
        let mut v2 = Vec::new();
        v2.extend_from_slice(&1u32.to_be_bytes());
        v2.extend_from_slice(&7i64.to_be_bytes());
        v2.extend_from_slice(&0i16.to_be_bytes());
        v2.extend_from_slice(&(-1i64).to_be_bytes());
        v2.push(0);
        let mut raw = 2u16.to_be_bytes().to_vec();
        raw.extend_from_slice(&crc32c::crc32c(&v2).to_be_bytes());
        raw.extend_from_slice(&v2);
        let old = ProducerState::from_snapshot(&raw).expect("a version 2 snapshot loads");
        assert_eq!(
            old.active_producers(),
            vec![ActiveProducer {
                producer_id: 7,
                epoch: 0,
                last_sequence: -1,
                last_timestamp: -1,
                txn_start_offset: -1
            }]
        );
    }
}
