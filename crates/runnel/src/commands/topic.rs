//! `runnel topic create|list|describe|add-partitions|alter-config|delete`, through rdkafka's
//! admin client (and IncrementalAlterConfigs through [`super::wire`], which librdkafka's admin
//! API lacks in rdkafka), against runnel or any Kafka-compatible cluster.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::Consumer;
use serde::Serialize;

use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::{ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::client::{ClientArgs, TIMEOUT};
use super::output::{Output, print_json, table};
use super::wire::describe_code;
use crate::planner::plan;

/// Topic subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic, sized by -p or by the planner from the rates.
    Create(CreateArgs),
    /// List topics with their partition counts.
    List,
    /// Partitions with earliest and latest offsets, and configs.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Raise a topic's partition count (partitions can be added, never removed).
    AddPartitions {
        /// Topic name.
        name: String,
        /// The new total partition count.
        #[arg(long)]
        to: i32,
    },
    /// Change a topic's configs, keeping the others (as kafka-configs.sh --alter).
    AlterConfig(AlterConfigArgs),
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
    },
}

/// Options of `topic create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Topic name.
    name: String,
    /// Partitions.
    #[arg(short, long, conflicts_with_all = ["producer_rate", "consumer_rate"])]
    partitions: Option<i32>,
    /// Size the topic with the planner: producer rate P ...
    #[arg(long, requires = "consumer_rate")]
    producer_rate: Option<f64>,
    /// ... and one consumer's rate C (the broker count comes from the cluster).
    #[arg(long, requires = "producer_rate")]
    consumer_rate: Option<f64>,
    /// Replication factor (runnel has one node: 1).
    #[arg(short, long, default_value_t = 1)]
    replicas: i32,
    /// A topic config, e.g. `-c retention.ms=86400000` (repeatable).
    #[arg(short, long = "config", value_name = "KEY=VALUE", value_parser = super::client::parse_key_value)]
    configs: Vec<(String, String)>,
}

/// Options of `topic alter-config`.
#[derive(Debug, Args)]
pub struct AlterConfigArgs {
    /// Topic name.
    name: String,
    /// Configs to set, e.g. `retention.ms=86400000`.
    #[arg(value_name = "KEY=VALUE", value_parser = super::client::parse_key_value)]
    set: Vec<(String, String)>,
    /// A config to remove, so the topic inherits the broker's value again (repeatable).
    #[arg(long = "delete", value_name = "KEY")]
    delete: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Created {
    name: String,
    partitions: i32,
    replicas: i32,
    configs: BTreeMap<String, String>,
    planned: Option<crate::planner::Plan>,
}

#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    partitions: usize,
}

#[derive(Debug, Serialize)]
struct PartitionOffsets {
    partition: i32,
    leader: i32,
    earliest: i64,
    latest: i64,
}

