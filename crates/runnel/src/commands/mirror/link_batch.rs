//! Record batches that keep their source's offsets: what an offset-preserving mirror writes.
//!
//! Kafka's v2 batch format carries each record's offset as a delta from the batch's base
//! offset, so a batch can hold records that sit apart (as a compacted batch does). The mirror
//! encodes its batches here rather than through a client library because the base offset and
//! the gaps are the point, and because every header is kept, repeated keys included.

use anyhow::Context;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::Compressor;
use kafka_protocol::records::Compression;

/// Bytes of the v2 batch header before the first record.
const HEADER_LEN: usize = 61;

/// Records of one partition, gathered for one batch.
pub struct BatchBuilder {
    base_offset: i64,
    last_offset: i64,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    records: BytesMut,
    record: BytesMut,
}

impl BatchBuilder {
    /// A batch starting with the record at `offset`.
    pub fn new(offset: i64, timestamp: i64) -> BatchBuilder {
        BatchBuilder {
            base_offset: offset,
            last_offset: offset - 1,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            count: 0,
            records: BytesMut::with_capacity(16 * 1024),
            record: BytesMut::new(),
        }
    }

    /// Adds the record at `offset` (above every offset added before).
    pub fn push<'h>(
        &mut self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl Iterator<Item = (&'h str, Option<&'h [u8]>)>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(offset > self.last_offset, "offset {offset} does not follow {}", self.last_offset);
        let delta = i32::try_from(offset - self.base_offset)
            .context("records more than 2^31 offsets apart cannot share a batch")?;
        let body = &mut self.record;
        body.clear();
        body.put_i8(0);
        put_varlong(body, timestamp - self.base_timestamp);
        put_varlong(body, i64::from(delta));
        put_bytes(body, key);
        put_bytes(body, value);
        let headers: Vec<(&str, Option<&[u8]>)> = headers.collect();
        put_varlong(body, headers.len() as i64);
        for (name, value) in headers {
            put_bytes(body, Some(name.as_bytes()));
            put_bytes(body, value);
        }
        put_varlong(&mut self.records, body.len() as i64);
        self.records.extend_from_slice(body);
        self.last_offset = offset;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
        Ok(())
    }

    /// The first offset of the batch.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The offset of the last record added.
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Encoded bytes of the records so far (before compression).
    pub fn size(&self) -> usize {
        self.records.len()
    }

    /// The batch, for producer `(id, epoch)` with `base_sequence`, records compressed with
    /// `compression`. A record's sequence is the base sequence plus its offset delta, as
    /// Kafka counts them.
    pub fn finish(&self, producer: (i64, i16), base_sequence: i32, compression: Compression) -> anyhow::Result<Bytes> {
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.records.len());
        out.put_i64(self.base_offset);
        out.put_i32(0); // length, below
        out.put_i32(-1); // partition leader epoch
        out.put_i8(2); // magic
        out.put_u32(0); // CRC, below
        out.put_i16(compression as i16);
        out.put_i32((self.last_offset - self.base_offset) as i32);
        out.put_i64(self.base_timestamp);
        out.put_i64(self.max_timestamp);
        out.put_i64(producer.0);
        out.put_i16(producer.1);
        out.put_i32(base_sequence);
        out.put_i32(self.count);
        let records = &self.records[..];
        let copy = |buf: &mut BytesMut| {
            buf.extend_from_slice(records);
            Ok(())
        };
        match compression {
            Compression::None => out.extend_from_slice(records),
            Compression::Gzip => kafka_protocol::compression::Gzip::compress(&mut out, copy)?,
            Compression::Snappy => kafka_protocol::compression::Snappy::compress(&mut out, copy)?,
            Compression::Lz4 => kafka_protocol::compression::Lz4::compress(&mut out, copy)?,
            Compression::Zstd => kafka_protocol::compression::Zstd::compress(&mut out, copy)?,
        }
        let length = i32::try_from(out.len() - 12).context("a batch above 2 GiB")?;
        out[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = runnel_log::batch::compute_crc(&out);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(out.freeze())
    }
}

/// The codec named by librdkafka's `compression.type` (`none` when unset).
pub fn compression_named(name: Option<&str>) -> anyhow::Result<Compression> {
    Ok(match name.unwrap_or("none") {
        "none" | "uncompressed" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => anyhow::bail!("compression.type {other} is not one of none, gzip, snappy, lz4, zstd"),
    })
}

fn put_varlong(buf: &mut BytesMut, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        buf.put_u8((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    buf.put_u8(zigzag as u8);
}

fn put_bytes(buf: &mut BytesMut, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong(buf, -1),
        Some(bytes) => {
            put_varlong(buf, bytes.len() as i64);
            buf.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn batches_keep_offsets_gaps_headers_and_sequences_under_every_codec() {
        for compression in
            [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
        {
            let mut builder = BatchBuilder::new(1_000, 5_000);
            builder.push(1_000, 5_000, Some(b"a"), Some(b"one"), std::iter::empty()).unwrap();
            let headers = [("h", Some(&b"1"[..])), ("h", Some(&b"2"[..])), ("none", None)];
            builder.push(1_003, 4_990, None, Some(b"two"), headers.into_iter()).unwrap();
            builder.push(1_010, 5_020, Some(b"c"), None, std::iter::empty()).unwrap();
            assert!(builder.push(1_010, 0, None, None, std::iter::empty()).is_err(), "offsets only go up");
            let batch = builder.finish((42, 3), 7, compression).unwrap();
            let header = runnel_log::batch::validate_stored(&batch).expect("a valid batch");
            assert_eq!((header.base_offset, header.last_offset(), header.record_count), (1_000, 1_010, 3));
            assert_eq!((header.producer_id, header.producer_epoch, header.base_sequence), (42, 3, 7));
            assert_eq!(header.max_timestamp, 5_020);
            let records = RecordBatchDecoder::decode(&mut batch.clone()).expect("decode").records;
            let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
            assert_eq!(offsets, [1_000, 1_003, 1_010], "{compression:?}");
            assert_eq!(records[1].timestamp, 4_990);
            assert_eq!(records[1].key, None);
            assert_eq!(records[2].value, None);
            assert_eq!(records[2].sequence, 17, "sequence = base sequence + offset delta");
            assert_eq!(records[1].headers.len(), 2, "the decoder keeps one of the repeated keys");
        }
        // The repeated header keys are both on the wire.
        let mut builder = BatchBuilder::new(0, 0);
        builder.push(0, 0, None, None, [("h", Some(&b"1"[..])), ("h", Some(&b"2"[..]))].into_iter()).unwrap();
        let batch = builder.finish((-1, -1), -1, Compression::None).unwrap();
        assert_eq!(batch.windows(2).filter(|w| w == b"h\x02").count(), 2);
    }
}
