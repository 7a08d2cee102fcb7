//! runnel's own key-value logs (`__consumer_offsets`, `__transaction_state`): appending
//! records as one batch, and reading them back in order at startup. The records' keys and
//! values are each coordinator's own schema; this is only the log around them.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel_log::LogError;

use crate::partition::Partition;

/// Appends `(key, value)` records (`None` value: a tombstone) as one batch; returns the offset
/// after them.
pub fn append(log: &Partition, records: &[(Bytes, Option<Bytes>)], now_ms: i64, what: &str) -> Result<i64, LogError> {
    let encoded: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset - sequence is constant;
            // this gives the batch base sequence -1 (no producer id).
            sequence: i as i32 - 1,
            timestamp: now_ms,
            key: Some(key.clone()),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        &encoded,
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .map_err(|e| LogError::io(format!("encode {what} records"), std::io::Error::other(e.to_string())))?;
    Ok(log.append(&batch, now_ms)?.next_offset)
}

/// Calls `f(offset, key, value)` for every record below `until`, oldest first; returns how
/// many records were read. Records without a key are skipped.
pub fn read(
    log: &Partition,
    until: i64,
    what: &str,
    mut f: impl FnMut(i64, &[u8], Option<&[u8]>),
) -> Result<u64, LogError> {
    let mut count = 0u64;
    let (start, end) = log.offsets();
    let end = end.min(until);
    let mut offset = start;
    while offset < end {
        let Some(mut bytes) = log.read(offset, 1 << 20, true)?.records else { break };
        let sets = RecordBatchDecoder::decode_all(&mut bytes)
            .map_err(|e| LogError::io(format!("decode the {what} log"), std::io::Error::other(e.to_string())))?;
        let mut advanced = false;
        for record in sets.into_iter().flat_map(|s| s.records) {
            if record.offset < offset || record.offset >= end {
                continue;
            }
            offset = record.offset + 1;
            advanced = true;
            count += 1;
            if let Some(key) = record.key.as_deref() {
                f(record.offset, key, record.value.as_deref());
            }
        }
        if !advanced {
            break;
        }
    }
    Ok(count)
}
