//! `runnel group list|describe|seek|delete`: consumer groups, their members, committed
//! offsets (the bookmarks) and lag, on runnel or any Kafka-compatible cluster.

use std::collections::BTreeSet;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::groups::GroupInfo;
use rdkafka::{Offset, TopicPartitionList};
use runnel_broker::groups::consumer_protocol::assignment_partitions;
use serde::Serialize;

use super::client::{ClientArgs, TIMEOUT};
use super::output::{Output, print_json, table};

/// Group subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state and member count.
    List,
    /// A group's state, members and assignments, and per partition its committed offset, the
    /// log end offset and the lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Move a group's committed offsets (refused while the group has members, as in Kafka).
    Seek {
        /// Group id.
        group: String,
        /// earliest, latest, an offset, or a time in ms since the epoch (13 digits, or @MS).
        #[arg(long)]
        to: String,
        /// Only this topic (default: every topic the group has offsets for).
        #[arg(long)]
        topic: Option<String>,
    },
    /// Delete an empty group and its committed offsets.
    Delete {
        /// Group id.
        group: String,
    },
}

#[derive(Debug, Serialize)]
struct GroupRow {
    group: String,
    /// `classic`, or `consumer` for a KIP-848 group (`group.protocol=consumer`).
    #[serde(rename = "type")]
    group_type: String,
    state: String,
    protocol_type: String,
    members: usize,
}

#[derive(Debug, Serialize)]
struct Member {
    member_id: String,
    client_id: String,
    client_host: String,
    assignment: Vec<(String, Vec<i32>)>,
}

#[derive(Debug, Serialize)]
struct PartitionLag {
    topic: String,
    partition: i32,
    committed: Option<i64>,
    log_end: i64,
    lag: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Described {
    group: String,
    state: String,
    protocol: String,
    members: Vec<Member>,
    offsets: Vec<PartitionLag>,
}

/// Runs a group subcommand.
pub fn run(command: GroupCommand, client: &ClientArgs) -> anyhow::Result<()> {
    match command {
        GroupCommand::List => list(client),
        GroupCommand::Describe { group } => describe(&group, client),
        GroupCommand::Seek { group, to, topic } => seek(&group, &to, topic.as_deref(), client),
        GroupCommand::Delete { group } => delete(&group, client),
    }
}

fn group_info(client: &ClientArgs, consumer: &BaseConsumer, group: &str) -> anyhow::Result<Option<GroupRow>> {
    let list = consumer.fetch_group_list(Some(group), TIMEOUT).map_err(|e| client.unreachable(e))?;
    Ok(list.groups().iter().find(|g| g.name() == group && g.state() != "Dead").map(row))
}

fn row(g: &GroupInfo) -> GroupRow {
    GroupRow {
        group: g.name().to_string(),
        group_type: "classic".to_string(),
        state: g.state().to_string(),
        protocol_type: g.protocol_type().to_string(),
        members: g.members().len(),
    }
}

fn list(client: &ClientArgs) -> anyhow::Result<()> {
    let consumer = client.consumer()?;
    let groups = consumer.fetch_group_list(None, TIMEOUT).map_err(|e| client.unreachable(e))?;
    let mut rows: Vec<GroupRow> = groups.groups().iter().map(row).collect();
    let types = group_types(client)?;
    for row in &mut rows {
        if let Some(group_type) = types.get(&row.group) {
            row.group_type = group_type.clone();
        }
    }
    rows.sort_by(|a, b| a.group.cmp(&b.group));
    match client.output {
        Output::Json => print_json(&rows),
        Output::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| vec![r.group.clone(), r.group_type.clone(), r.state.clone(), r.members.to_string()])
                .collect();
            print!("{}", table(&["GROUP", "TYPE", "STATE", "MEMBERS"], &cells));
            Ok(())
        }
    }
}

/// Each group's type from ListGroups v5 on every broker (brokers before KIP-848 only have
/// classic groups and do not say).
fn group_types(client: &ClientArgs) -> anyhow::Result<std::collections::HashMap<String, String>> {
    use kafka_protocol::messages::{ApiKey, ListGroupsRequest, ListGroupsResponse};
    let mut types = std::collections::HashMap::new();
    let nodes = client.connection()?.metadata(None)?.nodes;
    for node in &nodes {
        let mut connection = client.connection_to(&node.address)?;
        let (version, response): (i16, ListGroupsResponse) =
            connection.call(ApiKey::ListGroups, 5, &ListGroupsRequest::default())?;
        if version >= 5 {
            for g in response.groups {
                types.insert(g.group_id.to_string(), g.group_type.to_string());
            }
        }
    }
    Ok(types)
}

