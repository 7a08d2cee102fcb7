//! `runnel`: a single-node, Kafka-compatible event streaming system in one binary.

mod commands;

use clap::{Parser, Subcommand};

/// runnel: Kafka's protocol and storage format on one node, in one binary.
#[derive(Debug, Parser)]
#[command(name = "runnel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker.
    Serve(commands::serve::ServeArgs),
    /// Manage data directories: cluster ids and formatting, as kafka-storage does.
    #[command(subcommand)]
    Storage(commands::storage::StorageCommand),
    /// Measure produce/consume throughput and end-to-end latency against any Kafka cluster.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Storage(command) => commands::storage::run(command),
        Command::Bench(command) => commands::bench::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
