//! Consumer group offsets carried over: every few seconds each source group's committed
//! offsets on mirrored topics are translated through the offset maps (or, for copies that keep
//! the source's offsets, taken as they are up to the copy's high watermark), written as MirrorMaker
//! 2 checkpoints to `<source>.checkpoints.internal` on the target, and committed into the
//! target's group of the same name while it has no active members, so that the group can
//! fail over to the target and resume where it was. A target group's offset only ever moves
//! forward, as MM2 does it: a group that already read further on the target keeps its place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use regex_lite::Regex;

use super::mm2_records::Checkpoint;
use super::offset_syncs::SharedOffsetMaps;
use super::stats::MirrorStats;
use super::topics::Mirrored;
use crate::commands::client::TIMEOUT;

/// Which source groups are carried over: MirrorMaker 2's `groups` and `groups.exclude`.
#[derive(Debug, Clone)]
pub struct GroupFilter {
    include: Regex,
    exclude: Regex,
}

impl GroupFilter {
    /// Groups whose whole name matches `include` and not `exclude` (comma-separated
    /// alternatives, as MM2 lists them). The mirror's own groups are never carried over.
    pub fn new(include: &str, exclude: &str) -> anyhow::Result<GroupFilter> {
        let alternatives =
            |list: &str| list.split(',').map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join("|");
        let include = Regex::new(&format!("^(?:{})$", alternatives(include)))
            .map_err(|e| anyhow!("--groups is not a regular expression: {e}"))?;
        let exclude = match alternatives(exclude) {
            none if none.is_empty() => "^runnel-mirror-.*$".to_string(),
            some => format!("^(?:{some}|runnel-mirror-.*)$"),
        };
        let exclude = Regex::new(&exclude).map_err(|e| anyhow!("--groups-exclude is not a regular expression: {e}"))?;
        Ok(GroupFilter { include, exclude })
    }

    /// Whether `group` is carried over.
    pub fn carries(&self, group: &str) -> bool {
        self.include.is_match(group) && !self.exclude.is_match(group)
    }
}

/// How a source offset becomes a target offset.
pub enum Translation {
    /// Through the offset syncs (copies written at the target's own offsets).
    Syncs(SharedOffsetMaps),
    /// As it is, capped at the copy's high watermark (copies that keep the source's offsets).
    Preserved,
}

/// Carries group offsets over, round after round, on a thread of its own.
pub struct GroupSync {
    source: ClientConfig,
    target: ClientConfig,
    filter: GroupFilter,
    translation: Translation,
    mirrored: Arc<Mutex<Vec<Mirrored>>>,
    stats: Arc<MirrorStats>,
    topic: String,
    producer: BaseProducer,
    source_lister: BaseConsumer,
    target_lister: BaseConsumer,
    /// Per group, a client on the source that reads its commits and one on the target that
    /// writes them.
    clients: HashMap<String, (BaseConsumer, BaseConsumer)>,
    /// The last checkpoint written per group, topic and partition.
    written: HashMap<(String, String, i32), (i64, i64)>,
}

impl GroupSync {
    /// Clients for both sides; checkpoints go to `topic` on the target.
    pub fn new(
        source: &ClientConfig,
        target: &ClientConfig,
        filter: GroupFilter,
        translation: Translation,
        mirrored: Arc<Mutex<Vec<Mirrored>>>,
        stats: Arc<MirrorStats>,
        topic: String,
    ) -> anyhow::Result<GroupSync> {
        let producer = target
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()
            .context("create the checkpoints producer")?;
        let lister = |config: &ClientConfig, side: &str| -> anyhow::Result<BaseConsumer> {
            config
                .clone()
                .set("group.id", "runnel-mirror-groups")
                .create()
                .with_context(|| format!("create a group reader for the {side}"))
        };
        Ok(GroupSync {
            source_lister: lister(source, "source")?,
            target_lister: lister(target, "target")?,
            source: source.clone(),
            target: target.clone(),
            filter,
            translation,
            mirrored,
            stats,
            topic,
            producer,
            clients: HashMap::new(),
            written: HashMap::new(),
        })
    }

