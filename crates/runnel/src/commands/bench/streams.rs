//! `runnel bench streams`: stream-processing throughput with runnel-streams, against the same
//! work written with rdkafka alone (consume, transform, produce), on the same input.
//!
//! Pipelines: `copy` (rdkafka alone: each record upper-cased and written out), `map` (the same
//! through runnel-streams), `window-count` (a count per key in one-minute tumbling windows, every
//! update written out), `restore` (a count over `--keys` distinct keys, then the time a new
//! instance takes to restore it from the changelog). Timing runs from the first record
//! processed to the last output acknowledged and the offsets committed, so the group join is
//! left out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use runnel_streams::runtime::{Guarantee, KafkaStreams, RunStats, StreamsConfig};
use runnel_streams::serdes::{I64, Nullable, RawBytes};
use runnel_streams::{StreamsBuilder, TimeWindows, Topology, WindowedSerde};
use serde::Serialize;

use super::Output;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pipeline {
    /// rdkafka alone: consume, upper-case, produce (the baseline).
    Copy,
    /// The same with runnel-streams (`map_values`).
    Map,
    /// A count per key in one-minute tumbling windows, every update written out.
    WindowCount,
    /// A count over `--keys` keys, then a new instance's restore of it.
    Restore,
}

/// `runnel bench streams` options.
#[derive(Debug, Clone, Args)]
pub struct StreamsBenchArgs {
    /// Bootstrap servers.
    #[arg(long, env = "RUNNEL_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The pipeline to measure.
    #[arg(long, value_enum)]
    pub pipeline: Pipeline,
    /// Input records (written once per input shape, then reused).
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Partitions of the input.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Distinct keys, in turn (`restore`: its state has this many keys).
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Exactly-once processing (transactions) instead of at-least-once.
    #[arg(long)]
    pub exactly_once: bool,
    /// `restore`: keep the stores on disk under this directory (an LSM tree, memory bounded)
    /// instead of in memory; the report then adds the restart of the first instance from its
    /// checkpoint.
    #[arg(long)]
    pub state_dir: Option<std::path::PathBuf>,
    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// One run's result.
#[derive(Debug, Serialize)]
struct StreamsReport {
    pipeline: Pipeline,
    exactly_once: bool,
    records: u64,
    seconds: f64,
    records_per_s: f64,
    /// `restore`: changelog records restored and how long it took.
    restored: Option<u64>,
    restore_seconds: Option<f64>,
    /// `restore --state-dir`: changelog records the first instance, restarted on its own
    /// state, read, and how long its restore took.
    restart_restored: Option<u64>,
    restart_seconds: Option<f64>,
}

/// Runs the bench and prints its report.
pub fn run(args: &StreamsBenchArgs) -> anyhow::Result<()> {
    // runnel-streams logs tasks, and a restore's progress, through tracing.
    crate::commands::logging::init();
    let keys = if args.pipeline == Pipeline::Restore { args.records } else { args.keys };
    let input = format!("bench-streams-in-{}-{}-{}-{keys}", args.partitions, args.records, args.record_size);
    ensure_input(args, &input, keys)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let app = format!("bench-streams-{}", &run_id[..8]);
    let output = format!("{app}-out");
    let report = match args.pipeline {
        Pipeline::Copy => copy(args, &input, &output)?,
        Pipeline::Map => through_streams(args, &app, &map_topology(&input, &output))?,
        Pipeline::WindowCount => through_streams(args, &app, &window_topology(&input, &output))?,
        Pipeline::Restore => restore(args, &app, &input)?,
    };
    match args.output {
        Output::Table => {
            println!(
                "pipeline        {:?}{}",
                report.pipeline,
                if report.exactly_once { " (exactly-once)" } else { "" }
            );
            println!("records         {}", report.records);
            println!("throughput      {:.0} records/s ({:.2} s)", report.records_per_s, report.seconds);
            if let (Some(restored), Some(seconds)) = (report.restored, report.restore_seconds) {
                println!("restore         {restored} changelog records in {seconds:.2} s");
            }
            if let (Some(restored), Some(seconds)) = (report.restart_restored, report.restart_seconds) {
                println!("restart         {restored} changelog records restored in {seconds:.2} s");
            }
        }
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}

fn client(args: &StreamsBenchArgs) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &args.brokers).set("log_level", "3");
    config
}

