//! Heartbeats: every second (by default) a MirrorMaker 2 heartbeat goes into the source's
//! `heartbeats` topic, and the mirror copies that topic to `<source>.heartbeats` on the target
//! like any other. A reader of the copy sees the mirror is alive end to end, and the age of the
//! newest heartbeat there is the replication latency, even while no other topic moves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::mm2_records::{HEARTBEATS_TOPIC, Heartbeat};

/// Writes heartbeats to the source until `stop` is set, on the calling thread.
pub fn run(
    source: &ClientConfig,
    source_alias: &str,
    target_alias: &str,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let producer: BaseProducer =
        source.clone().set("acks", "all").create().context("create the heartbeats producer")?;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            next = Instant::now() + every;
            let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let heartbeat = Heartbeat {
                source_alias: source_alias.to_string(),
                target_alias: target_alias.to_string(),
                timestamp_ms,
            };
            let (key, value) = (heartbeat.key(), heartbeat.value());
            if let Err((e, _)) =
                producer.send(BaseRecord::to(HEARTBEATS_TOPIC).key(&key).payload(&value).timestamp(timestamp_ms))
            {
                tracing::warn!(error = %e, "heartbeat not written to the source");
            }
        }
        producer.poll(Duration::from_millis(100));
    }
    let _ = producer.flush(Duration::from_secs(5));
    Ok(())
}
