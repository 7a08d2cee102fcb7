//! Builds real v2 record batches with kafka-protocol's encoder, for tests and benchmarks.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

/// One uncompressed batch of `count` records (keys `key-i`), timestamps from `timestamp` up,
/// and `(producer id, epoch, base sequence)` for idempotent batches.
pub fn batch(count: usize, timestamp: i64, producer: Option<(i64, i16, i32)>) -> Bytes {
    encode(count, timestamp, producer.unwrap_or((-1, -1, -1)), false)
}

/// Like [`batch`], but part of the producer's transaction.
pub fn transactional_batch(count: usize, timestamp: i64, producer: (i64, i16, i32)) -> Bytes {
    encode(count, timestamp, producer, true)
}

/// One uncompressed batch whose records sit at `offsets` (gaps allowed), as a mirror writes
/// a source's records, with `(producer id, epoch, base sequence)`.
pub fn batch_at_offsets(offsets: &[i64], timestamp: i64, producer: (i64, i16, i32)) -> Bytes {
    let base = offsets[0];
    let records: Vec<Record> = offsets
        .iter()
        .map(|&offset| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.0,
            producer_epoch: producer.1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: producer.2 + (offset - base) as i32,
            timestamp,
            key: Some(Bytes::from(format!("key-{offset}"))),
            value: Some(Bytes::from(format!("value-{offset}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: Compression::None })
        .expect("encode test batch");
    buf.freeze()
}

fn encode(count: usize, timestamp: i64, producer: (i64, i16, i32), transactional: bool) -> Bytes {
    let records: Vec<(String, Option<String>, i64)> = (0..count)
        .map(|i| (format!("key-{i}"), Some(format!("value-{i}-{}", "x".repeat(20))), timestamp + i as i64))
        .collect();
    encode_records(&records, producer, transactional, Compression::None)
}

/// One batch of keyed records, `(key, value)` each (`None` value: a tombstone), at `timestamp`,
/// compressed with `compression`: what compaction tests write.
pub fn keyed_batch(records: &[(&str, Option<&str>)], timestamp: i64, compression: Compression) -> Bytes {
    let records: Vec<(String, Option<String>, i64)> =
        records.iter().map(|(k, v)| (k.to_string(), v.map(str::to_string), timestamp)).collect();
    encode_records(&records, (-1, -1, -1), false, compression)
}

/// Encodes `(key, value, timestamp)` records as one batch at offsets from 0, with sequences
/// from the producer's base sequence (from -1, as decoded, without a producer).
fn encode_records(
    records: &[(String, Option<String>, i64)],
    producer: (i64, i16, i32),
    transactional: bool,
    compression: Compression,
) -> Bytes {
    let (producer_id, producer_epoch, base_sequence) = producer;
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value, timestamp))| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: base_sequence + i as i32,
            timestamp: *timestamp,
            key: Some(Bytes::from(key.clone())),
            value: value.clone().map(Bytes::from),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression })
        .expect("encode test batch");
    buf.freeze()
}
