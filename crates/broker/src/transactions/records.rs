//! The records of `__transaction_state`, in Kafka's schemas (`TransactionLogKey` version 0,
//! `TransactionLogValue` version 0), so the transaction log reads like Kafka's. A record with
//! no value is a tombstone: the transactional id is forgotten.

use bytes::{BufMut, Bytes, BytesMut};

use super::state::{TxnMetadata, TxnStatus};
use crate::schema_fields::{FieldError, get_i8, get_i16, get_i32, get_i64, get_string, put_string};

/// Key version: the transactional id.
const KEY_VERSION: i16 = 0;
/// Value version: producer id and epoch, timeout, status, partitions, timestamps.
const VALUE_VERSION: i16 = 0;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxnRecordError {
    /// A field is cut short or not UTF-8.
    #[error("transaction record: {0}")]
    Field(#[from] FieldError),
    /// A key or value version, or a status, this broker does not know.
    #[error("unknown transaction record {0} {1}")]
    Unknown(&'static str, i16),
}

/// Encodes the key of `transactional_id`.
pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut key = BytesMut::new();
    key.put_i16(KEY_VERSION);
    put_string(&mut key, transactional_id);
    key.freeze()
}

/// Encodes a transaction's metadata as a value.
pub fn encode_value(m: &TxnMetadata) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(m.producer_id);
    buf.put_i16(m.producer_epoch);
    buf.put_i32(m.timeout_ms);
    buf.put_i8(m.status.code());
    // Kafka writes the partitions grouped by topic, null when there are none.
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, partition) in &m.partitions {
        match topics.last_mut() {
            Some((t, partitions)) if t == topic => partitions.push(*partition),
            _ => topics.push((topic, vec![*partition])),
        }
    }
    if topics.is_empty() {
        buf.put_i32(-1);
    } else {
        buf.put_i32(topics.len() as i32);
        for (topic, partitions) in topics {
            put_string(&mut buf, topic);
            buf.put_i32(partitions.len() as i32);
            for p in partitions {
                buf.put_i32(p);
            }
        }
    }
    buf.put_i64(m.last_update_ms);
    buf.put_i64(m.start_ms);
    buf.freeze()
}

/// Decodes a stored key into its transactional id.
pub fn decode_key(mut key: &[u8]) -> Result<String, TxnRecordError> {
    match get_i16(&mut key, "key version")? {
        KEY_VERSION => Ok(get_string(&mut key)?),
        v => Err(TxnRecordError::Unknown("key version", v)),
    }
}

/// Decodes a stored value.
pub fn decode_value(mut value: &[u8]) -> Result<TxnMetadata, TxnRecordError> {
    let version = get_i16(&mut value, "value version")?;
    if version != VALUE_VERSION {
        return Err(TxnRecordError::Unknown("value version", version));
    }
    let producer_id = get_i64(&mut value, "producer id")?;
    let producer_epoch = get_i16(&mut value, "producer epoch")?;
    let timeout_ms = get_i32(&mut value, "timeout")?;
    let status_code = get_i8(&mut value, "status")?;
    let status = TxnStatus::from_code(status_code).ok_or(TxnRecordError::Unknown("status", status_code.into()))?;
    let mut partitions = std::collections::BTreeSet::new();
    let topics = get_i32(&mut value, "topic count")?;
    for _ in 0..topics.max(0) {
        let topic = get_string(&mut value)?;
        for _ in 0..get_i32(&mut value, "partition count")?.max(0) {
            partitions.insert((topic.clone(), get_i32(&mut value, "partition")?));
        }
    }
    Ok(TxnMetadata {
        producer_id,
        producer_epoch,
        timeout_ms,
        status,
        partitions,
        last_update_ms: get_i64(&mut value, "last update timestamp")?,
        start_ms: get_i64(&mut value, "start timestamp")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing() -> TxnMetadata {
        TxnMetadata {
            producer_id: 4000,
            producer_epoch: 3,
            timeout_ms: 60_000,
            status: TxnStatus::Ongoing,
            partitions: [("a", 0), ("a", 2), ("b", 1)].into_iter().map(|(t, p)| (t.to_string(), p)).collect(),
            last_update_ms: 1_700_000_000_500,
            start_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn keys_and_values_round_trip_in_kafkas_layout() {
        let key = encode_key("tx-1");
        assert_eq!(&key[..], &[0, 0, 0, 4, b't', b'x', b'-', b'1']);
        assert_eq!(decode_key(&key), Ok("tx-1".to_string()));
        let value = encode_value(&ongoing());
        // version, producer id, epoch, timeout, status, then 2 topics.
        assert_eq!(&value[..2], &[0, 0]);
        assert_eq!(value[16], 1, "status Ongoing");
        assert_eq!(&value[17..21], &2i32.to_be_bytes());
        assert_eq!(decode_value(&value), Ok(ongoing()));
        let empty = TxnMetadata { status: TxnStatus::Empty, partitions: Default::default(), ..ongoing() };
        let value = encode_value(&empty);
        assert_eq!(&value[17..21], &(-1i32).to_be_bytes(), "no partitions: null");
        assert_eq!(decode_value(&value), Ok(empty));
    }

    #[test]
    fn truncated_and_unknown_records_are_errors_not_panics() {
        let value = encode_value(&ongoing());
        for cut in 0..value.len() {
            assert!(decode_value(&value[..cut]).is_err());
        }
        let mut bad_status = value.to_vec();
        bad_status[16] = 42;
        assert_eq!(decode_value(&bad_status), Err(TxnRecordError::Unknown("status", 42)));
        assert_eq!(decode_key(&[0, 7]), Err(TxnRecordError::Unknown("key version", 7)));
    }
}
