//! `runnel plan`: how many partitions a topic needs, from given rates or rates measured
//! against the cluster with a short produce and consume run.

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use super::bench::{BenchArgs, consume, produce};
use super::client::ClientArgs;
use super::output::{Output, print_json};
use crate::planner::{Plan, plan};

/// Options of `runnel plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// P: records (or bytes) per second the producers write.
    #[arg(long, requires = "consumer_rate", conflicts_with = "measure")]
    producer_rate: Option<f64>,
    /// C: records (or bytes) per second one consumer reads.
    #[arg(long, requires = "producer_rate")]
    consumer_rate: Option<f64>,
    /// B: brokers; with --measure, read from the cluster unless given.
    #[arg(long)]
    broker_count: Option<u32>,
    /// Measure P and C for real: produce to and consume from this topic (created with one
    /// partition if missing) on --brokers.
    #[arg(long, value_name = "TOPIC")]
    measure: Option<String>,
    /// Records for --measure.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Record size in bytes for --measure.
    #[arg(long, default_value_t = 1024)]
    record_size: usize,
}

#[derive(Debug, Serialize)]
struct Measured {
    topic: String,
    records: u64,
    record_size: usize,
    producer_records_per_s: f64,
    consumer_records_per_s: f64,
}

#[derive(Debug, Serialize)]
struct PlanOutput {
    #[serde(flatten)]
    plan: Plan,
    measured: Option<Measured>,
    reasoning: Vec<String>,
}

/// Runs `runnel plan`.
pub fn run(args: PlanArgs, client: &ClientArgs) -> anyhow::Result<()> {
    let (p, c, brokers, measured) = match (&args.measure, args.producer_rate, args.consumer_rate) {
        (Some(topic), _, _) => {
            let brokers = match args.broker_count {
                Some(b) => b,
                None => {
                    let consumer = client.consumer()?;
                    client.metadata(&consumer, None)?.brokers().len() as u32
                }
            };
            let bench = BenchArgs::for_measurement(&client.brokers, topic, args.records, args.record_size);
            super::bench::ensure_topic_blocking(&bench)?;
            let produced = produce::run(&bench)?;
            let consumed = consume::run(&BenchArgs { records: produced.records, ..bench.clone() })?;
            let measured = Measured {
                topic: topic.clone(),
                records: produced.records,
                record_size: args.record_size,
                producer_records_per_s: produced.records_per_s,
                consumer_records_per_s: consumed.records_per_s,
            };
            (measured.producer_records_per_s, measured.consumer_records_per_s, brokers, Some(measured))
        }
        (None, Some(p), Some(c)) => (p, c, args.broker_count.unwrap_or(1), None),
        _ => bail!("give --producer-rate and --consumer-rate, or --measure TOPIC to measure them"),
    };
    let plan = plan(p, c, brokers)?;
    let reasoning = plan.reasoning();
    match client.output {
        Output::Json => print_json(&PlanOutput { plan, measured, reasoning })?,
        Output::Table => {
            if let Some(m) = &measured {
                println!(
                    "measured on {} with {} records of {} B: P = {:.0} records/s (one producer), C = {:.0} records/s (one consumer)",
                    m.topic, m.records, m.record_size, m.producer_records_per_s, m.consumer_records_per_s
                );
            }
            for line in &reasoning {
                println!("- {line}");
            }
            println!("recommendation: {} partitions", plan.partitions);
        }
    }
    Ok(())
}
