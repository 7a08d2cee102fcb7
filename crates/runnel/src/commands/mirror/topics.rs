//! Keeping the target's topics in step with the source's: a mirrored topic is created on the
//! target with the source's partition count and its topic-level configs, and grows when the
//! source's grows, so that every record keeps its partition.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::naming::ReplicationPolicy;
use crate::commands::client::TIMEOUT;

/// Topic configs never copied, as MirrorMaker 2 leaves them out: they describe one cluster's
/// replicas or stamp records anew.
const NOT_COPIED: [&str; 7] = [
    runnel_broker::topic_config::MIRROR_LINK,
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "unclean.leader.election.enable",
    "min.insync.replicas",
];

/// One side of the mirror: its bootstrap servers and the clients that read its metadata and
/// change its topics.
pub struct Cluster {
    /// `source` or `target`, for messages.
    pub role: &'static str,
    /// Bootstrap servers.
    pub brokers: String,
    admin: AdminClient<DefaultClientContext>,
    metadata: BaseConsumer,
    /// Target topics already reported as not this link's mirror topics.
    reported: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Cluster {
    /// Clients for the cluster at `brokers`, with `properties` set on each.
    pub fn connect(role: &'static str, config: &ClientConfig, brokers: &str) -> anyhow::Result<Cluster> {
        let admin = config.create().with_context(|| format!("create an admin client for the {role} ({brokers})"))?;
        let metadata = config
            .clone()
            .set("group.id", "runnel-mirror-metadata")
            .create()
            .with_context(|| format!("create a client for the {role} ({brokers})"))?;
        Ok(Cluster { role, brokers: brokers.to_string(), admin, metadata, reported: Default::default() })
    }

    /// Every topic and its partition count.
    pub fn topics(&self) -> anyhow::Result<BTreeMap<String, i32>> {
        let metadata = self.metadata.fetch_metadata(None, TIMEOUT).map_err(|e| {
            anyhow!(
                "no answer from the {} at {} ({e}); is it running, and is --{} right?",
                self.role,
                self.brokers,
                self.role
            )
        })?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as i32))
            .collect())
    }

    /// The topic-level configs of `topic` that a copy should have.
    fn copied_configs(&self, runtime: &tokio::runtime::Runtime, topic: &str) -> anyhow::Result<Vec<(String, String)>> {
        let resources = runtime
            .block_on(self.admin.describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new()))
            .with_context(|| format!("read the configs of {topic} on the {}", self.role))?;
        let mut configs = Vec::new();
        for resource in resources {
            let resource = resource.map_err(|e| anyhow!("read the configs of {topic} on the {}: {e}", self.role))?;
            for entry in resource.entries {
                let set_on_topic = matches!(entry.source, ConfigSource::DynamicTopic);
                if set_on_topic
                    && !entry.is_sensitive
                    && !NOT_COPIED.contains(&entry.name.as_str())
                    && let Some(value) = entry.value
                {
                    configs.push((entry.name, value));
                }
            }
        }
        Ok(configs)
    }
}

/// What an offset-preserving mirror needs to know of a copy on the target.
struct CopyConfig {
    /// The mirror link allowed to write it (`runnel.mirror.link`), if any.
    link: Option<String>,
    /// Its `max.message.bytes`.
    max_message_bytes: Option<usize>,
}

impl Cluster {
    /// The mirror link and batch limit of each of `topics`, in one request.
    fn copy_configs(
        &self,
        runtime: &tokio::runtime::Runtime,
        topics: &[&str],
    ) -> anyhow::Result<BTreeMap<String, CopyConfig>> {
        let resources: Vec<ResourceSpecifier<'_>> = topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
        let answers = runtime
            .block_on(self.admin.describe_configs(&resources, &AdminOptions::new()))
            .with_context(|| format!("read the configs of the mirrored topics on the {}", self.role))?;
        let mut configs = BTreeMap::new();
        for (topic, answer) in topics.iter().zip(answers) {
            let resource = answer.map_err(|e| anyhow!("read the configs of {topic} on the {}: {e}", self.role))?;
            let value = |name: &str| resource.get(name).and_then(|e| e.value.clone());
            configs.insert(
                topic.to_string(),
                CopyConfig {
                    link: value(runnel_broker::topic_config::MIRROR_LINK),
                    max_message_bytes: value("max.message.bytes").and_then(|v| v.parse().ok()),
                },
            );
        }
        Ok(configs)
    }
}

/// A source topic being mirrored and its name on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrored {
    /// The source topic.
    pub source: String,
    /// Its copy on the target.
    pub target: String,
    /// Its partition count on the source.
    pub partitions: i32,
    /// The copy's `max.message.bytes` (offset-preserving mirrors size batches under it).
    pub max_message_bytes: Option<usize>,
}

