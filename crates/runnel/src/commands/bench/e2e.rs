//! End-to-end latency: one producer sends at `--rate` records per second, each value starting
//! with its send time; one consumer reads them, and produce-to-consume times go into an HDR
//! histogram.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::BenchArgs;
use super::progress::Progress;
use super::report::{Latency, Report, latency_histogram};

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Runs the e2e bench.
pub fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    // Read back from the same cluster, or from a mirror's copy on another.
    let (read_brokers, read_topic) =
        (args.read_brokers.as_deref().unwrap_or(&args.brokers), args.read_topic.as_deref().unwrap_or(&args.topic));
    let consumer: BaseConsumer = args
        .client_config(&[("group.id", "runnel-bench"), ("enable.auto.commit", "false"), ("fetch.wait.max.ms", "100")])
        .set("bootstrap.servers", read_brokers)
        .create()
        .with_context(|| format!("create a consumer for {read_brokers}"))?;
    let mut list = TopicPartitionList::new();
    for p in 0..args.partitions {
        list.add_partition_offset(read_topic, p, Offset::End)?;
    }
    consumer.assign(&list)?;
    // Let the consumer reach the log end before timing anything.
    let _ = consumer.poll(Duration::from_secs(2));
    let producer: ThreadedProducer<DefaultProducerContext> = args
        .client_config(&[("acks", &args.acks), ("compression.type", &args.compression), ("linger.ms", "0")])
        .create()
        .with_context(|| format!("create a producer for {}", args.brokers))?;
    let interval = Duration::from_micros(1_000_000 / args.rate.max(1));
    let limit = args.time_limit();
    let total = match limit {
        Some(limit) => (limit.as_secs_f64() * args.rate as f64).ceil() as u64,
        None => args.records,
    };
    let received = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("e2e", Some(total), None, received.clone());
    let padding = vec![b'x'; args.record_size.saturating_sub(8)];
    let mut histogram = latency_histogram();
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut last_data = Instant::now();
    while histogram.len() < total {
        if sent < total && started.elapsed() >= interval * sent as u32 {
            let mut value = now_micros().to_be_bytes().to_vec();
            value.extend_from_slice(&padding);
            producer
                .send(BaseRecord::<(), _>::to(&args.topic).payload(&value))
                .map_err(|(e, _)| e)
                .with_context(|| format!("produce to {} on {}", args.topic, args.brokers))?;
            sent += 1;
        }
        match consumer.poll(Duration::from_micros(200)) {
            Some(message) => {
                let message = message.with_context(|| format!("consume from {read_topic} on {read_brokers}"))?;
                let payload = message.payload().unwrap_or_default();
                if payload.len() >= 8 {
                    let mut stamp = [0u8; 8];
                    stamp.copy_from_slice(&payload[..8]);
                    histogram.saturating_record(now_micros().saturating_sub(u64::from_be_bytes(stamp)).max(1));
                    progress.counter().fetch_add(1, Ordering::Relaxed);
                }
                last_data = Instant::now();
            }
            None if sent == total && last_data.elapsed() > Duration::from_secs(10) => {
                bail!("{} of {sent} records came back within 10 s", histogram.len())
            }
            None => {}
        }
    }
    let elapsed = started.elapsed();
    drop(progress);
    producer.flush(Duration::from_secs(10)).context("flush the producer")?;
    let mut report = Report::new("e2e", args, histogram.len(), elapsed);
    report.latency_ms = Latency::from_micros(&histogram);
    Ok(report)
}