/// Writes the input unless a topic of that shape already holds it.
fn ensure_input(args: &StreamsBenchArgs, topic: &str, keys: u64) -> anyhow::Result<()> {
    let consumer: BaseConsumer = client(args).set("group.id", "bench-streams").create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).context("read metadata")?;
    let exists = metadata.topics().first().is_some_and(|t| t.error().is_none() && !t.partitions().is_empty());
    if exists {
        let mut held = 0;
        for p in 0..args.partitions {
            let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            held += high - low;
        }
        if held as u64 >= args.records {
            return Ok(());
        }
        bail!("topic {topic} holds {held} records, fewer than --records; delete it and run again");
    }
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["topic", "create", topic, "--partitions", &args.partitions.to_string(), "--brokers", &args.brokers])
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("create topic {topic}");
    }
    let producer: BaseProducer = client(args).set("linger.ms", "5").set("acks", "all").create()?;
    let value = vec![b'x'; args.record_size];
    eprintln!("writing {} input records to {topic}", args.records);
    for i in 0..args.records {
        let key = format!("k{}", i % keys.max(1));
        let mut record = BaseRecord::to(topic).key(key.as_bytes()).payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300)).context("flush the input")?;
    Ok(())
}

fn upper(value: Vec<u8>) -> Vec<u8> {
    value.to_ascii_uppercase()
}

fn map_topology(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder.stream(input, Nullable(RawBytes), RawBytes).map_values(upper).to(output, Nullable(RawBytes), RawBytes);
    builder.build().expect("a valid topology")
}

fn window_topology(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, RawBytes, RawBytes)
        .group_by_key(RawBytes, RawBytes)
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(60), Duration::from_secs(10)))
        .count("bench-window")
        .to_stream()
        .to(output, WindowedSerde(RawBytes), I64);
    builder.build().expect("a valid topology")
}

fn config(args: &StreamsBenchArgs, app: &str) -> StreamsConfig {
    let guarantee = if args.exactly_once { Guarantee::ExactlyOnce } else { Guarantee::AtLeastOnce };
    StreamsConfig::new(&args.brokers, app, guarantee).set("log_level", "3")
}

/// Runs `topology` until it has processed every input record; times it from the first.
fn through_streams(args: &StreamsBenchArgs, app: &str, topology: &Topology) -> anyhow::Result<StreamsReport> {
    run_until_processed(args, KafkaStreams::new(topology, config(args, app))?)
}

