//! A topic's `compression.type`: the codec names Kafka accepts, and the recompression of a
//! produced batch into the topic's codec before it is appended (as Kafka's broker does when the
//! topic's codec differs from the producer's).

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};
use runnel_log::LogError;

/// Kafka's `compression.type` values: `producer` (keep the producer's codec, `None`) or a codec,
/// as the batch attribute number. `None` from the outer option: not a valid value.
pub fn parse_compression_type(value: &str) -> Option<Option<i16>> {
    Some(match value {
        "producer" => None,
        "uncompressed" => Some(0),
        "gzip" => Some(1),
        "snappy" => Some(2),
        "lz4" => Some(3),
        "zstd" => Some(4),
        _ => return None,
    })
}

/// The `compression.type` name of a stored codec (`producer` for none set).
pub fn compression_type_name(codec: Option<i16>) -> &'static str {
    match codec {
        None => "producer",
        Some(1) => "gzip",
        Some(2) => "snappy",
        Some(3) => "lz4",
        Some(4) => "zstd",
        Some(_) => "uncompressed",
    }
}

fn compression(codec: i16) -> Compression {
    match codec {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}

/// Rewrites one validated v2 batch with `codec`: the same records, offsets deltas, timestamps,
/// producer id, epoch and sequence, and a new CRC. A batch that does not decompress or decode
/// is refused as a corrupt record, as Kafka refuses it.
pub fn recompress(batch: &[u8], codec: i16) -> Result<Vec<u8>, LogError> {
    let mut bytes = Bytes::copy_from_slice(batch);
    let set =
        RecordBatchDecoder::decode(&mut bytes).map_err(|_| LogError::InvalidRecord("the batch does not decode"))?;
    let mut out = BytesMut::with_capacity(batch.len());
    RecordBatchEncoder::encode(
        &mut out,
        &set.records,
        &RecordEncodeOptions { version: 2, compression: compression(codec) },
    )
    .map_err(|_| LogError::InvalidRecord("the batch's records do not re-encode"))?;
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_log::batch;

    #[test]
    fn every_codec_round_trips_a_batch_and_its_name() {
        let plain = runnel_log::testing::batch(20, 1_000, Some((7, 2, 40)));
        let original = RecordBatchDecoder::decode(&mut plain.clone()).expect("decode").records;
        for name in ["uncompressed", "gzip", "snappy", "lz4", "zstd"] {
            let codec = parse_compression_type(name).expect("valid").expect("a codec");
            assert_eq!(compression_type_name(Some(codec)), name);
            let rewritten = recompress(&plain, codec).expect("recompress");
            let header = batch::validate(&rewritten).expect("a valid batch");
            assert_eq!(header.compression(), codec, "{name}");
            assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (7, 2, 40), "{name}");
            let records = RecordBatchDecoder::decode(&mut Bytes::from(rewritten)).expect("decode").records;
            assert_eq!(records, original, "{name}");
        }
        assert_eq!(parse_compression_type("producer"), Some(None));
        assert_eq!(parse_compression_type("brotli"), None);
    }

    #[test]
    fn a_batch_whose_records_do_not_decode_is_refused() {
        let mut garbled = runnel_log::testing::batch(3, 1_000, None).to_vec();
        garbled[batch::HEADER_LEN..].fill(0xff);
        let crc = batch::compute_crc(&garbled);
        garbled[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(recompress(&garbled, 3), Err(LogError::InvalidRecord(_))));
    }
}
