//! Word count: counts each word of the input lines, writing every new count to the output
//! topic as UTF-8 text keyed by the word (Kafka Streams' WordCountDemo).
//!
//! ```sh
//! cargo run --release -p runnel-streams --example wordcount -- \
//!     --brokers 127.0.0.1:9092 --input lines --output counts --application-id wordcount \
//!     [--exactly-once] [--query-listen 127.0.0.1:8090]
//! curl http://127.0.0.1:8090/stores/counts/hello
//! ```

mod common;

use clap::Parser;
use runnel_streams::runtime::{KafkaStreams, QueryServer};
use runnel_streams::serdes::{I64, Ignore, Utf8};
use runnel_streams::{StreamsBuilder, Topology};

/// Counts words.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    app: common::AppArgs,
    /// The topic of text lines.
    #[arg(long)]
    input: String,
    /// The topic the counts go to.
    #[arg(long)]
    output: String,
    /// Serve interactive queries (`GET /stores/counts/WORD`) and `/metrics` on this address.
    #[arg(long)]
    query_listen: Option<String>,
}

/// Lines to lowercase words, grouped by word (through a repartition topic), counted.
fn topology(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Ignore, Utf8)
        .flat_map_values(|line: String| {
            line.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone(), Utf8, Utf8)
        .count("counts")
        .to_stream()
        .map_values(|n| n.to_string())
        .to(output, Utf8, Utf8);
    builder.build().expect("the word count topology is valid")
}

fn main() -> anyhow::Result<()> {
    common::init_logging();
    let cli = Cli::parse();
    let stop = common::stop_on_signal();
    let streams = KafkaStreams::new(&topology(&cli.input, &cli.output), cli.app.config())?;
    if let Some(addr) = &cli.query_listen {
        QueryServer::new(streams.store_reader()).store("counts", Utf8, I64).start(addr)?;
    }
    let stats = streams.run(&stop)?;
    eprintln!("processed {} records in {} commits", stats.processed, stats.commits);
    Ok(())
}