/// Committed offsets of `group` for every partition of `topics` (all topics if None) it has
/// committed, with log end offsets and lag.
fn committed(
    client: &ClientArgs,
    group: &str,
    topics: Option<&BTreeSet<String>>,
) -> anyhow::Result<(BaseConsumer, Vec<PartitionLag>)> {
    let consumer: BaseConsumer = client
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .with_context(|| format!("create a client for {}", client.brokers))?;
    let metadata = client.metadata(&consumer, None)?;
    let mut list = TopicPartitionList::new();
    for topic in metadata.topics() {
        if topic.name().starts_with("__") || topics.is_some_and(|t| !t.contains(topic.name())) {
            continue;
        }
        for p in topic.partitions() {
            list.add_partition(topic.name(), p.id());
        }
    }
    let offsets = consumer.committed_offsets(list, TIMEOUT).map_err(|e| client.unreachable(e))?;
    let mut lags = Vec::new();
    for e in offsets.elements() {
        let committed = e.offset().to_raw().filter(|o| *o >= 0);
        if committed.is_none() && topics.is_none() {
            continue;
        }
        let (_, log_end) =
            consumer.fetch_watermarks(e.topic(), e.partition(), TIMEOUT).map_err(|err| client.unreachable(err))?;
        lags.push(PartitionLag {
            topic: e.topic().to_string(),
            partition: e.partition(),
            committed,
            log_end,
            lag: committed.map(|c| (log_end - c).max(0)),
        });
    }
    lags.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok((consumer, lags))
}

