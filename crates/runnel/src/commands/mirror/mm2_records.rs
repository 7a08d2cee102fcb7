//! MirrorMaker 2's record formats, byte for byte, so that its tools read what runnel's mirror
//! writes (`RemoteClusterUtils.translateOffsets` reads the checkpoints, `upstreamClusters` the
//! heartbeats) and a mirror can take over from MM2's topics: offset syncs
//! (`mm2-offset-syncs.<target>.internal`), checkpoints (`<source>.checkpoints.internal`) and
//! heartbeats (`heartbeats`). Fields are Kafka's protocol types: strings with an int16 length,
//! big-endian integers; checkpoint and heartbeat values start with an int16 version (0).

use anyhow::{Context, bail};

/// The offset-syncs topic of a mirror to `target_alias`, on the source (MM2's default place).
pub fn offset_syncs_topic(target_alias: &str) -> String {
    format!("mm2-offset-syncs.{target_alias}.internal")
}

/// The checkpoints topic on the target for groups of `source_alias`.
pub fn checkpoints_topic(source_alias: &str) -> String {
    format!("{source_alias}.checkpoints.internal")
}

/// The topic heartbeats are written to.
pub const HEARTBEATS_TOPIC: &str = "heartbeats";

/// A point where source and target offsets correspond: a reader whose next source offset is
/// `upstream` resumes at `downstream` on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetSync {
    /// The source topic.
    pub topic: String,
    /// Its partition (the copy's partition is the same).
    pub partition: i32,
    /// The source offset.
    pub upstream: i64,
    /// The matching target offset.
    pub downstream: i64,
}

impl OffsetSync {
    /// The record key: topic, partition.
    pub fn key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(6 + self.topic.len());
        put_string(&mut key, &self.topic);
        key.extend_from_slice(&self.partition.to_be_bytes());
        key
    }

    /// The record value: upstream offset, downstream offset.
    pub fn value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(16);
        value.extend_from_slice(&self.upstream.to_be_bytes());
        value.extend_from_slice(&self.downstream.to_be_bytes());
        value
    }

    /// Reads an offset-sync record.
    pub fn decode(key: &[u8], value: &[u8]) -> anyhow::Result<OffsetSync> {
        let mut key = Reader(key);
        let mut value = Reader(value);
        Ok(OffsetSync {
            topic: key.string().context("offset sync key")?,
            partition: key.i32().context("offset sync key")?,
            upstream: value.i64().context("offset sync value")?,
            downstream: value.i64().context("offset sync value")?,
        })
    }
}

/// A group's committed source offset and its translation, as MM2's checkpoint connector
/// emits it (the topic named is the copy on the target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The consumer group.
    pub group: String,
    /// The topic on the target.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset on the source.
    pub upstream: i64,
    /// Where the group resumes on the target.
    pub downstream: i64,
    /// The commit's metadata string.
    pub metadata: String,
}

impl Checkpoint {
    /// The record key: group, topic, partition.
    pub fn key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(8 + self.group.len() + self.topic.len());
        put_string(&mut key, &self.group);
        put_string(&mut key, &self.topic);
        key.extend_from_slice(&self.partition.to_be_bytes());
        key
    }

    /// The record value: version 0, upstream offset, downstream offset, metadata.
    pub fn value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(20 + self.metadata.len());
        value.extend_from_slice(&0i16.to_be_bytes());
        value.extend_from_slice(&self.upstream.to_be_bytes());
        value.extend_from_slice(&self.downstream.to_be_bytes());
        put_string(&mut value, &self.metadata);
        value
    }

    /// Reads a checkpoint record.
    #[cfg(test)]
    pub fn decode(key: &[u8], value: &[u8]) -> anyhow::Result<Checkpoint> {
        let mut key = Reader(key);
        let mut value = Reader(value);
        let version = value.i16().context("checkpoint value")?;
        if version != 0 {
            bail!("checkpoint version {version} is not known (0 is)");
        }
        Ok(Checkpoint {
            group: key.string().context("checkpoint key")?,
            topic: key.string().context("checkpoint key")?,
            partition: key.i32().context("checkpoint key")?,
            upstream: value.i64().context("checkpoint value")?,
            downstream: value.i64().context("checkpoint value")?,
            metadata: value.string().context("checkpoint value")?,
        })
    }
}

