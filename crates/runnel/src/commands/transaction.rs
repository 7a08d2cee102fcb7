//! `runnel transaction list|describe|describe-producers`: transactional ids, their state and
//! open transactions, and each partition's producers, as Kafka's `kafka-transactions.sh`
//! shows them, on runnel or any Kafka-compatible cluster (rdkafka has no client for these
//! requests, so they go through [`super::wire`]).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, FindCoordinatorRequest, FindCoordinatorResponse, ListTransactionsRequest,
    ListTransactionsResponse, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::ClientArgs;
use super::output::print_as;
use super::wire::{Connection, Node, describe_code};

/// Transaction subcommands.
#[derive(Debug, Subcommand)]
pub enum TransactionCommand {
    /// Every transactional id with its coordinator, producer id and state.
    List {
        /// Only ids in these states (Empty, Ongoing, PrepareCommit, PrepareAbort,
        /// CompleteCommit, CompleteAbort, PrepareEpochFence), repeatable.
        #[arg(long = "state")]
        states: Vec<String>,
    },
    /// A transactional id's producer, state, timeout and the partitions of its open
    /// transaction.
    Describe {
        /// Transactional id.
        transactional_id: String,
    },
    /// The producers a topic's partitions track, with the start of any open transaction (how a
    /// hanging transaction is found).
    DescribeProducers {
        /// Topic.
        #[arg(long)]
        topic: String,
        /// Only this partition (default: every partition).
        #[arg(long)]
        partition: Option<i32>,
    },
}

/// Runs a transaction subcommand.
pub fn run(command: TransactionCommand, client: &ClientArgs) -> anyhow::Result<()> {
    let mut bootstrap = client.connection()?;
    match command {
        TransactionCommand::List { states } => list(&mut bootstrap, &states, client),
        TransactionCommand::Describe { transactional_id } => describe(&mut bootstrap, &transactional_id, client),
        TransactionCommand::DescribeProducers { topic, partition } => {
            describe_producers(&mut bootstrap, &topic, partition, client)
        }
    }
}

#[derive(Debug, Serialize)]
struct Listed {
    transactional_id: String,
    coordinator: i32,
    producer_id: i64,
    state: String,
}

/// ListTransactions goes to every broker: each answers for the ids it coordinates.
fn list(bootstrap: &mut Connection, states: &[String], client: &ClientArgs) -> anyhow::Result<()> {
    let output = client.output;
    let nodes = bootstrap.metadata(None)?.nodes;
    let request = ListTransactionsRequest::default()
        .with_state_filters(states.iter().map(|s| StrBytes::from_string(s.clone())).collect())
        .with_duration_filter(-1);
    let mut rows = Vec::new();
    for node in &nodes {
        let mut connection = client.connection_to(&node.address)?;
        let (_, response): (i16, ListTransactionsResponse) = connection.call(ApiKey::ListTransactions, 1, &request)?;
        if response.error_code != 0 {
            bail!("broker {} refused ListTransactions: {}", node.id, describe_code(response.error_code));
        }
        if let Some(unknown) = response.unknown_state_filters.first() {
            bail!(
                "unknown transaction state {unknown}; the states are Empty, Ongoing, PrepareCommit, PrepareAbort, \
                 CompleteCommit, CompleteAbort and PrepareEpochFence"
            );
        }
        rows.extend(response.transaction_states.iter().map(|s| Listed {
            transactional_id: s.transactional_id.as_str().to_string(),
            coordinator: node.id,
            producer_id: s.producer_id.0,
            state: s.transaction_state.as_str().to_string(),
        }));
    }
    rows.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    print_as(output, &rows, &["TRANSACTIONAL_ID", "COORDINATOR", "PRODUCER_ID", "STATE"], |rows| {
        rows.iter()
            .map(|r| {
                vec![r.transactional_id.clone(), r.coordinator.to_string(), r.producer_id.to_string(), r.state.clone()]
            })
            .collect()
    })
}

/// The broker coordinating `transactional_id` (FindCoordinator with key type TRANSACTION).
fn transaction_coordinator(bootstrap: &mut Connection, transactional_id: &str) -> anyhow::Result<Node> {
    let key = StrBytes::from_string(transactional_id.to_string());
    let version = bootstrap.version(ApiKey::FindCoordinator, 4)?;
    let request = if version >= 4 {
        FindCoordinatorRequest::default().with_key_type(1).with_coordinator_keys(vec![key])
    } else {
        FindCoordinatorRequest::default().with_key_type(1).with_key(key)
    };
    let (version, response): (i16, FindCoordinatorResponse) = bootstrap.call(ApiKey::FindCoordinator, 4, &request)?;
    let (code, node, host, port) = match response.coordinators.first() {
        Some(c) if version >= 4 => (c.error_code, c.node_id.0, c.host.as_str().to_string(), c.port),
        _ => (response.error_code, response.node_id.0, response.host.as_str().to_string(), response.port),
    };
    if code != 0 {
        bail!("find the coordinator of transactional id {transactional_id}: {}", describe_code(code));
    }
    Ok(Node { id: node, address: format!("{host}:{port}") })
}

#[derive(Debug, Serialize)]
struct Described {
    transactional_id: String,
    coordinator: i32,
    producer_id: i64,
    producer_epoch: i16,
    state: String,
    timeout_ms: i32,
    start_time_ms: Option<i64>,
    duration_ms: Option<i64>,
    partitions: Vec<(String, i32)>,
}