fn describe(group: &str, client: &ClientArgs) -> anyhow::Result<()> {
    let consumer = client.consumer()?;
    let list = consumer.fetch_group_list(Some(group), TIMEOUT).map_err(|e| client.unreachable(e))?;
    let info = list.groups().iter().find(|g| g.name() == group);
    let (_, offsets) = committed(client, group, None)?;
    let live = info.is_some_and(|g| g.state() != "Dead");
    if !live && offsets.is_empty() {
        bail!("group {group} does not exist; see `runnel group list`");
    }
    let described = Described {
        group: group.to_string(),
        state: info.map(|g| g.state().to_string()).filter(|s| s != "Dead").unwrap_or_else(|| "Empty".into()),
        protocol: info.map(|g| g.protocol().to_string()).unwrap_or_default(),
        members: info
            .map(|g| {
                g.members()
                    .iter()
                    .map(|m| Member {
                        member_id: m.id().to_string(),
                        client_id: m.client_id().to_string(),
                        client_host: m.client_host().to_string(),
                        assignment: m.assignment().map(assignment_partitions).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        offsets,
    };
    match client.output {
        Output::Json => print_json(&described),
        Output::Table => {
            println!("group {} ({}, {} members)", described.group, described.state, described.members.len());
            let members: Vec<Vec<String>> = described
                .members
                .iter()
                .map(|m| {
                    let assigned = m
                        .assignment
                        .iter()
                        .map(|(t, ps)| format!("{t}:{}", ps.iter().map(i32::to_string).collect::<Vec<_>>().join(",")))
                        .collect::<Vec<_>>()
                        .join(" ");
                    vec![m.client_id.clone(), m.client_host.clone(), assigned]
                })
                .collect();
            if !members.is_empty() {
                print!("{}", table(&["CLIENT", "HOST", "ASSIGNED"], &members));
            }
            let rows: Vec<Vec<String>> = described
                .offsets
                .iter()
                .map(|o| {
                    let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
                    vec![
                        o.topic.clone(),
                        o.partition.to_string(),
                        show(o.committed),
                        o.log_end.to_string(),
                        show(o.lag),
                    ]
                })
                .collect();
            print!("{}", table(&["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"], &rows));
            Ok(())
        }
    }
}

/// Where `seek --to` points.
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    Time(i64),
}

fn parse_target(to: &str) -> anyhow::Result<Target> {
    Ok(match to {
        "earliest" | "start" | "beginning" => Target::Earliest,
        "latest" | "end" => Target::Latest,
        t if t.starts_with('@') => Target::Time(t[1..].parse().map_err(|_| anyhow!("--to {to}: expected @MS"))?),
        n => match n.parse::<i64>() {
            Ok(v) if v >= 1_000_000_000_000 => Target::Time(v),
            Ok(v) if v >= 0 => Target::Offset(v),
            _ => bail!("--to {to}: expected earliest, latest, an offset, or a time in ms since the epoch"),
        },
    })
}

fn seek(group: &str, to: &str, topic: Option<&str>, client: &ClientArgs) -> anyhow::Result<()> {
    let target = parse_target(to)?;
    let probe = client.consumer()?;
    if let Some(info) = group_info(client, &probe, group)?
        && info.members > 0
    {
        bail!(
            "group {group} has {} active member(s); stop them first: Kafka moves a group's offsets only while it is empty",
            info.members
        );
    }
    let only: Option<BTreeSet<String>> = topic.map(|t| BTreeSet::from([t.to_string()]));
    let (consumer, current) = committed(client, group, only.as_ref())?;
    if current.is_empty() {
        bail!(
            "group {group} has no offsets{} to move; name a topic with --topic",
            topic.map(|t| format!(" for {t}")).unwrap_or_default()
        );
    }
    let mut moved = Vec::new();
    let mut list = TopicPartitionList::new();
    for p in &current {
        let (low, high) =
            consumer.fetch_watermarks(&p.topic, p.partition, TIMEOUT).map_err(|e| client.unreachable(e))?;
        let offset = match target {
            Target::Earliest => low,
            Target::Latest => high,
            Target::Offset(o) => o.clamp(low, high),
            Target::Time(ms) => {
                let mut times = TopicPartitionList::new();
                times.add_partition_offset(&p.topic, p.partition, Offset::Offset(ms))?;
                let found = consumer.offsets_for_times(times, TIMEOUT).map_err(|e| client.unreachable(e))?;
                found.elements().first().and_then(|e| e.offset().to_raw()).filter(|o| *o >= 0).unwrap_or(high)
            }
        };
        list.add_partition_offset(&p.topic, p.partition, Offset::Offset(offset))?;
        moved.push(PartitionLag {
            topic: p.topic.clone(),
            partition: p.partition,
            committed: Some(offset),
            log_end: high,
            lag: Some(high - offset),
        });
    }
    consumer
        .commit(&list, CommitMode::Sync)
        .map_err(|e| anyhow!("could not move the offsets of group {group}: {e} (does it have members?)"))?;
    match client.output {
        Output::Json => print_json(&moved),
        Output::Table => {
            let rows: Vec<Vec<String>> = moved
                .iter()
                .map(|o| {
                    vec![
                        o.topic.clone(),
                        o.partition.to_string(),
                        o.committed.unwrap_or(-1).to_string(),
                        o.lag.unwrap_or(0).to_string(),
                    ]
                })
                .collect();
            print!("{}", table(&["TOPIC", "PARTITION", "COMMITTED", "LAG"], &rows));
            Ok(())
        }
    }
}

fn delete(group: &str, client: &ClientArgs) -> anyhow::Result<()> {
    let admin = client.admin()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results =
        runtime.block_on(admin.delete_groups(&[group], &AdminOptions::new())).map_err(|e| client.unreachable(e))?;
    for result in results {
        result.map_err(|(name, code)| match code {
            rdkafka::types::RDKafkaErrorCode::NonEmptyGroup => {
                anyhow!("group {name} has active members; stop them before deleting it")
            }
            rdkafka::types::RDKafkaErrorCode::GroupIdNotFound => {
                anyhow!("group {name} does not exist; see `runnel group list`")
            }
            other => anyhow!("could not delete group {name}: {other}"),
        })?;
    }
    match client.output {
        Output::Json => print_json(&serde_json::json!({"deleted": group})),
        Output::Table => {
            println!("deleted group {group}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_targets_read_as_kafka_users_write_them() {
        assert!(matches!(parse_target("earliest"), Ok(Target::Earliest)));
        assert!(matches!(parse_target("latest"), Ok(Target::Latest)));
        assert!(matches!(parse_target("42"), Ok(Target::Offset(42))));
        assert!(matches!(parse_target("1795000000000"), Ok(Target::Time(1_795_000_000_000))));
        assert!(matches!(parse_target("@5"), Ok(Target::Time(5))));
        assert!(parse_target("soon").is_err());
    }
}
