//! The offset syncs: the points of every partition's [`OffsetMap`], kept in memory for the
//! checkpoints and written to `mm2-offset-syncs.<target>.internal` on the source (MirrorMaker 2's
//! topic and format), from which a restarted mirror reads them back.
//!
//! Order matters for exactness: the mirror commits a source offset only once every point below
//! it is acknowledged by the source cluster, so a mirror killed at any moment restarts with all
//! the run starts its committed offsets rely on.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::mm2_records::OffsetSync;
use super::offset_map::OffsetMap;
use crate::commands::client::TIMEOUT;

/// Every source partition's translation, shared by the copier (which adds points) and the
/// checkpoints (which translate).
pub type SharedOffsetMaps = Arc<Mutex<HashMap<(String, i32), OffsetMap>>>;

/// Counts the source cluster's acknowledgements of written points.
struct SyncAcks {
    acked: AtomicU64,
    failure: Mutex<Option<String>>,
}

impl ClientContext for SyncAcks {}

impl ProducerContext for SyncAcks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failure.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// The points: in memory, and on their way to the offset-syncs topic.
pub struct SyncLog {
    maps: SharedOffsetMaps,
    producer: BaseProducer<SyncAcks>,
    topic: String,
    written: u64,
    /// Source offsets to commit once this many points are acknowledged.
    waiting: VecDeque<(u64, TopicPartitionList)>,
}

impl SyncLog {
    /// Reads back the points already in `topic` on the source (from an earlier run, or from
    /// MirrorMaker 2) and opens a producer for new ones.
    pub fn open(source: &ClientConfig, topic: &str) -> anyhow::Result<SyncLog> {
        let maps = SharedOffsetMaps::default();
        let read = replay(source, topic, &mut maps.lock().unwrap_or_else(|p| p.into_inner()))?;
        tracing::info!(topic, points = read, "offset syncs read back");
        let producer = source
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .create_with_context(SyncAcks { acked: AtomicU64::new(0), failure: Mutex::default() })
            .context("create the offset-syncs producer")?;
        Ok(SyncLog { maps, producer, topic: topic.to_string(), written: 0, waiting: VecDeque::new() })
    }

    /// The translations, for the checkpoints.
    pub fn maps(&self) -> SharedOffsetMaps {
        self.maps.clone()
    }

    /// Adds a point to the partition's map; `persist` also writes it to the topic.
    pub fn record(&mut self, sync: OffsetSync, persist: bool) -> anyhow::Result<()> {
        self.maps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((sync.topic.clone(), sync.partition))
            .or_default()
            .record(sync.upstream, sync.downstream);
        if persist {
            let (key, value) = (sync.key(), sync.value());
            let mut record = BaseRecord::to(&self.topic).key(&key).payload(&value);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        self.producer.poll(Duration::from_millis(1));
                    }
                    Err((e, _)) => bail!("write an offset sync to {} on the source: {e}", self.topic),
                }
            }
            self.written += 1;
        }
        Ok(())
    }

    /// Holds `offsets` until every point written so far is acknowledged.
    pub fn commit_after_points(&mut self, offsets: TopicPartitionList) {
        if offsets.count() > 0 {
            self.waiting.push_back((self.written, offsets));
        }
    }

    /// The source offsets whose points are all acknowledged, oldest first.
    pub fn ready(&mut self) -> anyhow::Result<Vec<TopicPartitionList>> {
        self.producer.poll(Duration::ZERO);
        if let Some(failure) = self.producer.context().failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            bail!("the source refused an offset sync for {}: {failure}", self.topic);
        }
        let acked = self.producer.context().acked.load(Ordering::Relaxed);
        let mut ready = Vec::new();
        while self.waiting.front().is_some_and(|(needed, _)| *needed <= acked) {
            ready.extend(self.waiting.pop_front().map(|(_, offsets)| offsets));
        }
        Ok(ready)
    }

    /// Waits until every point written is acknowledged.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.producer.flush(Duration::from_secs(60)).context("wait for the offset syncs to be acknowledged")?;
        self.ready().map(|_| ())
    }
}

/// Applies every point in `topic` to `maps`, in the order written; returns how many.
fn replay(source: &ClientConfig, topic: &str, maps: &mut HashMap<(String, i32), OffsetMap>) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = source
        .clone()
        .set("group.id", "runnel-mirror-offset-syncs")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .context("create the offset-syncs reader")?;
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .map_err(|e| anyhow!("read where {topic} ends on the source: {e}"))?;
    if high <= low {
        return Ok(0);
    }
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if Instant::now() > deadline {
            bail!("reading {topic} back took over 2 minutes; is the source answering?");
        }
        match consumer.poll(Duration::from_millis(500)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => bail!("read {topic} on the source: {e}"),
            Some(Ok(message)) => {
                if let (Some(key), Some(value)) = (message.key(), message.payload()) {
                    match OffsetSync::decode(key, value) {
                        Ok(sync) => {
                            maps.entry((sync.topic, sync.partition))
                                .or_default()
                                .record(sync.upstream, sync.downstream);
                            read += 1;
                        }
                        Err(e) => {
                            tracing::warn!(offset = message.offset(), error = %e, "unreadable offset sync skipped")
                        }
                    }
                }
                if message.offset() + 1 >= high {
                    break;
                }
            }
        }
    }
    Ok(read)
}
