//! `runnel bench`: produce, consume and end-to-end latency measurements through rdkafka, so
//! the same numbers can be taken against runnel or any Kafka-compatible cluster.
//!
//! - [`produce`]: producer throughput and acknowledgement latency.
//! - [`consume`]: consumer throughput from the beginning of the topic.
//! - [`e2e`]: produce-to-consume latency at a fixed rate.
//! - [`streams`]: stream processing with runnel-streams, against rdkafka alone.
//! - [`report`]: the result, as a table or JSON; [`progress`]: the progress bar.

pub(crate) mod consume;
mod e2e;
pub(crate) mod produce;
mod progress;
mod report;
mod streams;

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use report::Report;

/// What to measure.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Producer throughput: send records as fast as the cluster acknowledges them.
    Produce(BenchArgs),
    /// Consumer throughput: read the topic from the beginning (run `produce` first).
    Consume(BenchArgs),
    /// End-to-end latency at a fixed rate: produce-to-consume time per record.
    E2e(BenchArgs),
    /// Stream processing with runnel-streams against rdkafka alone, and state restore time.
    Streams(streams::StreamsBenchArgs),
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table for people.
    Table,
    /// One JSON object, for scripts.
    Json,
}

/// Options shared by every bench.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Bootstrap servers.
    #[arg(long, env = "RUNNEL_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic (created with `--partitions` if missing).
    #[arg(long, default_value = "runnel-bench")]
    pub topic: String,
    /// Number of records (in all, across producers or consumers).
    #[arg(long, default_value_t = 200_000, conflicts_with = "duration")]
    pub records: u64,
    /// Run for this many seconds instead of a number of records.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Partitions of the topic when it is created.
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Producer acks: 0, 1 or all.
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all", "-1"])]
    pub acks: String,
    /// Producer compression.
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,
    /// Producer clients (`produce`), each with its own connection and thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub producers: u32,
    /// Consumer clients (`consume`), splitting the partitions between them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub consumers: u32,
    /// Records per second (`e2e`).
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Produce in transactions of this many records, each producer with its own
    /// `transactional.id` (`produce`; 0: no transactions).
    #[arg(long, default_value_t = 0)]
    pub transaction_records: u64,
    /// Wait for every acknowledgement each time this many records are sent, as an application
    /// that flushes does (`produce`; 0: never). The drain a transaction's commit makes, without
    /// the transaction.
    #[arg(long, default_value_t = 0, conflicts_with = "transaction_records")]
    pub flush_records: u64,
    /// Key the records with this many distinct keys, in turn (`produce`; 0: every record its
    /// own key), so that a compacted topic has something to compact.
    #[arg(long, default_value_t = 0)]
    pub keys: u64,
    /// Consumer isolation level (`consume`): read_committed (librdkafka's default) skips
    /// aborted records and stops at the last stable offset.
    #[arg(long, default_value = "read_committed", value_parser = ["read_committed", "read_uncommitted"])]
    pub isolation: String,
    /// A librdkafka property for every client, e.g. `-X fetch.max.bytes=52428800` (repeatable).
    #[arg(short = 'X', long = "client-property", value_name = "KEY=VALUE", value_parser = crate::commands::client::parse_key_value)]
    pub client_properties: Vec<(String, String)>,
    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// e2e: read the records back from this cluster instead (a mirror's target), to measure
    /// replication latency end to end.
    #[arg(long, requires = "read_topic")]
    pub read_brokers: Option<String>,
    /// e2e: the topic to read them from there (the mirror's copy, `us.runnel-bench`).
    #[arg(long, requires = "read_brokers")]
    pub read_topic: Option<String>,
}

impl BenchArgs {
    /// The settings `runnel plan --measure` uses: one producer then one consumer, one
    /// partition, 1 KiB records unless told, acks=all.
    pub fn for_measurement(brokers: &str, topic: &str, records: u64, record_size: usize) -> BenchArgs {
        BenchArgs {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            records,
            duration: None,
            record_size,
            partitions: 1,
            acks: "all".into(),
            compression: "none".into(),
            producers: 1,
            consumers: 1,
            rate: 1000,
            transaction_records: 0,
            flush_records: 0,
            keys: 0,
            isolation: "read_committed".into(),
            client_properties: Vec::new(),
            output: Output::Table,
            read_brokers: None,
            read_topic: None,
        }
    }

    /// How long to run, when `--duration` was given.
    pub fn time_limit(&self) -> Option<Duration> {
        self.duration.map(Duration::from_secs_f64)
    }

    /// A client config for the cluster: the bench's `defaults`, then the `-X` properties,
    /// which win.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.client_properties {
            config.set(key, value);
        }
        config
    }
}

/// Runs a bench and prints its report.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (report, output): (Report, Output) = match command {
        BenchCommand::Produce(args) => {
            runtime.block_on(ensure_topic(&args))?;
            (produce::run(&args)?, args.output)
        }
        BenchCommand::Consume(args) => (consume::run(&args)?, args.output),
        BenchCommand::E2e(args) => {
            runtime.block_on(ensure_topic(&args))?;
            (e2e::run(&args)?, args.output)
        }
        BenchCommand::Streams(args) => return streams::run(&args),
    };
    match output {
        Output::Table => print!("{}", report.table()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}

/// Creates the bench topic if missing, from synchronous code.
pub fn ensure_topic_blocking(args: &BenchArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(ensure_topic(args))
}

async fn ensure_topic(args: &BenchArgs) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = args.client_config(&[]).create().context("create admin client")?;
    let topic = NewTopic::new(&args.topic, args.partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .with_context(|| format!("create topic {} on {}", args.topic, args.brokers))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("create topic {name} on {}: {code}", args.brokers),
        }
    }
    Ok(())
}
