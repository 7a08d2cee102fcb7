//! The Kafka v2 record batch header: the only part of a batch the broker reads on the hot path.
//!
//! Layout (big-endian), exactly as Kafka writes it on the wire and on disk:
//!
//! | offset | size | field                                   |
//! |-------:|-----:|-----------------------------------------|
//! | 0      | 8    | base offset                             |
//! | 8      | 4    | batch length (bytes after this field)   |
//! | 12     | 4    | partition leader epoch                  |
//! | 16     | 1    | magic (2)                               |
//! | 17     | 4    | CRC-32C of bytes 21..end                |
//! | 21     | 2    | attributes                              |
//! | 23     | 4    | last offset delta                       |
//! | 27     | 8    | base timestamp                          |
//! | 35     | 8    | max timestamp                           |
//! | 43     | 8    | producer id                             |
//! | 51     | 2    | producer epoch                          |
//! | 53     | 4    | base sequence                           |
//! | 57     | 4    | record count                            |
//! | 61     | ...  | records (possibly compressed)           |
//!
//! The base offset and leader epoch sit before the CRC'd range, so the broker assigns offsets by
//! patching those bytes without touching the records or recomputing the checksum.

use thiserror::Error;

/// Size of the fixed v2 batch header, records start here.
pub const HEADER_LEN: usize = 61;
/// Size of the prefix (base offset + batch length) that frames every batch in a log.
pub const LOG_OVERHEAD: usize = 12;
/// The only record batch format runnel accepts.
pub const MAGIC_V2: u8 = 2;

const LENGTH_OFFSET: usize = 8;
const LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORD_COUNT_OFFSET: usize = 57;

const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// Why a batch was refused. Each maps to one Kafka error code in the broker.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The bytes end before the batch does: a torn write or a truncated request.
    #[error("record batch truncated: {available} bytes available, {needed} needed")]
    Truncated {
        /// Bytes present.
        available: usize,
        /// Bytes the header says the batch occupies.
        needed: usize,
    },
    /// Bytes follow the batch: a produce carries exactly one batch per partition.
    #[error("{extra} bytes follow the record batch: produce requests must contain exactly one record batch")]
    TrailingBytes {
        /// Bytes after the end of the first batch.
        extra: usize,
    },
    /// The length field is impossible (below the header size).
    #[error("record batch length {0} is smaller than the v2 header")]
    BadLength(i32),
    /// Only magic 2 batches are stored; older message formats are refused.
    #[error("unsupported record batch magic {0}: runnel stores only v2 batches")]
    UnsupportedMagic(u8),
    /// The stored CRC does not match the bytes: corruption in flight or on disk.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC written in the header.
        stored: u32,
        /// CRC of the bytes as received.
        computed: u32,
    },
    /// The records could not be decoded (or decompressed).
    #[error("record batch records cannot be decoded: {0}")]
    Undecodable(String),
    /// Record count and last offset delta disagree, or the batch is empty.
    #[error("record batch has {count} records but last offset delta {last_offset_delta}")]
    BadRecordCount {
        /// Record count field.
        count: i32,
        /// Last offset delta field.
        last_offset_delta: i32,
    },
}

