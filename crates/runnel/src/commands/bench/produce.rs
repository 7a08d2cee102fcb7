//! Producer throughput: `--producers` clients, each on its own thread, send as fast as the
//! cluster acknowledges; every acknowledgement's latency goes into an HDR histogram. With
//! `--transaction-records N` each client commits a transaction every N records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::BenchArgs;
use super::progress::Progress;
use super::report::{Latency, Report, latency_histogram};

/// Counts acknowledgements (for the progress bar) and records their latency.
struct Acks {
    acked: Arc<AtomicU64>,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    latency: Mutex<Histogram<u64>>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: Box<Instant>) {
        match result {
            Ok(_) => {
                let micros = sent_at.elapsed().as_micros() as u64;
                if let Ok(mut histogram) = self.latency.lock() {
                    histogram.saturating_record(micros.max(1));
                }
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

/// Runs the produce bench.
pub fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    let acked = Arc::new(AtomicU64::new(0));
    let limit = args.time_limit();
    let progress = Progress::start("produce", limit.is_none().then_some(args.records), limit, acked.clone());
    let started = Instant::now();
    let shares: Vec<u64> = (0..args.producers as u64)
        .map(|i| args.records / args.producers as u64 + u64::from(i < args.records % args.producers as u64))
        .collect();
    let results: Vec<anyhow::Result<Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(index, share)| {
                let acked = progress.counter().clone();
                scope.spawn(move || produce_share(args, index, share, limit, started, acked))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a producer thread panicked"))).collect()
    });
    let elapsed = started.elapsed();
    drop(progress);
    let mut histogram = latency_histogram();
    let mut failed = 0;
    let mut first_error = None;
    for outcome in results {
        let outcome = outcome?;
        histogram.add(&outcome.latency).context("merge latency histograms")?;
        failed += outcome.failed;
        first_error = first_error.or(outcome.first_error);
    }
    // Every acknowledged record has one latency sample.
    let count = histogram.len();
    if count == 0 {
        bail!(
            "no record was acknowledged by {}{}",
            args.brokers,
            first_error.map(|e| format!(": {e}")).unwrap_or_default()
        );
    }
    let mut report = Report::new("produce", args, count, elapsed);
    report.errors = failed;
    report.latency_ms = Latency::from_micros(&histogram);
    Ok(report)
}

/// One producer client (the `index`th): sends `share` records (or until the time limit),
/// then flushes, or commits its last transaction.
fn produce_share(
    args: &BenchArgs,
    index: usize,
    share: u64,
    limit: Option<Duration>,
    started: Instant,
    acked: Arc<AtomicU64>,
) -> anyhow::Result<Outcome> {
    let context = Acks {
        acked,
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
        latency: Mutex::new(latency_histogram()),
    };
    let mut config = args.client_config(&[
        ("acks", &args.acks),
        ("compression.type", &args.compression),
        ("linger.ms", "5"),
        ("batch.size", "1000000"),
        ("queue.buffering.max.kbytes", "1048576"),
    ]);
    let transactional = args.transaction_records > 0;
    if transactional {
        config.set("transactional.id", format!("runnel-bench-{}-{index}", args.topic));
    }
    let producer: ThreadedProducer<Acks> =
        config.create_with_context(context).with_context(|| format!("create a producer for {}", args.brokers))?;
    let transaction_timeout = Duration::from_secs(60);
    if transactional {
        producer
            .init_transactions(transaction_timeout)
            .with_context(|| format!("init transactions on {} (does the cluster serve them?)", args.brokers))?;
        producer.begin_transaction().context("begin a transaction")?;
    }
    let value = vec![b'x'; args.record_size];
    let mut n: u64 = 0;
    loop {
        if limit.map_or(n >= share, |limit| started.elapsed() >= limit) {
            break;
        }
        if transactional && n > 0 && n.is_multiple_of(args.transaction_records) {
            commit(&producer, transaction_timeout)?;
            producer.begin_transaction().context("begin a transaction")?;
        }
        if args.flush_records > 0 && n > 0 && n.is_multiple_of(args.flush_records) {
            drain(&producer, transaction_timeout)?;
        }
        let key = if args.keys > 0 { n % args.keys } else { n }.to_be_bytes();
        let mut record =
            BaseRecord::with_opaque_to(&args.topic, Box::new(Instant::now())).key(&key[..]).payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err((e, _)) => bail!("produce to {} on {}: {e}", args.topic, args.brokers),
            }
        }
        n += 1;
    }
    if transactional {
        commit(&producer, transaction_timeout)?;
    } else {
        producer.flush(Duration::from_secs(300)).context("flush the producer (waited 300 s for acknowledgements)")?;
    }
    let acks = producer.context();
    Ok(Outcome {
        latency: acks.latency.lock().map(|h| h.clone()).unwrap_or_else(|_| latency_histogram()),
        failed: acks.failed.load(Ordering::Relaxed),
        first_error: acks.first_error.lock().ok().and_then(|e| e.clone()),
    })
}

/// Commits the open transaction once every record is acknowledged. The wait comes first
/// because rdkafka's `commit_transaction` flushes by polling from this thread in 100 ms steps,
/// and on a `ThreadedProducer` the polling thread takes the acknowledgements that poll waits
/// for: each commit would cost up to 100 ms of client-side sleep.
fn commit(producer: &ThreadedProducer<Acks>, timeout: Duration) -> anyhow::Result<()> {
    drain(producer, timeout)?;
    producer.commit_transaction(timeout).context("commit a transaction")
}

/// Waits until every record sent is acknowledged, asking librdkafka to send what lingers.
fn drain(producer: &ThreadedProducer<Acks>, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while producer.in_flight_count() > 0 {
        let _ = producer.flush(Duration::ZERO);
        if Instant::now() >= deadline {
            bail!("records not acknowledged within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}

/// What one producer client saw once flushed.
struct Outcome {
    latency: Histogram<u64>,
    failed: u64,
    first_error: Option<String>,
}
