//! `runnel cluster info`: the cluster id and brokers, from any Kafka-compatible cluster.

use clap::Subcommand;
use rdkafka::consumer::Consumer;
use serde::Serialize;

use super::client::{ClientArgs, TIMEOUT};
use super::output::{Output, print_json, table};

/// Cluster subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The cluster id, its brokers and how many topics it has.
    Info,
}

#[derive(Debug, Serialize)]
struct BrokerInfo {
    id: i32,
    host: String,
    port: i32,
}

#[derive(Debug, Serialize)]
struct ClusterInfo {
    cluster_id: Option<String>,
    brokers: Vec<BrokerInfo>,
    topics: usize,
}

/// Runs a cluster subcommand.
pub fn run(command: ClusterCommand, client: &ClientArgs) -> anyhow::Result<()> {
    let ClusterCommand::Info = command;
    let consumer = client.consumer()?;
    let metadata = client.metadata(&consumer, None)?;
    let info = ClusterInfo {
        cluster_id: consumer.client().fetch_cluster_id(TIMEOUT),
        brokers: metadata
            .brokers()
            .iter()
            .map(|b| BrokerInfo { id: b.id(), host: b.host().to_string(), port: b.port() })
            .collect(),
        topics: metadata.topics().iter().filter(|t| !t.name().starts_with("__")).count(),
    };
    match client.output {
        Output::Json => print_json(&info)?,
        Output::Table => {
            println!("cluster id: {}", info.cluster_id.as_deref().unwrap_or("(not reported)"));
            println!("topics:     {}", info.topics);
            let rows: Vec<Vec<String>> =
                info.brokers.iter().map(|b| vec![b.id.to_string(), b.host.clone(), b.port.to_string()]).collect();
            print!("{}", table(&["BROKER", "HOST", "PORT"], &rows));
        }
    }
    Ok(())
}