    /// Runs a round every `every` until `stop` is set.
    pub fn run(mut self, every: Duration, stop: Arc<AtomicBool>) {
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() >= next {
                next = Instant::now() + every;
                if let Err(e) = self.round() {
                    tracing::warn!(error = format!("{e:#}"), "group offsets not carried over this round");
                }
            }
            self.producer.poll(Duration::from_millis(100));
        }
        let _ = self.producer.flush(Duration::from_secs(10));
    }

    /// One round: every carried group's commits translated, checkpointed and written.
    pub fn round(&mut self) -> anyhow::Result<()> {
        let mirrored = self.mirrored.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if mirrored.is_empty() {
            return Ok(());
        }
        let mut source_partitions = TopicPartitionList::new();
        let mut target_partitions = TopicPartitionList::new();
        let mut copy_of = HashMap::new();
        for m in &mirrored {
            copy_of.insert(m.source.as_str(), m.target.as_str());
            for partition in 0..m.partitions {
                source_partitions.add_partition(&m.source, partition);
                target_partitions.add_partition(&m.target, partition);
            }
        }
        let groups =
            self.source_lister.fetch_group_list(None, TIMEOUT).map_err(|e| anyhow!("list the source's groups: {e}"))?;
        let names: Vec<String> =
            groups.groups().iter().map(|g| g.name().to_string()).filter(|g| self.filter.carries(g)).collect();
        // Groups gone from the source no longer need their two clients.
        self.clients.retain(|group, _| names.contains(group));
        let high_watermarks = match self.translation {
            Translation::Syncs(_) => HashMap::new(),
            Translation::Preserved if names.is_empty() => HashMap::new(),
            Translation::Preserved => {
                let mut ends = HashMap::new();
                for m in &mirrored {
                    for partition in 0..m.partitions {
                        let (_, high) = self
                            .target_lister
                            .fetch_watermarks(&m.target, partition, TIMEOUT)
                            .map_err(|e| anyhow!("read the end of {}-{partition} on the target: {e}", m.target))?;
                        ends.insert((m.source.clone(), partition), high);
                    }
                }
                ends
            }
        };
        for group in names {
            if let Err(e) = self.carry(&group, &source_partitions, &target_partitions, &copy_of, &high_watermarks) {
                tracing::warn!(group, error = format!("{e:#}"), "group offsets not carried over");
            }
        }
        Ok(())
    }

    fn carry(
        &mut self,
        group: &str,
        source_partitions: &TopicPartitionList,
        target_partitions: &TopicPartitionList,
        copy_of: &HashMap<&str, &str>,
        high_watermarks: &HashMap<(String, i32), i64>,
    ) -> anyhow::Result<()> {
        if !self.clients.contains_key(group) {
            let client = |config: &ClientConfig, side: &str| -> anyhow::Result<BaseConsumer> {
                config
                    .clone()
                    .set("group.id", group)
                    .set("enable.auto.commit", "false")
                    .create()
                    .with_context(|| format!("create a client for group {group} on the {side}"))
            };
            let clients = (client(&self.source, "source")?, client(&self.target, "target")?);
            self.clients.insert(group.to_string(), clients);
        }
        let (reader, writer) = &self.clients[group];
        let committed = reader
            .committed_offsets(source_partitions.clone(), TIMEOUT)
            .map_err(|e| anyhow!("read the commits of {group} on the source: {e}"))?;
        // Target topic and partition to the translated offset and its metadata.
        let mut translated: HashMap<(String, i32), (i64, String)> = HashMap::new();
        {
            let maps = match &self.translation {
                Translation::Syncs(maps) => Some(maps.lock().unwrap_or_else(|p| p.into_inner())),
                Translation::Preserved => None,
            };
            for element in committed.elements() {
                let Some(upstream) = element.offset().to_raw().filter(|o| *o >= 0) else { continue };
                let key = (element.topic().to_string(), element.partition());
                let downstream = match &maps {
                    Some(maps) => maps.get(&key).and_then(|map| map.translate(upstream)),
                    None => high_watermarks.get(&key).map(|high| upstream.min(*high)),
                };
                let Some(downstream) = downstream else { continue };
                let Some(copy) = copy_of.get(element.topic()) else { continue };
                let checkpoint = Checkpoint {
                    group: group.to_string(),
                    topic: copy.to_string(),
                    partition: element.partition(),
                    upstream,
                    downstream,
                    metadata: element.metadata().to_string(),
                };
                let key = (group.to_string(), checkpoint.topic.clone(), checkpoint.partition);
                translated.insert(
                    (checkpoint.topic.clone(), checkpoint.partition),
                    (downstream, checkpoint.metadata.clone()),
                );
                if self.written.get(&key) == Some(&(upstream, downstream)) {
                    continue;
                }
                let (k, v) = (checkpoint.key(), checkpoint.value());
                if let Err((e, _)) = self.producer.send(BaseRecord::to(&self.topic).key(&k).payload(&v)) {
                    return Err(anyhow!("write a checkpoint of {group} to {} on the target: {e}", self.topic));
                }
                self.written.insert(key, (upstream, downstream));
                self.stats.checkpoint_written();
            }
        }
        if translated.is_empty() {
            return Ok(());
        }
        // Offsets of a group with active members on the target are theirs to commit.
        let target_groups = self
            .target_lister
            .fetch_group_list(Some(group), TIMEOUT)
            .map_err(|e| anyhow!("describe {group} on the target: {e}"))?;
        if target_groups.groups().iter().any(|g| g.name() == group && !g.members().is_empty()) {
            tracing::debug!(group, "active on the target; its offsets are left to its members");
            return Ok(());
        }
        let current = writer
            .committed_offsets(target_partitions.clone(), TIMEOUT)
            .map_err(|e| anyhow!("read the commits of {group} on the target: {e}"))?;
        let mut forward = TopicPartitionList::new();
        for ((topic, partition), (downstream, metadata)) in &translated {
            let now = current.find_partition(topic, *partition).and_then(|e| e.offset().to_raw()).filter(|o| *o >= 0);
            if now.is_none_or(|now| now < *downstream) {
                forward.add_partition_offset(topic, *partition, Offset::Offset(*downstream))?;
                if let Some(mut element) = forward.find_partition(topic, *partition) {
                    element.set_metadata(metadata.clone());
                }
            }
        }
        if forward.count() > 0 {
            writer
                .commit(&forward, CommitMode::Sync)
                .map_err(|e| anyhow!("commit {group}'s offsets on the target: {e}"))?;
            tracing::info!(group, partitions = forward.count(), "group offsets carried over to the target");
            self.stats.group_offsets_written(forward.count() as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_carried_as_mm2_filters_say_and_the_mirrors_own_never_are() {
        let defaults = GroupFilter::new(".*", "console-consumer-.*, connect-.*, __.*").unwrap();
        assert!(defaults.carries("billing"));
        assert!(!defaults.carries("console-consumer-42"));
        assert!(!defaults.carries("__internal"));
        assert!(!defaults.carries("runnel-mirror-us-eu"), "the mirror's own group stays home");
        let listed = GroupFilter::new("billing, audit", "").unwrap();
        assert!(listed.carries("audit") && !listed.carries("billing-2"), "whole names only");
        assert!(!listed.carries("runnel-mirror-groups"));
        assert!(GroupFilter::new("(", "").unwrap_err().to_string().contains("--groups"));
    }
}
