//! `runnel bench`: produce, consume and end-to-end latency measurements through rdkafka, so
//! the same numbers can be taken against runnel or any Kafka-compatible cluster.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// What to measure.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Producer throughput: send `--records` records as fast as the cluster acknowledges them.
    Produce(BenchArgs),
    /// Consumer throughput: read the topic from the beginning (run `produce` first).
    Consume(BenchArgs),
    /// End-to-end latency at a fixed rate: produce-to-consume time per record.
    E2e(BenchArgs),
}

/// Options shared by every bench.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Bootstrap servers.
    #[arg(long, env = "RUNNEL_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topic (created with `--partitions` if missing).
    #[arg(long, default_value = "runnel-bench")]
    topic: String,
    /// Number of records.
    #[arg(long, default_value_t = 200_000)]
    records: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
    /// Partitions of the topic when it is created.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Producer acks: 0, 1 or all.
    #[arg(long, default_value = "all")]
    acks: String,
    /// Records per second for `e2e`.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
}

/// Runs a bench and prints one result line.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match command {
        BenchCommand::Produce(args) => {
            runtime.block_on(ensure_topic(&args))?;
            let (elapsed, count) = produce(&args)?;
            report("produce", &args, count, elapsed);
        }
        BenchCommand::Consume(args) => {
            let (elapsed, count) = consume(&args)?;
            report("consume", &args, count, elapsed);
        }
        BenchCommand::E2e(args) => {
            runtime.block_on(ensure_topic(&args))?;
            e2e(&args)?;
        }
    }
    Ok(())
}

fn report(what: &str, args: &BenchArgs, count: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let bytes = (count * args.record_size) as f64;
    let acks = if what == "produce" { format!(", acks={}", args.acks) } else { String::new() };
    println!(
        "{what}: {count} records of {} B, {} partitions{acks}: {:.0} records/s, {:.1} MB/s ({seconds:.2} s)",
        args.record_size,
        args.partitions,
        count as f64 / seconds,
        bytes / seconds / 1e6
    );
}

async fn ensure_topic(args: &BenchArgs) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &args.brokers).create().context("create admin client")?;
    let topic = NewTopic::new(&args.topic, args.partitions, TopicReplication::Fixed(1));
    for result in admin.create_topics(&[topic], &AdminOptions::new()).await.context("create the bench topic")? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("create topic {name}: {code}"),
        }
    }
    Ok(())
}

fn producer(args: &BenchArgs) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("acks", &args.acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .context("create producer")
}

fn produce(args: &BenchArgs) -> anyhow::Result<(Duration, usize)> {
    let producer = producer(args)?;
    let value = vec![b'x'; args.record_size];
    let started = Instant::now();
    for n in 0..args.records {
        let key = (n as u64).to_be_bytes();
        let mut record = BaseRecord::to(&args.topic).key(&key[..]).payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => bail!("produce: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(300)).context("flush the producer")?;
    Ok((started.elapsed(), args.records))
}

fn consumer(args: &BenchArgs) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", "runnel-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .context("create consumer")
}

fn consume(args: &BenchArgs) -> anyhow::Result<(Duration, usize)> {
    let consumer = consumer(args)?;
    let metadata = consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(10))?;
    let partitions = metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0) as i32;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(&args.topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let started = Instant::now();
    let mut count = 0;
    while count < args.records {
        match consumer.poll(Duration::from_secs(5)) {
            Some(Ok(_)) => count += 1,
            Some(Err(e)) => bail!("consume: {e}"),
            None => bail!("no records for 5 s after {count} of {}; produce them first", args.records),
        }
    }
    Ok((started.elapsed(), count))
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn e2e(args: &BenchArgs) -> anyhow::Result<()> {
    let consumer = consumer(args)?;
    let mut list = TopicPartitionList::new();
    for p in 0..args.partitions {
        list.add_partition_offset(&args.topic, p, Offset::End)?;
    }
    consumer.assign(&list)?;
    // Let the consumer reach the log end before timing anything.
    let _ = consumer.poll(Duration::from_secs(2));
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("acks", &args.acks)
        .set("linger.ms", "0")
        .create()?;
    let interval = Duration::from_micros(1_000_000 / args.rate.max(1));
    let padding = vec![b'x'; args.record_size.saturating_sub(8)];
    let mut latencies = Vec::with_capacity(args.records);
    let started = Instant::now();
    let mut sent = 0;
    while latencies.len() < args.records {
        if sent < args.records && started.elapsed() >= interval * sent as u32 {
            let mut value = now_micros().to_be_bytes().to_vec();
            value.extend_from_slice(&padding);
            producer.send(BaseRecord::<(), _>::to(&args.topic).payload(&value)).map_err(|(e, _)| e)?;
            sent += 1;
        }
        if let Some(message) = consumer.poll(Duration::from_micros(200)) {
            let message = message?;
            let payload = message.payload().unwrap_or_default();
            if payload.len() >= 8 {
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(&payload[..8]);
                latencies.push(now_micros().saturating_sub(u64::from_be_bytes(stamp)));
            }
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)] as f64 / 1000.0;
    println!(
        "e2e: {} records of {} B at {}/s, acks={}: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        latencies.len(),
        args.record_size,
        args.rate,
        args.acks,
        at(0.50),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    Ok(())
}
