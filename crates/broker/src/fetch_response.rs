//! The Fetch response, encoded by hand so record bytes are never copied: the encoder emits
//! the response as parts, small encoded byte runs and the file ranges of the log that hold the
//! records, and the connection sends file ranges with `sendfile` (as Kafka does). Every other
//! response is encoded by kafka-protocol; this one is on the hot path.
//!
//! Covers Fetch v4-v16 (flexible from v12, topic ids from v13). Tests check it byte for byte
//! against kafka-protocol's encoder.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use runnel_log::FileSlice;
use uuid::Uuid;

/// One part of an encoded response frame.
#[derive(Debug, Clone)]
pub enum FramePart {
    /// Encoded bytes.
    Bytes(Bytes),
    /// A range of a log segment, sent from the file.
    File(FileSlice),
}

impl FramePart {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            FramePart::Bytes(b) => b.len(),
            FramePart::File(f) => f.len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A partition's records in a Fetch response.
#[derive(Debug, Clone, Default)]
pub enum Records {
    /// Nothing to return: an empty (not null) record set, as clients expect.
    #[default]
    Empty,
    /// Whole batches from a segment file.
    File(FileSlice),
    /// Record bytes in memory (tests, and callers without a file).
    Bytes(Bytes),
}

impl Records {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Records::Empty => 0,
            Records::File(f) => f.len,
            Records::Bytes(b) => b.len(),
        }
    }

    /// Whether there are no record bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One partition of a Fetch response.
#[derive(Debug, Clone, Default)]
pub struct PartitionAnswer {
    /// Partition index.
    pub partition_index: i32,
    /// Kafka error code.
    pub error_code: i16,
    /// High watermark (the log end offset on one node).
    pub high_watermark: i64,
    /// Last stable offset: the first offset of the oldest open transaction, or the log end.
    pub last_stable_offset: i64,
    /// Log start offset (v5+; -1 before).
    pub log_start_offset: i64,
    /// For read_committed fetches, the aborted transactions in the range read, as (producer
    /// id, first offset); null for read_uncommitted.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// The records.
    pub records: Records,
    /// The partition's change count ([`crate::partition::Partition::changes`]) read before
    /// this answer was made, for the fetch session; not sent.
    pub changes: Option<u64>,
}

/// One topic of a Fetch response.
#[derive(Debug, Clone, Default)]
pub struct TopicAnswer {
    /// Name (v4-v12).
    pub name: StrBytes,
    /// Id (v13+).
    pub topic_id: Uuid,
    /// Partitions, in request order.
    pub partitions: Vec<PartitionAnswer>,
}

/// A Fetch response.
#[derive(Debug, Clone, Default)]
pub struct FetchAnswer {
    /// Throttle time (always 0).
    pub throttle_time_ms: i32,
    /// Top-level error (v7+).
    pub error_code: i16,
    /// Fetch session id (v7+; 0: no session).
    pub session_id: i32,
    /// Topics, in request order.
    pub topics: Vec<TopicAnswer>,
}

/// Writes runs of encoded bytes, cutting them where a file range goes. The first run (with
/// the size prefix, patched at the end) stays mutable until then.
struct Parts {
    head: Option<BytesMut>,
    parts: Vec<FramePart>,
    buf: BytesMut,
}

impl Parts {
    fn cut(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let run = self.buf.split();
        match self.head {
            None => self.head = Some(run),
            Some(_) => self.parts.push(FramePart::Bytes(run.freeze())),
        }
    }

    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    fn records(&mut self, records: &Records, flexible: bool) {
        let len = records.len();
        if flexible {
            self.uvarint(len as u64 + 1);
        } else {
            self.buf.put_i32(len as i32);
        }
        match records {
            Records::Empty => {}
            Records::Bytes(b) => self.buf.put_slice(b),
            Records::File(f) => {
                self.cut();
                self.parts.push(FramePart::File(f.clone()));
            }
        }
    }
}

impl FetchAnswer {
    /// Total record bytes in the answer.
    pub fn record_bytes(&self) -> usize {
        self.topics.iter().flat_map(|t| &t.partitions).map(|p| p.records.len()).sum()
    }

    /// Whether any partition carries an error.
    pub fn has_error(&self) -> bool {
        self.error_code != 0 || self.topics.iter().flat_map(|t| &t.partitions).any(|p| p.error_code != 0)
    }

    /// Encodes the response frame for `version` (4-16): the size prefix, the response header
    /// and the body, as parts.
    pub fn encode(&self, version: i16, correlation_id: i32) -> Vec<FramePart> {
        let flexible = version >= 12;
        let mut w = Parts { head: None, parts: Vec::new(), buf: BytesMut::with_capacity(256) };
        w.buf.put_i32(0); // size, filled in below
        w.buf.put_i32(correlation_id);
        if flexible {
            w.uvarint(0); // header tagged fields
        }
        w.buf.put_i32(self.throttle_time_ms);
        if version >= 7 {
            w.buf.put_i16(self.error_code);
            w.buf.put_i32(self.session_id);
        }
        array_len(&mut w, self.topics.len(), flexible);
        for topic in &self.topics {
            if version >= 13 {
                w.buf.put_slice(topic.topic_id.as_bytes());
            } else if flexible {
                w.uvarint(topic.name.len() as u64 + 1);
                w.buf.put_slice(topic.name.as_bytes());
            } else {
                w.buf.put_i16(topic.name.len() as i16);
                w.buf.put_slice(topic.name.as_bytes());
            }
            array_len(&mut w, topic.partitions.len(), flexible);
            for p in &topic.partitions {
                w.buf.put_i32(p.partition_index);
                w.buf.put_i16(p.error_code);
                w.buf.put_i64(p.high_watermark);
                w.buf.put_i64(p.last_stable_offset);
                if version >= 5 {
                    w.buf.put_i64(p.log_start_offset);
                }
                match &p.aborted_transactions {
                    None if flexible => w.uvarint(0),
                    None => w.buf.put_i32(-1),
                    Some(aborted) => {
                        array_len(&mut w, aborted.len(), flexible);
                        for (producer_id, first_offset) in aborted {
                            w.buf.put_i64(*producer_id);
                            w.buf.put_i64(*first_offset);
                            if flexible {
                                w.uvarint(0); // aborted transaction tagged fields
                            }
                        }
                    }
                }
                if version >= 11 {
                    w.buf.put_i32(-1); // preferred read replica: none
                }
                w.records(&p.records, flexible);
                if flexible {
                    w.uvarint(0); // partition tagged fields
                }
            }
            if flexible {
                w.uvarint(0); // topic tagged fields
            }
        }
        if flexible {
            w.uvarint(0); // response tagged fields
        }
        w.cut();
        let mut head = w.head.expect("the size prefix is always written");
        let total = head.len() + w.parts.iter().map(FramePart::len).sum::<usize>();
        head[..4].copy_from_slice(&((total - 4) as i32).to_be_bytes());
        w.parts.insert(0, FramePart::Bytes(head.freeze()));
        w.parts
    }
}

fn array_len(w: &mut Parts, len: usize, flexible: bool) {
    if flexible {
        w.uvarint(len as u64 + 1);
    } else {
        w.buf.put_i32(len as i32);
    }
}
