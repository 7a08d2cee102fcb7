//! Transaction markers: the control batches that end a producer's transaction in a partition
//! (Kafka's `EndTransactionMarker`). A marker batch has the control and transactional bits
//! set, the producer's id and epoch, no sequence, and one record whose key is
//! `version: i16 = 0, type: i16` (0 abort, 1 commit) and whose value is
//! `version: i16 = 0, coordinator_epoch: i32`.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use crate::batch::{BatchHeader, HEADER_LEN};

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// Its records are dropped by read_committed consumers.
    Abort,
    /// Its records become visible to read_committed consumers.
    Commit,
}

impl ControlType {
    fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }
}

/// A marker batch, ready to append (base offset 0: the log assigns the real one).
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    kind: ControlType,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.code().to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: Some(Bytes::from(key)),
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .expect("a marker batch always encodes");
    buf.freeze()
}

/// The type of the marker in a complete control batch `batch` (as stored, header included);
/// `None` when `batch` is not a control batch or its record is not a marker.
pub fn control_type(header: &BatchHeader, batch: &[u8]) -> Option<ControlType> {
    if !header.is_control() || header.compression() != 0 {
        return None;
    }
    let mut at = HEADER_LEN;
    let _record_length = next_varint(batch, &mut at)?;
    at += 1; // the record's attributes
    let _timestamp_delta = next_varint(batch, &mut at)?;
    let _offset_delta = next_varint(batch, &mut at)?;
    let key_length = next_varint(batch, &mut at)?;
    if key_length < 4 {
        return None;
    }
    let key = batch.get(at..at + 4)?;
    match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(ControlType::Abort),
        1 => Some(ControlType::Commit),
        _ => None,
    }
}

/// The zig-zag varint (Kafka's record format) at `*at`, moving `*at` past it.
fn next_varint(bytes: &[u8], at: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for (i, byte) in bytes.get(*at..)?.iter().take(10).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *at += i + 1;
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::validate;

    #[test]
    fn markers_are_valid_control_batches_whose_type_reads_back() {
        for kind in [ControlType::Abort, ControlType::Commit] {
            let batch = marker_batch(42, 3, kind, 7, 1_000);
            let header = validate(&batch).expect("valid");
            assert!(header.is_control() && header.is_transactional());
            assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (42, 3, -1));
            assert_eq!(control_type(&header, &batch), Some(kind));
        }
        let data = crate::testing::batch(2, 0, Some((42, 3, 0)));
        assert_eq!(control_type(&validate(&data).expect("valid"), &data), None);
    }
}