/// Runs `streams` until it has processed every input record; times it from the first.
fn run_until_processed(args: &StreamsBenchArgs, streams: KafkaStreams) -> anyhow::Result<StreamsReport> {
    let reader = streams.store_reader();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let worker = std::thread::spawn(move || streams.run(&flag));
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while reader.stats().processed < args.records {
        if first.is_none() && reader.stats().processed > 0 {
            first = Some(Instant::now());
        }
        if worker.is_finished() || Instant::now() > deadline {
            stop.store(true, Ordering::Relaxed);
            worker.join().map_err(|_| anyhow::anyhow!("the streams thread panicked"))??;
            bail!("the pipeline stopped after {} of {} records", reader.stats().processed, args.records);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let first = first.unwrap_or_else(Instant::now);
    stop.store(true, Ordering::Relaxed);
    worker.join().map_err(|_| anyhow::anyhow!("the streams thread panicked"))??;
    Ok(report(args, first.elapsed()))
}

fn report(args: &StreamsBenchArgs, took: Duration) -> StreamsReport {
    let seconds = took.as_secs_f64();
    StreamsReport {
        pipeline: args.pipeline,
        exactly_once: args.exactly_once,
        records: args.records,
        seconds,
        records_per_s: args.records as f64 / seconds.max(1e-9),
        restored: None,
        restore_seconds: None,
        restart_restored: None,
        restart_seconds: None,
    }
}

/// The baseline: a consumer and a producer, with the settings runnel-streams uses.
fn copy(args: &StreamsBenchArgs, input: &str, output: &str) -> anyhow::Result<StreamsReport> {
    if args.exactly_once {
        bail!("the copy baseline is at-least-once only");
    }
    let group = format!("{output}-group");
    let consumer: BaseConsumer = client(args)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // As runnel-streams sets it: librdkafka's default (1 s) leaves a consumer that drains its
        // queue faster than it refills waiting for the next fetch.
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    consumer.subscribe(&[input])?;
    let producer: BaseProducer = client(args)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()?;
    let (mut copied, mut first) = (0u64, None);
    while copied < args.records {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else { continue };
        let message = message.context("consume")?;
        first.get_or_insert_with(Instant::now);
        // The same work as the map pipeline: key, timestamp and headers carried over.
        let value = upper(message.payload().unwrap_or_default().to_vec());
        let mut record = BaseRecord::to(output).payload(&value[..]);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(timestamp) = message.timestamp().to_millis() {
            record = record.timestamp(timestamp);
        }
        // As runnel-streams does: no header list for a record without headers.
        if let Some(headers) = message.headers().filter(|h| h.count() > 0) {
            record = record.headers(headers.detach());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        copied += 1;
        // Delivery reports served in rounds, as runnel-streams serves them.
        if copied.is_multiple_of(1000) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(300)).context("flush the output")?;
    consumer.commit_consumer_state(CommitMode::Sync).context("commit the offsets")?;
    Ok(report(args, first.unwrap_or_else(Instant::now).elapsed()))
}

/// Counts `--records` distinct keys, then times a new instance's restore of the count (and,
/// with `--state-dir`, the first instance's restart on its own state).
fn restore(args: &StreamsBenchArgs, app: &str, input: &str) -> anyhow::Result<StreamsReport> {
    let topology = {
        let builder = StreamsBuilder::new();
        builder.stream(input, RawBytes, RawBytes).group_by_key(RawBytes, RawBytes).count("bench-restore");
        builder.build().expect("a valid topology")
    };
    let on_disk = |name: &str| {
        let config = config(args, app);
        match &args.state_dir {
            Some(dir) => config.with_state_dir(dir.join(name)),
            None => config,
        }
    };
    eprintln!("building the state: {} keys", args.records);
    let streams = KafkaStreams::new(&topology, on_disk("first"))?;
    let built = run_until_processed(args, streams)?;
    eprintln!("restoring it in a new instance");
    let stats = start_tasks(args, KafkaStreams::new(&topology, on_disk("second"))?)?;
    if stats.restored < args.records {
        bail!("restored {} changelog records, fewer than the {} keys", stats.restored, args.records);
    }
    let mut report = StreamsReport {
        restored: Some(stats.restored),
        restore_seconds: Some(stats.restore_time.as_secs_f64()),
        ..built
    };
    if args.state_dir.is_some() {
        eprintln!("restarting the first instance on its own state");
        let stats = start_tasks(args, KafkaStreams::new(&topology, on_disk("first"))?)?;
        report.restart_restored = Some(stats.restored);
        report.restart_seconds = Some(stats.restore_time.as_secs_f64());
    }
    Ok(report)
}

/// Runs an instance until every input partition's task has started (restored), then stops it.
fn start_tasks(args: &StreamsBenchArgs, streams: KafkaStreams) -> anyhow::Result<RunStats> {
    let reader = streams.store_reader();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let worker = std::thread::spawn(move || streams.run(&flag));
    let deadline = Instant::now() + Duration::from_secs(1800);
    while reader.stats().tasks < args.partitions as u64 {
        if worker.is_finished() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().map_err(|_| anyhow::anyhow!("the streams thread panicked"))??;
    Ok(reader.stats())
}