fn describe(bootstrap: &mut Connection, transactional_id: &str, client: &ClientArgs) -> anyhow::Result<()> {
    let output = client.output;
    let coordinator = transaction_coordinator(bootstrap, transactional_id)?;
    let mut connection = client.connection_to(&coordinator.address)?;
    let request = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(transactional_id.to_string()))]);
    let (_, response): (i16, DescribeTransactionsResponse) =
        connection.call(ApiKey::DescribeTransactions, 0, &request)?;
    let state = response.transaction_states.first().ok_or_else(|| anyhow!("the coordinator answered nothing"))?;
    if state.error_code != 0 {
        bail!(
            "describe transactional id {transactional_id}: {}; see `runnel transaction list`",
            describe_code(state.error_code)
        );
    }
    let started = (state.transaction_start_time_ms >= 0).then_some(state.transaction_start_time_ms);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).context("the clock is before 1970")?.as_millis() as i64;
    let described = Described {
        transactional_id: transactional_id.to_string(),
        coordinator: coordinator.id,
        producer_id: state.producer_id.0,
        producer_epoch: state.producer_epoch,
        state: state.transaction_state.as_str().to_string(),
        timeout_ms: state.transaction_timeout_ms,
        start_time_ms: started,
        duration_ms: started.map(|s| (now - s).max(0)),
        partitions: state
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.topic.as_str().to_string(), *p)))
            .collect(),
    };
    let headers = [
        "COORDINATOR",
        "TRANSACTIONAL_ID",
        "PRODUCER_ID",
        "EPOCH",
        "STATE",
        "TIMEOUT_MS",
        "START_TIME_MS",
        "DURATION_MS",
        "PARTITIONS",
    ];
    print_as(output, &described, &headers, |d| {
        let partitions: Vec<String> = d.partitions.iter().map(|(t, p)| format!("{t}-{p}")).collect();
        vec![vec![
            d.coordinator.to_string(),
            d.transactional_id.clone(),
            d.producer_id.to_string(),
            d.producer_epoch.to_string(),
            d.state.clone(),
            d.timeout_ms.to_string(),
            or_dash(d.start_time_ms),
            or_dash(d.duration_ms),
            if partitions.is_empty() { "-".to_string() } else { partitions.join(",") },
        ]]
    })
}

/// An optional figure for a table: `-` when absent.
fn or_dash(value: Option<i64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[derive(Debug, Serialize)]
struct ProducerRow {
    partition: i32,
    producer_id: i64,
    producer_epoch: i32,
    /// -1 where the broker does not track it (runnel has one coordinator, epoch 0).
    coordinator_epoch: i32,
    last_sequence: i32,
    last_timestamp: i64,
    transaction_start_offset: Option<i64>,
}

/// DescribeProducers goes to each partition's leader.
fn describe_producers(
    bootstrap: &mut Connection,
    topic: &str,
    only: Option<i32>,
    client: &ClientArgs,
) -> anyhow::Result<()> {
    let output = client.output;
    let view = bootstrap.metadata(Some(topic))?;
    if view.topic_error != 0 {
        bail!("topic {topic}: {}; see `runnel topic list`", describe_code(view.topic_error));
    }
    let (nodes, partitions) = (view.nodes, view.partitions);
    if let Some(p) = only
        && !partitions.iter().any(|(index, _, _)| *index == p)
    {
        bail!("topic {topic} has no partition {p} (it has {})", partitions.len());
    }
    let mut rows = Vec::new();
    for node in &nodes {
        let mine: Vec<i32> = partitions
            .iter()
            .filter(|(index, leader, _)| *leader == node.id && only.is_none_or(|p| p == *index))
            .map(|(index, _, _)| *index)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut connection = client.connection_to(&node.address)?;
        let request = DescribeProducersRequest::default().with_topics(vec![
            TopicRequest::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_indexes(mine),
        ]);
        let (_, response): (i16, DescribeProducersResponse) =
            connection.call(ApiKey::DescribeProducers, 0, &request)?;
        for partition in response.topics.iter().flat_map(|t| &t.partitions) {
            if partition.error_code != 0 {
                bail!(
                    "describe producers of {topic}-{}: {}",
                    partition.partition_index,
                    describe_code(partition.error_code)
                );
            }
            rows.extend(partition.active_producers.iter().map(|p| ProducerRow {
                partition: partition.partition_index,
                producer_id: p.producer_id.0,
                producer_epoch: p.producer_epoch,
                coordinator_epoch: p.coordinator_epoch,
                last_sequence: p.last_sequence,
                last_timestamp: p.last_timestamp,
                transaction_start_offset: (p.current_txn_start_offset >= 0).then_some(p.current_txn_start_offset),
            }));
        }
    }
    rows.sort_by_key(|r| (r.partition, r.producer_id));
    let headers =
        ["PARTITION", "PRODUCER_ID", "EPOCH", "COORDINATOR_EPOCH", "LAST_SEQUENCE", "LAST_TIMESTAMP", "TXN_START"];
    print_as(output, &rows, &headers, |rows| {
        rows.iter()
            .map(|r| {
                vec![
                    r.partition.to_string(),
                    r.producer_id.to_string(),
                    r.producer_epoch.to_string(),
                    r.coordinator_epoch.to_string(),
                    r.last_sequence.to_string(),
                    r.last_timestamp.to_string(),
                    or_dash(r.transaction_start_offset),
                ]
            })
            .collect()
    })
}
