//! Consumer throughput: `--consumers` clients split the topic's partitions and read them from
//! the beginning until `--records` records (or the time limit).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::BenchArgs;
use super::progress::Progress;
use super::report::Report;

/// How long a consumer waits for data before concluding the topic has no more.
const IDLE_LIMIT: Duration = Duration::from_secs(5);

fn consumer(args: &BenchArgs) -> anyhow::Result<BaseConsumer> {
    args.client_config(&[
        ("group.id", "runnel-bench"),
        ("enable.auto.commit", "false"),
        ("fetch.wait.max.ms", "100"),
        ("isolation.level", &args.isolation),
        // librdkafka's default (1 s) leaves a reader that drains its queue faster than the
        // fetcher refills it waiting for the next fetch: the bench would measure that wait.
        ("fetch.queue.backoff.ms", "10"),
    ])
    .create()
    .with_context(|| format!("create a consumer for {}", args.brokers))
}

/// Runs the consume bench.
pub fn run(args: &BenchArgs) -> anyhow::Result<Report> {
    let probe = consumer(args)?;
    let metadata = probe
        .fetch_metadata(Some(&args.topic), Duration::from_secs(10))
        .with_context(|| format!("read metadata of {} from {}", args.topic, args.brokers))?;
    let partitions = metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0) as i32;
    if partitions == 0 {
        bail!("topic {} has no partitions on {}; run `runnel bench produce` first", args.topic, args.brokers);
    }
    drop(probe);
    let consumed = Arc::new(AtomicU64::new(0));
    let limit = args.time_limit();
    let target = if limit.is_some() { u64::MAX } else { args.records };
    let progress = Progress::start("consume", limit.is_none().then_some(args.records), limit, consumed.clone());
    let started = Instant::now();
    let clients = (args.consumers as i32).min(partitions);
    let results: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let consumed = progress.counter().clone();
                let mine: Vec<i32> = (0..partitions).filter(|p| p % clients == client).collect();
                scope.spawn(move || read_partitions(args, &mine, target, limit, started, &consumed))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a consumer thread panicked"))).collect()
    });
    let elapsed = started.elapsed();
    drop(progress);
    results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let count = consumed.load(Ordering::Relaxed);
    if limit.is_none() && count < args.records {
        bail!(
            "read only {count} of {} records: the topic holds fewer; run `runnel bench produce` with as many first",
            args.records
        );
    }
    let mut report = Report::new("consume", args, count, elapsed);
    report.partitions = partitions;
    report.clients = clients as u32;
    Ok(report)
}

/// One consumer client reading `partitions` until the shared count reaches `target`, the time
/// limit passes, or nothing arrives for [`IDLE_LIMIT`].
fn read_partitions(
    args: &BenchArgs,
    partitions: &[i32],
    target: u64,
    limit: Option<Duration>,
    started: Instant,
    consumed: &AtomicU64,
) -> anyhow::Result<()> {
    let consumer = consumer(args)?;
    let mut list = TopicPartitionList::new();
    for p in partitions {
        list.add_partition_offset(&args.topic, *p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let mut last_data = Instant::now();
    while consumed.load(Ordering::Relaxed) < target && limit.is_none_or(|l| started.elapsed() < l) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                consumed.fetch_add(1, Ordering::Relaxed);
                last_data = Instant::now();
            }
            Some(Err(e)) => bail!("consume {} from {}: {e}", args.topic, args.brokers),
            None if last_data.elapsed() > IDLE_LIMIT => break,
            None => {}
        }
    }
    Ok(())
}
