//! `runnel produce TOPIC`: one record per input line, from stdin or `--file`, with optional
//! keys (`--key-separator`) and headers; reports how many were acknowledged.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use rdkafka::ClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use serde::Serialize;

use super::client::ClientArgs;
use super::output::{Output, print_json};

/// Options of `runnel produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to write to.
    topic: String,
    /// Read lines from this file instead of stdin.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Split each line at the first SEP into key and value (lines without SEP have no key).
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// A header on every record, `-H source=cli` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = super::client::parse_key_value)]
    headers: Vec<(String, String)>,
    /// Write every record to this partition (default: by key, or spread).
    #[arg(long)]
    partition: Option<i32>,
    /// Producer acks: 0, 1 or all.
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all", "-1"])]
    acks: String,
}

/// Where acknowledged records went, and the first failure.
#[derive(Default)]
struct Deliveries {
    last_offsets: Mutex<BTreeMap<i32, (i64, i64)>>,
    acked: Mutex<u64>,
    failures: Mutex<(u64, Option<String>)>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                use rdkafka::message::Message;
                let mut offsets = self.last_offsets.lock().expect("offsets");
                let entry = offsets.entry(message.partition()).or_insert((message.offset(), message.offset()));
                entry.0 = entry.0.min(message.offset());
                entry.1 = entry.1.max(message.offset());
                *self.acked.lock().expect("count") += 1;
            }
            Err((e, _)) => {
                let mut failures = self.failures.lock().expect("failures");
                failures.0 += 1;
                failures.1.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct PartitionRange {
    partition: i32,
    first_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Serialize)]
struct Produced {
    topic: String,
    records: u64,
    partitions: Vec<PartitionRange>,
}

/// Runs `runnel produce`.
pub fn run(args: ProduceArgs, client: &ClientArgs) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let producer: ThreadedProducer<Deliveries> = client
        .config()
        .set("acks", &args.acks)
        .set("linger.ms", "5")
        .create_with_context(Deliveries::default())
        .with_context(|| format!("create a producer for {}", client.brokers))?;
    let mut headers = OwnedHeaders::new();
    for (k, v) in &args.headers {
        headers = headers.insert(Header { key: k, value: Some(v.as_bytes()) });
    }
    let mut sent = 0u64;
    for line in input.lines() {
        let line = line.context("read input")?;
        let (key, value) = match args.key_separator.as_deref().and_then(|sep| line.split_once(sep)) {
            Some((k, v)) => (Some(k), v),
            None => (None, line.as_str()),
        };
        let mut record = BaseRecord::<str, str>::to(&args.topic).payload(value).headers(headers.clone());
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(p) = args.partition {
            record = record.partition(p);
        }
        let mut record = record;
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => bail!("produce to {}: {e}", args.topic),
            }
        }
        sent += 1;
    }
    producer.flush(Duration::from_secs(60)).map_err(|e| client.unreachable(e))?;
    let context = producer.context();
    let (failed, first) = context.failures.lock().expect("failures").clone();
    if failed > 0 {
        bail!("{failed} of {sent} records were not written to {}: {}", args.topic, first.unwrap_or_default());
    }
    let produced = Produced {
        topic: args.topic.clone(),
        records: *context.acked.lock().expect("count"),
        partitions: context
            .last_offsets
            .lock()
            .expect("offsets")
            .iter()
            .map(|(p, (first, last))| PartitionRange { partition: *p, first_offset: *first, last_offset: *last })
            .collect(),
    };
    match client.output {
        Output::Json => print_json(&produced),
        Output::Table => {
            eprintln!("produced {} records to {}", produced.records, produced.topic);
            Ok(())
        }
    }
}