/// Brings the target in step with the source for every topic the policy mirrors: missing
/// copies created, copies with fewer partitions grown. Returns the mirrored topics.
///
/// With `link` (an offset-preserving mirror) copies are created as mirror topics of that link,
/// and a copy that is not one (promoted, or an ordinary topic of the same name) is left alone.
pub fn sync(
    policy: &ReplicationPolicy,
    source: &Cluster,
    target: &Cluster,
    runtime: &tokio::runtime::Runtime,
    link: Option<&str>,
) -> anyhow::Result<Vec<Mirrored>> {
    let source_topics = source.topics()?;
    let target_topics = target.topics()?;
    let mut mirrored = Vec::new();
    for (topic, &partitions) in source_topics.iter().filter(|(t, _)| policy.mirrors(t)) {
        let copy = policy.target_topic(topic);
        match target_topics.get(&copy) {
            None => {
                let configs = source.copied_configs(runtime, topic)?;
                let mut new = NewTopic::new(&copy, partitions, TopicReplication::Fixed(-1));
                for (key, value) in &configs {
                    new = new.set(key, value);
                }
                if let Some(link) = link {
                    new = new.set(runnel_broker::topic_config::MIRROR_LINK, link);
                }
                let results = runtime
                    .block_on(target.admin.create_topics(&[new], &AdminOptions::new().operation_timeout(Some(TIMEOUT))))
                    .with_context(|| format!("create {copy} on the target"))?;
                for result in results {
                    match result {
                        Ok(_) => {
                            tracing::info!(topic = %copy, partitions, configs = configs.len(), "created a mirrored topic")
                        }
                        // Another mirror process (or a retry) got there first.
                        Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((name, rdkafka::types::RDKafkaErrorCode::InvalidConfig)) if link.is_some() => bail!(
                            "could not create {name} on the target as a mirror topic: it refuses the config \
                             {}; --preserve-offsets needs a runnel target",
                            runnel_broker::topic_config::MIRROR_LINK
                        ),
                        Err((name, code)) => bail!("could not create {name} on the target: {code}"),
                    }
                }
            }
            Some(&have) if have < partitions => {
                let grow = NewPartitions::new(&copy, partitions as usize);
                let results = runtime
                    .block_on(target.admin.create_partitions(&[grow], &AdminOptions::new()))
                    .with_context(|| format!("add partitions to {copy} on the target"))?;
                for result in results {
                    result.map_err(|(name, code)| anyhow!("could not grow {name} on the target: {code}"))?;
                }
                tracing::info!(topic = %copy, from = have, to = partitions, "grew a mirrored topic with its source");
            }
            Some(_) => {}
        }
        mirrored.push(Mirrored { source: topic.clone(), target: copy, partitions, max_message_bytes: None });
    }
    let Some(link) = link else { return Ok(mirrored) };
    let copies: Vec<&str> = mirrored.iter().map(|m| m.target.as_str()).collect();
    let configs = if copies.is_empty() { BTreeMap::new() } else { target.copy_configs(runtime, &copies)? };
    let mut reported = target.reported.lock().unwrap_or_else(|p| p.into_inner());
    mirrored.retain_mut(|m| {
        let config = configs.get(&m.target);
        m.max_message_bytes = config.and_then(|c| c.max_message_bytes);
        let ours = config.and_then(|c| c.link.as_deref()) == Some(link);
        if !ours && reported.insert(m.target.clone()) {
            tracing::warn!(
                topic = %m.target,
                "not copied: on the target it is not a mirror topic of link {link} (promoted, or an ordinary topic)"
            );
        }
        ours
    });
    Ok(mirrored)
}

/// Creates `topic` on `cluster` with one partition and `configs` unless it exists: the
/// mirror's own topics (offset syncs, checkpoints, heartbeats).
pub fn ensure_topic(
    cluster: &Cluster,
    runtime: &tokio::runtime::Runtime,
    topic: &str,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    if cluster.topics()?.contains_key(topic) {
        return Ok(());
    }
    let mut new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1));
    for (key, value) in configs {
        new = new.set(key, value);
    }
    let results = runtime
        .block_on(cluster.admin.create_topics(&[new], &AdminOptions::new().operation_timeout(Some(TIMEOUT))))
        .with_context(|| format!("create {topic} on the {}", cluster.role))?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic, cluster = cluster.role, "created"),
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("could not create {name} on the {}: {code}", cluster.role),
        }
    }
    Ok(())
}
