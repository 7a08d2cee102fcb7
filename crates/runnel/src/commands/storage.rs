//! `runnel storage`: cluster ids and data directory formatting, named after `kafka-storage.sh`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use runnel_broker::meta_properties;

/// Storage subcommands.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Print a new Kafka-format cluster id (22 characters of URL-safe base64).
    RandomUuid,
    /// Write meta.properties for a cluster id; refuses a directory formatted for another id.
    Format {
        /// The cluster id, e.g. from `runnel storage random-uuid`.
        #[arg(long, short = 't')]
        cluster_id: String,
        /// The data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// The node id to record.
        #[arg(long, default_value_t = 1)]
        node_id: i32,
    },
}

/// Runs a storage subcommand.
pub fn run(command: StorageCommand) -> anyhow::Result<()> {
    match command {
        StorageCommand::RandomUuid => {
            println!("{}", meta_properties::random_uuid());
            Ok(())
        }
        StorageCommand::Format { cluster_id, data_dir, node_id } => {
            let meta = meta_properties::format(&data_dir, &cluster_id, node_id)
                .with_context(|| format!("format {}", data_dir.display()))?;
            println!("Formatted {} with cluster.id {} (node.id {})", data_dir.display(), meta.cluster_id, meta.node_id);
            Ok(())
        }
    }
}
