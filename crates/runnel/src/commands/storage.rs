//! `runnel storage`: cluster ids and data directory formatting, named after `kafka-storage.sh`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use runnel_broker::meta_properties;
use runnel_broker::security::add_scram;
use runnel_broker::security::credentials::Credentials;

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
        /// A SASL/SCRAM user to create, as Kafka writes it:
        /// 'SCRAM-SHA-512=[name=admin,password=admin-secret]' (repeatable). The first admin
        /// of a broker with authentication on.
        #[arg(long, short = 'S', value_name = "MECHANISM=[name=USER,password=PASSWORD]")]
        add_scram: Vec<String>,
    },
}

/// Runs a storage subcommand.
pub fn run(command: StorageCommand) -> anyhow::Result<()> {
    match command {
        StorageCommand::RandomUuid => {
            println!("{}", meta_properties::random_uuid());
            Ok(())
        }
        StorageCommand::Format { cluster_id, data_dir, node_id, add_scram } => {
            let users = add_scram
                .iter()
                .map(|spec| add_scram::parse(spec).map_err(|e| anyhow::anyhow!("--add-scram {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let meta = meta_properties::format(&data_dir, &cluster_id, node_id)
                .with_context(|| format!("format {}", data_dir.display()))?;
            println!("Formatted {} with cluster.id {} (node.id {})", data_dir.display(), meta.cluster_id, meta.node_id);
            if !users.is_empty() {
                let credentials = Credentials::open(&data_dir)
                    .with_context(|| format!("read the SCRAM credentials in {}", data_dir.display()))?;
                credentials
                    .update(|stored| {
                        for user in &users {
                            stored
                                .entry(user.user.clone())
                                .or_default()
                                .insert(user.mechanism, user.credential.clone());
                        }
                    })
                    .with_context(|| format!("save the SCRAM credentials in {}", data_dir.display()))?;
                for user in &users {
                    println!("Added {} credentials for user {}", user.mechanism.name(), user.user);
                }
            }
            Ok(())
        }
    }
}
