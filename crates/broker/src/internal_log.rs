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
    let batch = encode(records, now_ms, None, what)?;
    Ok(log.append(&batch, now_ms)?.next_offset)
}

/// Appends records as one transactional batch of `(producer id, epoch)`, pending until the
/// producer's marker (a TxnOffsetCommit); returns the offset after them.
pub fn append_transactional(
    log: &Partition,
    records: &[(Bytes, Option<Bytes>)],
    producer: (i64, i16),
    now_ms: i64,
    what: &str,
) -> Result<i64, LogError> {
    let batch = encode(records, now_ms, Some(producer), what)?;
    Ok(log.append_verified(&batch, now_ms)?.next_offset)
}

fn encode(
    records: &[(Bytes, Option<Bytes>)],
    now_ms: i64,
    producer: Option<(i64, i16)>,
    what: &str,
) -> Result<BytesMut, LogError> {
    let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
    let encoded: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset - sequence is constant;
            // this gives the batch base sequence -1 (none: a coordinator's own batch).
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
    Ok(batch)
}

/// One record read back, with what its batch says of it.
#[derive(Debug)]
pub struct StoredRecord<'a> {
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: &'a [u8],
    /// Its value; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// The producer of a transactional batch, or -1.
    pub producer_id: i64,
    /// Part of a transaction: pending until the producer's marker.
    pub transactional: bool,
    /// A transaction marker (its key says commit or abort).
    pub control: bool,
}

/// Calls `f` for every record below `until`, oldest first; returns how many records were
/// read. Records without a key are skipped.
pub fn read(log: &Partition, until: i64, what: &str, mut f: impl FnMut(StoredRecord<'_>)) -> Result<u64, LogError> {
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
                f(StoredRecord {
                    offset: record.offset,
                    key,
                    value: record.value.as_deref(),
                    producer_id: record.producer_id,
                    transactional: record.transactional,
                    control: record.control,
                });
            }
        }
        if !advanced {
            break;
        }
    }
    Ok(count)
}

/// Whether a marker's key (`version: i16, type: i16`) is a commit.
pub fn marker_commits(key: &[u8]) -> bool {
    key.get(2..4) == Some(&[0, 1])
}