/// A mirror's sign of life, written every second with the time it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The alias of the cluster the heartbeat starts from.
    pub source_alias: String,
    /// The alias of the cluster it is mirrored to.
    pub target_alias: String,
    /// When it was written (ms since the epoch).
    pub timestamp_ms: i64,
}

impl Heartbeat {
    /// The record key: source alias, target alias.
    pub fn key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(4 + self.source_alias.len() + self.target_alias.len());
        put_string(&mut key, &self.source_alias);
        put_string(&mut key, &self.target_alias);
        key
    }

    /// The record value: version 0, timestamp.
    pub fn value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(10);
        value.extend_from_slice(&0i16.to_be_bytes());
        value.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        value
    }

    /// Reads a heartbeat record.
    #[cfg(test)]
    pub fn decode(key: &[u8], value: &[u8]) -> anyhow::Result<Heartbeat> {
        let mut key = Reader(key);
        let mut value = Reader(value);
        let version = value.i16().context("heartbeat value")?;
        if version != 0 {
            bail!("heartbeat version {version} is not known (0 is)");
        }
        Ok(Heartbeat {
            source_alias: key.string().context("heartbeat key")?,
            target_alias: key.string().context("heartbeat key")?,
            timestamp_ms: value.i64().context("heartbeat value")?,
        })
    }
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    let length = i16::try_from(text.len()).unwrap_or(i16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&text.as_bytes()[..length as usize]);
}

/// Reads Kafka protocol types off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> anyhow::Result<&[u8]> {
        if self.0.len() < n {
            bail!("{n} bytes wanted, {} left", self.0.len());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i16(&mut self) -> anyhow::Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }

    fn i32(&mut self) -> anyhow::Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }

    fn i64(&mut self) -> anyhow::Result<i64> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into()?))
    }

    fn string(&mut self) -> anyhow::Result<String> {
        let length = self.i16()?;
        if length < 0 {
            bail!("a null string where a string belongs");
        }
        Ok(String::from_utf8(self.take(length as usize)?.to_vec())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_mm2_bytes_and_read_back() {
        let sync = OffsetSync { topic: "ab".into(), partition: 3, upstream: 10, downstream: 7 };
        assert_eq!(sync.key(), [0, 2, b'a', b'b', 0, 0, 0, 3]);
        assert_eq!(sync.value(), [0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(OffsetSync::decode(&sync.key(), &sync.value()).unwrap(), sync);

        let checkpoint = Checkpoint {
            group: "g".into(),
            topic: "us.t".into(),
            partition: 1,
            upstream: 5,
            downstream: 4,
            metadata: String::new(),
        };
        assert_eq!(checkpoint.key(), [0, 1, b'g', 0, 4, b'u', b's', b'.', b't', 0, 0, 0, 1]);
        assert_eq!(checkpoint.value()[..2], [0, 0], "version 0 first");
        assert_eq!(checkpoint.value().len(), 2 + 8 + 8 + 2);
        assert_eq!(Checkpoint::decode(&checkpoint.key(), &checkpoint.value()).unwrap(), checkpoint);

        let heartbeat = Heartbeat { source_alias: "us".into(), target_alias: "eu".into(), timestamp_ms: 1 };
        assert_eq!(heartbeat.key(), [0, 2, b'u', b's', 0, 2, b'e', b'u']);
        assert_eq!(heartbeat.value(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(Heartbeat::decode(&heartbeat.key(), &heartbeat.value()).unwrap(), heartbeat);
    }

    #[test]
    fn truncated_or_unknown_records_are_errors() {
        assert!(OffsetSync::decode(&[0, 5, b'a'], &[0; 16]).is_err());
        assert!(OffsetSync::decode(&[0, 1, b'a', 0, 0, 0, 1], &[0; 8]).is_err());
        let mut value = Heartbeat { source_alias: "a".into(), target_alias: "b".into(), timestamp_ms: 1 }.value();
        value[1] = 9;
        assert!(Heartbeat::decode(&[0, 1, b'a', 0, 1, b'b'], &value).unwrap_err().to_string().contains("version 9"));
    }
}
