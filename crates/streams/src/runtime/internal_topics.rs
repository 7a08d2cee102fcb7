//! Internal topics: how many partitions every sub-topology has, and creating the repartition
//! and changelog topics an application owns.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::config::{ClientKind, StreamsConfig};
use crate::StreamsError;
use crate::builder::Topology;
use crate::graph::TopicName;

/// How long metadata and topic creation may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Each sub-topology's partition count: the most partitions among its sources. An external
/// topic's count comes from the cluster; a repartition topic has its writer's count.
pub(crate) fn partition_counts(
    topology: &Topology,
    external: &HashMap<String, usize>,
) -> Result<Vec<usize>, StreamsError> {
    let mut counts: Vec<Option<usize>> = vec![None; topology.sub_topologies.len()];
    let mut internal: HashMap<TopicName, usize> = HashMap::new();
    // Each pass settles at least one sub-topology whose internal inputs are known.
    for _ in 0..=topology.sub_topologies.len() {
        for (i, sub) in topology.sub_topologies.iter().enumerate() {
            if counts[i].is_some() {
                continue;
            }
            let mut count = Some(0);
            let mut seen: Vec<(String, usize)> = Vec::new();
            for source in &sub.sources {
                let n = match &source.topic {
                    TopicName::External(name) => Some(*external.get(name).ok_or_else(|| {
                        StreamsError::Topology(format!("source topic {name} does not exist; create it first"))
                    })?),
                    internal_name => internal.get(internal_name).copied(),
                };
                if let Some(n) = n {
                    seen.push((source.topic.full("<app>"), n));
                }
                count = match (count, n) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            if sub.joins && seen.iter().any(|(_, n)| *n != seen[0].1) {
                let listed: Vec<String> = seen.iter().map(|(t, n)| format!("{t}: {n}")).collect();
                return Err(StreamsError::Topology(format!(
                    "joined topics must have the same partition count (co-partitioning); they have {}",
                    listed.join(", ")
                )));
            }
            if let Some(n) = count {
                counts[i] = Some(n);
                for written in &sub.writes {
                    internal.insert(written.clone(), n);
                }
            }
        }
    }
    counts
        .into_iter()
        .map(|c| c.ok_or_else(|| StreamsError::Topology("repartition topics form a cycle".into())))
        .collect()
}

/// Reads the partition counts of the topology's external source topics, and creates the
/// internal topics that do not exist yet. Returns each sub-topology's partition count.
pub(crate) fn prepare(topology: &Topology, config: &StreamsConfig) -> Result<Vec<usize>, StreamsError> {
    let consumer: BaseConsumer =
        config.client(ClientKind::Admin, &[]).create().map_err(|e| StreamsError::kafka("create a client", e))?;
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .map_err(|e| StreamsError::kafka(format!("read the metadata of {}", config.bootstrap_servers), e))?;
    let existing: HashMap<String, usize> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    let counts = partition_counts(topology, &existing)?;

    let app = &config.application_id;
    let mut wanted: Vec<(String, usize, bool)> = Vec::new();
    for (sub, count) in topology.sub_topologies.iter().zip(&counts) {
        for written in &sub.writes {
            wanted.push((written.full(app), *count, false));
        }
        for store in &sub.stores {
            wanted.push((store.changelog().full(app), *count, true));
        }
    }
    let mut to_create = Vec::new();
    for (name, count, _) in &wanted {
        match existing.get(name) {
            Some(have) if have == count => {}
            Some(have) => {
                return Err(StreamsError::Topology(format!(
                    "internal topic {name} has {have} partitions but the topology needs {count}; \
                     delete it (and reset the application) or change the inputs back"
                )));
            }
            None => to_create.push(name),
        }
    }
    if to_create.is_empty() {
        return Ok(counts);
    }
    let admin: AdminClient<DefaultClientContext> =
        config.client(ClientKind::Admin, &[]).create().map_err(|e| StreamsError::kafka("create an admin client", e))?;
    let new_topics: Vec<NewTopic> = wanted
        .iter()
        .filter(|(name, _, _)| to_create.contains(&name))
        .map(|(name, count, compacted)| {
            let topic = NewTopic::new(name, *count as i32, TopicReplication::Fixed(config.replication_factor));
            if *compacted { topic.set("cleanup.policy", "compact") } else { topic }
        })
        .collect();
    let results = futures::executor::block_on(admin.create_topics(&new_topics, &AdminOptions::new()))
        .map_err(|e| StreamsError::kafka("create internal topics", e))?;
    for result in results {
        match result {
            Ok(name) => tracing::info!(topic = %name, "created an internal topic"),
            // Another instance created it meanwhile.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(StreamsError::Topology(format!("create internal topic {name}: {code}")));
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamsBuilder;
    use crate::serdes::{I64, Utf8};

    #[test]
    fn a_repartitioned_sub_topology_has_its_writers_partition_count() {
        let builder = StreamsBuilder::new();
        let a = builder.stream("a", Utf8, Utf8);
        let b = builder.stream("b", Utf8, Utf8);
        a.merge(&b).select_key(|_, v| v.clone()).group_by_key(Utf8, Utf8).count("n").to_stream().to("out", Utf8, I64);
        let topology = builder.build().expect("build");
        let counts = partition_counts(&topology, &HashMap::from([("a".into(), 3), ("b".into(), 5)])).expect("counts");
        assert_eq!(counts, vec![5, 5]);
        let missing = partition_counts(&topology, &HashMap::from([("a".into(), 3)])).unwrap_err();
        assert!(missing.to_string().contains("source topic b does not exist"), "{missing}");
    }

    #[test]
    fn joined_topics_with_different_partition_counts_are_refused() {
        let builder = StreamsBuilder::new();
        let users = builder.table("users", Utf8, Utf8, "users");
        builder.stream("clicks", Utf8, Utf8).join_table(&users, |c, u| format!("{u}{c}")).to("out", Utf8, Utf8);
        let topology = builder.build().expect("build");
        let refused =
            partition_counts(&topology, &HashMap::from([("users".into(), 2), ("clicks".into(), 3)])).unwrap_err();
        assert!(refused.to_string().contains("same partition count"), "{refused}");
        assert_eq!(
            partition_counts(&topology, &HashMap::from([("users".into(), 3), ("clicks".into(), 3)])).ok(),
            Some(vec![3])
        );
    }
}
