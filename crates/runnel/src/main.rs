//! `runnel`: a single-node, Kafka-compatible event streaming system in one binary.

mod commands;
mod planner;

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
    /// Serve the topic, group and lag metrics of any Kafka cluster on /metrics for Prometheus,
    /// and the console (history, charts, alerts) at /.
    Monitor {
        #[command(flatten)]
        args: commands::monitor::MonitorArgs,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// How many partitions a topic needs, from producer and consumer rates.
    Plan {
        #[command(flatten)]
        args: commands::plan::PlanArgs,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// Create, list, describe, grow and delete topics.
    Topic {
        #[command(subcommand)]
        command: commands::topic::TopicCommand,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// Write one record per line of stdin (or --file).
    Produce {
        #[command(flatten)]
        args: commands::produce::ProduceArgs,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// Print one line per record; with -g, commit what was printed.
    Consume {
        #[command(flatten)]
        args: commands::consume::ConsumeArgs,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// List, describe, seek and delete consumer groups.
    Group {
        #[command(subcommand)]
        command: commands::group::GroupCommand,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// List and describe transactions and the producers of partitions, as kafka-transactions.sh.
    Transaction {
        #[command(subcommand)]
        command: commands::transaction::TransactionCommand,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// Add, delete and list the users SASL/SCRAM signs in (SCRAM credentials).
    User {
        #[command(subcommand)]
        command: commands::user::UserCommand,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// Add, list and delete access control lists (ACLs), as kafka-acls.sh.
    Acl {
        #[command(subcommand)]
        command: commands::acl::AclCommand,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
    /// The group chat: a web API over rooms that are topics (an embedded broker if none runs).
    Chat(commands::chat::ChatCommand),
    /// Copy topics from one Kafka-compatible cluster to another (MirrorMaker 2's naming),
    /// committing source offsets once the target has the records.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Mirror(commands::mirror::MirrorArgs),
    /// The cluster's id and brokers.
    Cluster {
        #[command(subcommand)]
        command: commands::cluster::ClusterCommand,
        #[command(flatten)]
        client: commands::client::ClientArgs,
    },
}

/// A reader that went away (`runnel topic describe T | head`) ends the command quietly, as
/// SIGPIPE ends other command-line tools, rather than with a panic and a backtrace.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(141);
        }
        default(info)
    }));
}

fn main() -> std::process::ExitCode {
    exit_quietly_on_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Storage(command) => commands::storage::run(command),
        Command::Bench(command) => commands::bench::run(command),
        Command::Monitor { args, client } => commands::monitor::run(args, &client),
        Command::Plan { args, client } => commands::plan::run(args, &client),
        Command::Topic { command, client } => commands::topic::run(command, &client),
        Command::Produce { args, client } => commands::produce::run(args, &client),
        Command::Consume { args, client } => commands::consume::run(args, &client),
        Command::Group { command, client } => commands::group::run(command, &client),
        Command::Transaction { command, client } => commands::transaction::run(command, &client),
        Command::User { command, client } => commands::user::run(command, &client),
        Command::Acl { command, client } => commands::acl::run(command, &client),
        Command::Chat(args) => commands::chat::run(args),
        Command::Mirror(args) => commands::mirror::run(args),
        Command::Cluster { command, client } => commands::cluster::run(command, &client),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