/// The parsed fixed header of one v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (as stored; on produce this is what the client sent).
    pub base_offset: i64,
    /// Length of the batch after the 12-byte log overhead.
    pub batch_length: i32,
    /// Leader epoch stamped by the broker that appended the batch.
    pub partition_leader_epoch: i32,
    /// Format version, always 2 once validated.
    pub magic: u8,
    /// CRC-32C over attributes..end.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control flags.
    pub attributes: i16,
    /// Offset of the last record relative to the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 when none.
    pub producer_id: i64,
    /// Idempotent producer epoch, -1 when none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 when none.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parses the fixed header from the start of `bytes` without checking the CRC.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
        if bytes.len() < HEADER_LEN {
            return Err(BatchError::Truncated { available: bytes.len(), needed: HEADER_LEN });
        }
        let magic = bytes[MAGIC_OFFSET];
        let header = BatchHeader {
            base_offset: be_i64(bytes, 0),
            batch_length: be_i32(bytes, LENGTH_OFFSET),
            partition_leader_epoch: be_i32(bytes, LEADER_EPOCH_OFFSET),
            magic,
            crc: be_i32(bytes, CRC_OFFSET) as u32,
            attributes: be_i16(bytes, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(bytes, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(bytes, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(bytes, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(bytes, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(bytes, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(bytes, BASE_SEQUENCE_OFFSET),
            record_count: be_i32(bytes, RECORD_COUNT_OFFSET),
        };
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if (header.batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(BatchError::BadLength(header.batch_length));
        }
        Ok(header)
    }

    /// Total bytes of the batch including the 12-byte log overhead.
    pub fn total_len(&self) -> usize {
        // batch_length was checked non-negative and >= 49 in `parse`.
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// Offset that follows the batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x7
    }

    /// True when the timestamps were set by the broker (LogAppendTime).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    /// True for batches written inside a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// True for transaction markers, which clients never send in a produce request.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// True when the batch belongs to an idempotent producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sequence number of the last record, wrapping as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 { (last - i32::MAX as i64 - 1) as i32 } else { last as i32 }
    }
}

/// CRC-32C of the checksummed range of a complete batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Validates one complete batch occupying exactly `bytes`: length, magic, CRC, record count.
/// Anything after the batch is refused, as Kafka refuses a produce of several batches.
pub fn validate(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = validate_stored(bytes)?;
    if header.record_count as i64 != header.last_offset_delta as i64 + 1 {
        return Err(BatchError::BadRecordCount {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Validates a batch as the log stores it: as [`validate`], except that a compacted batch may
/// hold fewer records than its offset span (records removed by the cleaner leave gaps).
pub fn validate_stored(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(bytes)?;
    if header.total_len() < bytes.len() {
        return Err(BatchError::TrailingBytes { extra: bytes.len() - header.total_len() });
    }
    if header.total_len() > bytes.len() {
        return Err(BatchError::Truncated { available: bytes.len(), needed: header.total_len() });
    }
    let computed = compute_crc(bytes);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch { stored: header.crc, computed });
    }
    if header.record_count <= 0
        || header.last_offset_delta < 0
        || header.record_count as i64 > header.last_offset_delta as i64 + 1
    {
        return Err(BatchError::BadRecordCount {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    Ok(header)
}

/// Fixes up a batch the cleaner re-encoded from the records it kept: the original attributes'
/// timestamp type, the original last offset (as a delta from the new base), and a base sequence
/// of -1 for a batch without a producer; then the CRC.
pub fn patch_for_compaction(
    bytes: &mut [u8],
    original_attributes: i16,
    last_offset_delta: i32,
    base_sequence: Option<i32>,
) {
    let attributes = be_i16(bytes, ATTRIBUTES_OFFSET) | (original_attributes & 0x08);
    bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    bytes[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4].copy_from_slice(&last_offset_delta.to_be_bytes());
    if let Some(sequence) = base_sequence {
        bytes[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4].copy_from_slice(&sequence.to_be_bytes());
    }
    let crc = compute_crc(bytes);
    bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The positions in a (validated) batch of its records without a key, which a compacted topic
/// refuses. Decodes the records (decompressing if needed): only compacted topics pay for it.
pub fn keyless_records(batch: &[u8]) -> Result<Vec<i32>, BatchError> {
    let mut bytes = bytes::Bytes::copy_from_slice(batch);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)
        .map_err(|e| BatchError::Undecodable(e.to_string()))?;
    Ok(set.records.iter().enumerate().filter(|(_, r)| r.key.is_none()).map(|(i, _)| i as i32).collect())
}

/// The first 16 bytes of a batch as the log stores it: assigned base offset, the client's length,
/// and the broker's leader epoch. Written in front of `batch[16..]`, so the records are never copied.
pub fn stored_prefix(batch: &[u8], base_offset: i64, leader_epoch: i32) -> [u8; 16] {
    let mut prefix = [0u8; 16];
    prefix[..8].copy_from_slice(&base_offset.to_be_bytes());
    prefix[8..12].copy_from_slice(&batch[LENGTH_OFFSET..LEADER_EPOCH_OFFSET]);
    prefix[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    prefix
}

/// Rewrites a batch for a `LogAppendTime` topic: sets the timestamp type bit and the max
/// timestamp to `now_ms`, then recomputes the CRC. The only path that copies a batch.
pub fn with_log_append_time(batch: &[u8], now_ms: i64) -> Vec<u8> {
    let mut copy = batch.to_vec();
    let attributes = be_i16(&copy, ATTRIBUTES_OFFSET) | TIMESTAMP_TYPE_BIT;
    copy[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    copy[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(&copy);
    copy[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    copy
}

/// The timestampDelta of a batch's first record, from the uncompressed record bytes that
/// follow the header (`length` varint, `attributes` int8, `timestampDelta` varlong, all
/// zigzag-encoded as Kafka writes them). `None` if the bytes end first or a varint is malformed.
pub fn first_record_timestamp_delta(records: &[u8]) -> Option<i64> {
    let (_length, rest) = read_zigzag(records)?;
    let rest = rest.get(1..)?;
    read_zigzag(rest).map(|(delta, _)| delta)
}

/// Reads one zigzag varint (at most 10 bytes) and returns it with the bytes after it.
fn read_zigzag(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let decoded = (value >> 1) as i64 ^ -((value & 1) as i64);
            return Some((decoded, &bytes[i + 1..]));
        }
    }
    None
}

/// Walks the complete batches at the start of `bytes`, yielding `(position, header)`.
/// Stops quietly at a partial batch; stops with an error at a header that cannot be valid.
pub struct BatchWalker<'a> {
    /// The bytes being walked.
    bytes: &'a [u8],
    /// Start of the next batch.
    position: usize,
    /// Set after an invalid header: walking stops there.
    failed: bool,
}

impl<'a> BatchWalker<'a> {
    /// Starts walking at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BatchWalker { bytes, position: 0, failed: false }
    }

    /// Bytes covered by the complete batches walked so far.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Iterator for BatchWalker<'_> {
    type Item = Result<(usize, BatchHeader), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.position..];
        if self.failed || rest.len() < HEADER_LEN {
            return None;
        }
        match BatchHeader::parse(rest) {
            Ok(header) if header.total_len() <= rest.len() => {
                let at = self.position;
                self.position += header.total_len();
                Some(Ok((at, header)))
            }
            Ok(_) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_records_timestamp_delta_is_read_from_its_varints() {
        // length 20 (zigzag 40), attributes 0, timestampDelta -3 (zigzag 5), then anything.
        assert_eq!(first_record_timestamp_delta(&[40, 0, 5, 0xff]), Some(-3));
        // timestampDelta 300 (zigzag 600 = 0xd8 0x04).
        assert_eq!(first_record_timestamp_delta(&[40, 0, 0xd8, 0x04]), Some(300));
        assert_eq!(first_record_timestamp_delta(&[40, 0]), None);
        assert_eq!(first_record_timestamp_delta(&[0xff; 12]), None);
    }
    use crate::testing::batch;

    #[test]
    fn a_valid_batch_passes_validation_and_reports_its_header() {
        let b = batch(3, 1_000, Some((7, 1, 10)));
        let h = validate(&b).expect("valid");
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.base_sequence, 10);
        assert_eq!(h.last_sequence(), 12);
        assert_eq!(h.base_timestamp, 1_000);
        assert_eq!(h.max_timestamp, 1_002);
        assert_eq!(h.total_len(), b.len());
    }

    #[test]
    fn a_flipped_record_byte_fails_the_crc() {
        let mut b = batch(2, 0, None).to_vec();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(validate(&b), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn offset_and_epoch_patching_keeps_the_crc_valid() {
        let b = batch(2, 0, None);
        let mut stored = stored_prefix(&b, 4242, 0).to_vec();
        stored.extend_from_slice(&b[16..]);
        let h = validate(&stored).expect("still valid");
        assert_eq!(h.base_offset, 4242);
        assert_eq!(h.partition_leader_epoch, 0);
    }

    #[test]
    fn log_append_time_rewrite_is_valid_and_marked() {
        let b = batch(2, 5, None);
        let rewritten = with_log_append_time(&b, 99);
        let h = validate(&rewritten).expect("valid");
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99);
    }

    #[test]
    fn old_magic_and_short_lengths_are_refused() {
        let mut b = batch(1, 0, None).to_vec();
        b[16] = 1;
        assert_eq!(validate(&b), Err(BatchError::UnsupportedMagic(1)));
        let mut b = batch(1, 0, None).to_vec();
        b[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(validate(&b), Err(BatchError::BadLength(10)));
        assert!(matches!(validate(&b[..30]), Err(BatchError::Truncated { .. })));
        let mut two = batch(1, 0, None).to_vec();
        two.extend_from_slice(&batch(1, 0, None));
        assert!(matches!(validate(&two), Err(BatchError::TrailingBytes { .. })));
    }

    #[test]
    fn walker_yields_complete_batches_and_stops_at_a_partial_one() {
        let a = batch(1, 0, None);
        let b = batch(2, 0, None);
        let mut joined = a.to_vec();
        joined.extend_from_slice(&b);
        joined.extend_from_slice(&b[..b.len() - 1]);
        let mut walker = BatchWalker::new(&joined);
        let found: Vec<usize> = walker.by_ref().map(|r| r.expect("ok").0).collect();
        assert_eq!(found, vec![0, a.len()]);
        assert_eq!(walker.position(), a.len() + b.len());
    }

    proptest::proptest! {
        #[test]
        fn validation_never_panics_on_random_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = validate(&bytes);
            for item in BatchWalker::new(&bytes) { let _ = item; }
        }

        #[test]
        fn validation_never_panics_on_mutated_batches(pos in 0usize..200, val in proptest::num::u8::ANY, cut in 0usize..200) {
            let mut b = batch(3, 0, None).to_vec();
            let p = pos % b.len();
            b[p] = val;
            let c = cut % (b.len() + 1);
            let _ = validate(&b[..c]);
            for item in BatchWalker::new(&b[..c]) { let _ = item; }
        }
    }
}