#[derive(Debug, Serialize)]
struct Described {
    name: String,
    partitions: Vec<PartitionOffsets>,
    configs: BTreeMap<String, String>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Runs a topic subcommand.
pub fn run(command: TopicCommand, client: &ClientArgs) -> anyhow::Result<()> {
    match command {
        TopicCommand::Create(args) => create(args, client),
        TopicCommand::List => list(client),
        TopicCommand::Describe { name } => describe(&name, client),
        TopicCommand::AddPartitions { name, to } => add_partitions(&name, to, client),
        TopicCommand::AlterConfig(args) => alter_config(args, client),
        TopicCommand::Delete { name } => delete(&name, client),
    }
}

fn partition_count(client: &ClientArgs, name: &str) -> anyhow::Result<usize> {
    let consumer = client.consumer()?;
    let metadata = client.metadata(&consumer, Some(name))?;
    let topic = metadata.topics().first().ok_or_else(|| anyhow!("topic {name} does not exist"))?;
    if topic.error().is_some() || topic.partitions().is_empty() {
        bail!("topic {name} does not exist; see `runnel topic list`");
    }
    Ok(topic.partitions().len())
}

fn create(args: CreateArgs, client: &ClientArgs) -> anyhow::Result<()> {
    let (partitions, planned) = match (args.partitions, args.producer_rate, args.consumer_rate) {
        (Some(p), _, _) => (p, None),
        (None, Some(p), Some(c)) => {
            let consumer = client.consumer()?;
            let brokers = client.metadata(&consumer, None)?.brokers().len().max(1) as u32;
            let plan = plan(p, c, brokers)?;
            (i32::try_from(plan.partitions).context("planned partition count")?, Some(plan))
        }
        _ => (1, None),
    };
    let mut topic = NewTopic::new(&args.name, partitions, TopicReplication::Fixed(args.replicas));
    for (k, v) in &args.configs {
        topic = topic.set(k, v);
    }
    let admin = client.admin()?;
    let results = runtime()?
        .block_on(admin.create_topics(&[topic], &AdminOptions::new().operation_timeout(Some(TIMEOUT))))
        .map_err(|e| client.unreachable(e))?;
    for result in results {
        result.map_err(|(name, code)| anyhow!("could not create topic {name}: {code}"))?;
    }
    let created = Created {
        name: args.name.clone(),
        partitions,
        replicas: args.replicas,
        configs: args.configs.into_iter().collect(),
        planned,
    };
    match client.output {
        Output::Json => print_json(&created),
        Output::Table => {
            if let Some(plan) = &created.planned {
                for line in plan.reasoning() {
                    println!("- {line}");
                }
            }
            println!("created topic {} with {} partitions", created.name, created.partitions);
            Ok(())
        }
    }
}

fn list(client: &ClientArgs) -> anyhow::Result<()> {
    let consumer = client.consumer()?;
    let metadata = client.metadata(&consumer, None)?;
    let mut topics: Vec<Listed> = metadata
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
        .map(|t| Listed { name: t.name().to_string(), partitions: t.partitions().len() })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    match client.output {
        Output::Json => print_json(&topics),
        Output::Table => {
            let rows: Vec<Vec<String>> =
                topics.iter().map(|t| vec![t.name.clone(), t.partitions.to_string()]).collect();
            print!("{}", table(&["NAME", "PARTITIONS"], &rows));
            Ok(())
        }
    }
}

fn describe(name: &str, client: &ClientArgs) -> anyhow::Result<()> {
    let consumer = client.consumer()?;
    let metadata = client.metadata(&consumer, Some(name))?;
    let topic = metadata.topics().first().filter(|t| t.error().is_none() && !t.partitions().is_empty());
    let Some(topic) = topic else {
        bail!("topic {name} does not exist; see `runnel topic list`");
    };
    let mut partitions = Vec::new();
    for p in topic.partitions() {
        let (earliest, latest) = consumer
            .fetch_watermarks(name, p.id(), TIMEOUT)
            .with_context(|| format!("offsets of {name}/{}", p.id()))?;
        partitions.push(PartitionOffsets { partition: p.id(), leader: p.leader(), earliest, latest });
    }
    partitions.sort_by_key(|p| p.partition);
    let admin = client.admin()?;
    let configs = runtime()?
        .block_on(admin.describe_configs(&[ResourceSpecifier::Topic(name)], &AdminOptions::new()))
        .map_err(|e| client.unreachable(e))?;
    let mut config_map = BTreeMap::new();
    for resource in configs {
        let resource = resource.map_err(|e| anyhow!("could not read the configs of {name}: {e}"))?;
        for entry in resource.entries {
            if let Some(value) = entry.value {
                config_map.insert(entry.name, value);
            }
        }
    }
    let described = Described { name: name.to_string(), partitions, configs: config_map };
    match client.output {
        Output::Json => print_json(&described),
        Output::Table => {
            let rows: Vec<Vec<String>> = described
                .partitions
                .iter()
                .map(|p| {
                    vec![
                        p.partition.to_string(),
                        p.leader.to_string(),
                        p.earliest.to_string(),
                        p.latest.to_string(),
                        (p.latest - p.earliest).to_string(),
                    ]
                })
                .collect();
            println!("topic {} ({} partitions)", described.name, described.partitions.len());
            print!("{}", table(&["PARTITION", "LEADER", "EARLIEST", "LATEST", "RECORDS"], &rows));
            let rows: Vec<Vec<String>> = described.configs.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect();
            print!("{}", table(&["CONFIG", "VALUE"], &rows));
            Ok(())
        }
    }
}

fn add_partitions(name: &str, to: i32, client: &ClientArgs) -> anyhow::Result<()> {
    let current = partition_count(client, name)? as i32;
    if to < current {
        bail!(
            "topic {name} has {current} partitions and cannot go down to {to}: partitions can be added but never removed \
             (records are placed by key hash); create a new topic to shrink"
        );
    }
    if to == current {
        bail!("topic {name} already has {current} partitions; give --to a larger count");
    }
    let admin = client.admin()?;
    let results = runtime()?
        .block_on(admin.create_partitions(&[NewPartitions::new(name, to as usize)], &AdminOptions::new()))
        .map_err(|e| client.unreachable(e))?;
    for result in results {
        result.map_err(|(name, code)| anyhow!("could not add partitions to {name}: {code}"))?;
    }
    match client.output {
        Output::Json => print_json(&serde_json::json!({"name": name, "partitions_before": current, "partitions": to})),
        Output::Table => {
            println!("topic {name}: {current} -> {to} partitions");
            Ok(())
        }
    }
}

fn alter_config(args: AlterConfigArgs, client: &ClientArgs) -> anyhow::Result<()> {
    if args.set.is_empty() && args.delete.is_empty() {
        bail!("nothing to change: give KEY=VALUE pairs to set and/or --delete KEY");
    }
    let mut connection = client.connection()?;
    let ops = args
        .set
        .iter()
        .map(|(key, value)| (key, 0, Some(value)))
        .chain(args.delete.iter().map(|key| (key, 1, None)))
        .map(|(key, operation, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(operation)
                .with_value(value.map(|v| StrBytes::from_string(v.clone())))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(args.name.clone()))
            .with_configs(ops),
    ]);
    let (_, response): (i16, IncrementalAlterConfigsResponse) =
        connection.call(ApiKey::IncrementalAlterConfigs, 1, &request)?;
    for result in &response.responses {
        if result.error_code != 0 {
            let message = result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
            bail!("could not alter the configs of {}: {} {message}", args.name, describe_code(result.error_code));
        }
    }
    let set: BTreeMap<&String, &String> = args.set.iter().map(|(k, v)| (k, v)).collect();
    match client.output {
        Output::Json => print_json(&serde_json::json!({"name": args.name, "set": set, "deleted": args.delete})),
        Output::Table => {
            for (key, value) in &set {
                println!("topic {}: {key}={value}", args.name);
            }
            for key in &args.delete {
                println!("topic {}: {key} removed (inherits the broker's value)", args.name);
            }
            Ok(())
        }
    }
}

fn delete(name: &str, client: &ClientArgs) -> anyhow::Result<()> {
    let admin = client.admin()?;
    let results =
        runtime()?.block_on(admin.delete_topics(&[name], &AdminOptions::new())).map_err(|e| client.unreachable(e))?;
    for result in results {
        result.map_err(|(name, code)| anyhow!("could not delete topic {name}: {code}"))?;
    }
    match client.output {
        Output::Json => print_json(&serde_json::json!({"deleted": name})),
        Output::Table => {
            println!("deleted topic {name}");
            Ok(())
        }
    }
}
