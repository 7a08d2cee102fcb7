//! The group coordinator: every group of this broker behind one lock, its durable log
//! (`__consumer_offsets`, replayed at startup), and the clock that times members.
//!
//! Every change that must survive a restart is appended to the log before it is visible:
//! an OffsetCommit is applied in memory only after its records are in the log, and answered
//! only after they are fsynced. Group metadata (generation, members, assignments) is appended
//! when a generation completes or the group empties, as Kafka does.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use runnel_log::{LogConfig, LogError, PartitionLog};

use super::OFFSETS_TOPIC;
use super::clock::Clock;
use super::compaction;
use super::consumer_group::{ConsumerGroup, Heartbeat, HeartbeatAnswer, HeartbeatError, TopicLookup};
use super::group::{Group, GroupState, Reply};
use super::member::{JoinParams, JoinResult, SyncResult};
use super::records::{CommittedOffset, Record, RecordKey, RecordValue};
use super::settings::GroupSettings;
use crate::internal_log;
use crate::partition::Partition;

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct OffsetToCommit {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The next offset to read.
    pub offset: i64,
    /// Leader epoch the client saw, or -1.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: Option<String>,
}

/// What an OffsetCommit got: an error code per partition (in request order) and, when
/// records were written, the log offset to fsync before answering.
#[derive(Debug, Clone)]
pub struct CommitOutcome {
    /// Error code per requested partition.
    pub errors: Vec<i16>,
    /// Wait for the group log to be durable up to here.
    pub flush_to: Option<i64>,
}

/// A group in ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// `consumer`, or empty for a group that only commits offsets.
    pub protocol_type: String,
    /// Its state's name (a classic or a consumer group state).
    pub state: &'static str,
    /// `classic` or `consumer` (KIP-848).
    pub group_type: &'static str,
}

/// A member in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// `client.id`.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Metadata for the chosen protocol (Stable groups only, as Kafka).
    pub metadata: Bytes,
    /// Assignment (Stable groups only).
    pub assignment: Bytes,
}

/// A group in DescribeGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Its state's name.
    pub state: &'static str,
    /// `classic` or `consumer` (KIP-848).
    pub group_type: &'static str,
    /// `consumer`, or empty.
    pub protocol_type: String,
    /// The chosen assignor, empty unless Stable or CompletingRebalance.
    pub protocol: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

/// The coordinator.
#[derive(Debug)]
pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Group>>,
    log: Arc<Partition>,
    clock: Arc<dyn Clock>,
    settings: GroupSettings,
}

/// Settings of the group log: never deleted by time or size; compacted, as Kafka's.
fn log_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        retention_ms: -1,
        retention_bytes: -1,
        max_message_bytes: 64 * 1024 * 1024,
        compact: true,
        ..LogConfig::default()
    }
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

impl GroupCoordinator {
    /// Opens (recovering if needed) the group log under `data_dir`, rebuilds every group from
    /// it, and compacts it when it is mostly superseded records.
    pub fn open(
        data_dir: &Path,
        clean_shutdown: bool,
        settings: GroupSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<GroupCoordinator, LogError> {
        let dir = data_dir.join(format!("{OFFSETS_TOPIC}-0"));
        compaction::finish_interrupted(&dir)
            .map_err(|e| LogError::io("finish an interrupted compaction of the group log", e))?;
        let now = clock.now_ms();
        let mut log = open_log(&dir, clean_shutdown, settings.segment_bytes)?;
        let (groups, replayed) = replay_counting(&log, i64::MAX, now)?;
        let live = compaction::live_records(&groups);
        // Offsets of open transactions are not live records yet: no compaction while any exist.
        let no_open_transactions = groups.values().all(|g| g.pending_txn_offsets.is_empty());
        if replayed > settings.compact_after_records && replayed > 2 * live.len() as u64 && no_open_transactions {
            log.close()?;
            drop(log);
            let target = compaction::compacting_dir(&dir);
            let compacted = open_log(&target, false, settings.segment_bytes)?;
            for chunk in live.chunks(1000) {
                append_to(&compacted, chunk, now)?;
            }
            compacted.close()?;
            drop(compacted);
            runnel_log::durable_file::sync_dir(&target)
                .and_then(|_| compaction::swap_in(&dir))
                .map_err(|e| LogError::io("swap in the compacted group log", e))?;
            log = open_log(&dir, false, settings.segment_bytes)?;
            tracing::info!(records_before = replayed, records_after = live.len(), "compacted the group log");
        }
        tracing::debug!(groups = groups.len(), records = replayed, "group coordinator loaded its log");
        Ok(GroupCoordinator { groups: Mutex::new(groups), log, clock, settings })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The coordinator's settings.
    pub fn settings(&self) -> &GroupSettings {
        &self.settings
    }

    /// The group log, for replay checks and shutdown.
    pub fn log(&self) -> &Partition {
        &self.log
    }

    /// The group log as a shared partition: transaction markers for offsets committed in a
    /// transaction are written into it.
    pub fn log_partition(&self) -> crate::partition::PartitionRef {
        self.log.clone()
    }

    /// TxnOffsetCommit: offsets committed inside producer `producer`'s open transaction (the
    /// caller checked that it added this group's offsets). They are written to the log as the
    /// producer's transactional batch and become committed offsets when its commit marker is
    /// written ([`GroupCoordinator::end_transaction`]). A request naming a member and generation
    /// is checked against the group as an OffsetCommit is (KIP-447).
    #[allow(clippy::too_many_arguments)]
    pub fn txn_commit(
        &self,
        group_id: &str,
        producer: (i64, i16),
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: &[OffsetToCommit],
        exists: impl Fn(&str, i32) -> bool,
    ) -> CommitOutcome {
        let all = |e: ResponseError| CommitOutcome { errors: vec![code(e); offsets.len()], flush_to: None };
        if group_id.is_empty() {
            return all(ResponseError::InvalidGroupId);
        }
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let group = groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now));
        if (generation >= 0 || !member_id.is_empty())
            && let Err(error) = group.validate_commit(member_id, instance_id, generation, now, true)
        {
            return CommitOutcome { errors: vec![error; offsets.len()], flush_to: None };
        }
        let (mut errors, records) = self.offset_records(group_id, offsets, &exists, now);
        if records.is_empty() {
            return CommitOutcome { errors, flush_to: None };
        }
        let encoded: Vec<(Bytes, Option<Bytes>)> = records.iter().map(Record::encode).collect();
        match internal_log::append_transactional(&self.log, &encoded, producer, now, "group") {
            Ok(next) => {
                let pending = group.pending_txn_offsets.entry(producer.0).or_default();
                for record in records {
                    if let (RecordKey::Offset { topic, partition, .. }, Some(RecordValue::Offset(o))) =
                        (record.key, record.value)
                    {
                        pending.insert((topic, partition), o);
                    }
                }
                CommitOutcome { errors, flush_to: Some(next) }
            }
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "could not write transactional offsets");
                for error in errors.iter_mut().filter(|e| **e == 0) {
                    *error = code(ResponseError::NotCoordinator);
                }
                CommitOutcome { errors, flush_to: None }
            }
        }
    }

    /// Ends producer `producer_id`'s transaction in every group: the offsets it committed
    /// become the groups' committed offsets (`committed`) or are dropped. Called once its
    /// marker is in the group log.
    pub fn end_transaction(&self, producer_id: i64, committed: bool) {
        for group in self.lock().values_mut() {
            group.end_transaction(producer_id, committed);
        }
    }

    /// Whether an open transaction holds an uncommitted offset of `(topic, partition)` for
    /// `group_id`: OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT then.
    pub fn has_pending_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.lock().get(group_id).is_some_and(|g| g.has_pending_offset(topic, partition))
    }

    /// Appends records to the group log as one batch; returns the offset after them.
    fn append(&self, records: &[Record]) -> Result<i64, LogError> {
        append_to(&self.log, records, self.clock.now_ms())
    }

    /// Writes a group's metadata if it changed. A failure is logged: the change stays in
    /// memory, and the next change writes the whole metadata again.
    fn persist_metadata(&self, group: &mut Group) {
        if let Some(stored) = group.take_metadata_change() {
            let record =
                Record { key: RecordKey::Group { group: group.id.clone() }, value: Some(RecordValue::Group(stored)) };
            if let Err(e) = self.append(&[record]) {
                tracing::error!(group = %group.id, error = %e, "could not write group metadata");
            }
        }
    }

    /// Appends what a consumer group queued for the log. A failure is logged: the change stays
    /// in memory (as with classic metadata).
    fn persist_consumer(&self, group: &mut Group) {
        let records = group.consumer.as_mut().map(ConsumerGroup::take_records).unwrap_or_default();
        if !records.is_empty()
            && let Err(e) = self.append(&records)
        {
            tracing::error!(group = %group.id, error = %e, "could not write consumer group records");
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848). An empty classic group becomes a consumer group,
    /// keeping its offsets; a classic group with members is not a consumer group.
    pub fn consumer_heartbeat(
        &self,
        group_id: &str,
        request: Heartbeat,
        topics: &dyn TopicLookup,
    ) -> Result<HeartbeatAnswer, HeartbeatError> {
        if group_id.is_empty() {
            return Err(HeartbeatError {
                code: code(ResponseError::InvalidRequest),
                message: "GroupId can't be empty.".into(),
            });
        }
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let group = groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, now));
        self.catch_up(group, now);
        if group.consumer.is_none() {
            if !group.is_empty() {
                return Err(HeartbeatError {
                    code: code(ResponseError::GroupIdNotFound),
                    message: format!("Group {group_id} is not a consumer group: it is a classic group with members."),
                });
            }
            if request.member_epoch != 0 {
                return Err(HeartbeatError {
                    code: code(ResponseError::UnknownMemberId),
                    message: format!("Member {} is not a member of group {group_id}.", request.member_id),
                });
            }
            if group.has_metadata() {
                tracing::info!(group = group_id, "upgraded an empty classic group to a consumer group");
            }
            group.consumer = Some(ConsumerGroup::new(group_id));
        }
        let consumer = group.consumer.as_mut().expect("set above");
        let member = (request.member_id.clone(), request.member_epoch);
        let answer = consumer.heartbeat(request, topics, now, &self.settings);
        // A refused first join leaves no consumer group behind (it would be kept 10 minutes).
        if answer.is_err() && consumer.epoch == 0 && consumer.members.is_empty() {
            group.consumer = None;
        }
        self.persist_consumer(group);
        if let Err(refused) = &answer {
            tracing::debug!(group = group_id, member = %member.0, epoch = member.1, code = refused.code, message = %refused.message, "consumer group heartbeat refused");
        }
        answer
    }

    /// A consumer group as it is now, for ConsumerGroupDescribe; `None` if the group does not
    /// exist or is a classic group.
    pub fn consumer_group(&self, group_id: &str) -> Option<ConsumerGroup> {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let group = groups.get_mut(group_id)?;
        self.catch_up(group, now);
        group.consumer.clone()
    }

    /// OffsetFetch v9 from a consumer group member (KIP-848): it must be a member, at its
    /// epoch (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH). Requests naming no member (admin tools)
    /// and groups of the classic protocol are not checked, as in Kafka.
    pub fn validate_fetch(&self, group_id: &str, member_id: Option<&str>, member_epoch: i32) -> Result<(), i16> {
        if member_id.is_none() && member_epoch < 0 {
            return Ok(());
        }
        let groups = self.lock();
        let Some(consumer) = groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
            return Ok(());
        };
        match consumer.members.get(member_id.unwrap_or_default()) {
            None => Err(code(ResponseError::UnknownMemberId)),
            Some(member) if member.epoch != member_epoch => Err(code(ResponseError::StaleMemberEpoch)),
            Some(_) => Ok(()),
        }
    }

    /// Whether a group exists (of either kind).
    pub fn exists(&self, group_id: &str) -> bool {
        self.lock().contains_key(group_id)
    }

    /// Writes the tombstones of a group with nothing left, and forgets it once they are written.
    fn forget(&self, groups: &mut HashMap<String, Group>, group_id: &str) {
        let Some(group) = groups.get(group_id) else { return };
        let mut records = group.consumer.as_ref().map(ConsumerGroup::tombstones).unwrap_or_default();
        records.push(Record { key: RecordKey::Group { group: group_id.to_string() }, value: None });
        if self.append(&records).is_ok() {
            groups.remove(group_id);
        }
    }

    /// Applies what is due by now (session timeouts, rebalance deadlines) to one group before a
    /// request looks at its state. The timer runs every 100 ms; this makes an answer as exact
    /// as Kafka's per-member timers: a group whose last member's session ended a millisecond
    /// ago is Empty, and can be deleted.
    fn catch_up(&self, group: &mut Group, now_ms: i64) {
        group.tick(now_ms, &self.settings);
        if let Some(consumer) = group.consumer.as_mut() {
            consumer.tick(now_ms, &self.settings);
        }
        self.persist_metadata(group);
        self.persist_consumer(group);
    }

    /// Runs `f` over every group, for inspection (tests, metrics) without changing anything.
    pub fn inspect<R>(&self, f: impl FnOnce(&HashMap<String, Group>) -> R) -> R {
        f(&self.lock())
    }

    /// JoinGroup.
    pub fn join(&self, group_id: &str, params: JoinParams) -> Reply<JoinResult> {
        if group_id.is_empty() {
            return Reply::Now(JoinResult::error(code(ResponseError::InvalidGroupId), &params.member_id));
        }
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        if !groups.contains_key(group_id) {
            if !params.member_id.is_empty() {
                return Reply::Now(JoinResult::error(code(ResponseError::UnknownMemberId), &params.member_id));
            }
            groups.insert(group_id.to_string(), Group::new(group_id, now));
        }
        let group = groups.get_mut(group_id).expect("inserted above");
        if let Some(consumer) = &group.consumer {
            if !consumer.members.is_empty() {
                // Kafka's answer to a classic member joining a consumer group it cannot join.
                return Reply::Now(JoinResult::error(
                    code(ResponseError::InconsistentGroupProtocol),
                    &params.member_id,
                ));
            }
            // An empty consumer group goes back to the classic protocol, keeping its offsets.
            if let Err(e) = self.append(&consumer.tombstones()) {
                tracing::error!(group = group_id, error = %e, "could not write the end of a consumer group");
                return Reply::Now(JoinResult::error(code(ResponseError::CoordinatorNotAvailable), &params.member_id));
            }
            group.consumer = None;
        }
        let reply = group.join(params, now, &self.settings);
        self.persist_metadata(group);
        reply
    }

    /// SyncGroup.
    pub fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Reply::Now(SyncResult::error(code(ResponseError::UnknownMemberId)));
        };
        let reply = group.sync(member_id, instance_id, generation, protocol, assignments, now);
        self.persist_metadata(group);
        reply
    }

    /// Heartbeat.
    pub fn heartbeat(&self, group_id: &str, member_id: &str, instance_id: Option<&str>, generation: i32) -> i16 {
        let now = self.clock.now_ms();
        match self.lock().get_mut(group_id) {
            Some(group) => group.heartbeat(member_id, instance_id, generation, now),
            None => code(ResponseError::UnknownMemberId),
        }
    }

    /// LeaveGroup for each (member id, instance id); an error code for each.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> Vec<i16> {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return vec![code(ResponseError::UnknownMemberId); members.len()];
        };
        let errors = members
            .iter()
            .map(|(member_id, instance_id)| group.leave(member_id, instance_id.as_deref(), now, &self.settings))
            .collect();
        self.persist_metadata(group);
        errors
    }

    /// OffsetCommit: validates against the group, then writes the offsets to the log.
    /// `exists` says whether a topic partition exists.
    pub fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: &[OffsetToCommit],
        exists: impl Fn(&str, i32) -> bool,
    ) -> CommitOutcome {
        let all = |e: ResponseError| CommitOutcome { errors: vec![code(e); offsets.len()], flush_to: None };
        if group_id.is_empty() {
            return all(ResponseError::InvalidGroupId);
        }
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        if !groups.contains_key(group_id) {
            if generation >= 0 {
                return all(ResponseError::IllegalGeneration);
            }
            groups.insert(group_id.to_string(), Group::new(group_id, now));
        }
        let group = groups.get_mut(group_id).expect("inserted above");
        if let Err(error) = group.validate_commit(member_id, instance_id, generation, now, false) {
            return CommitOutcome { errors: vec![error; offsets.len()], flush_to: None };
        }
        let (mut errors, records) = self.offset_records(group_id, offsets, &exists, now);
        if records.is_empty() {
            if group.is_removable() {
                groups.remove(group_id);
            }
            return CommitOutcome { errors, flush_to: None };
        }
        match self.append(&records) {
            Ok(next) => {
                for record in records {
                    apply_to_group(group, record);
                }
                CommitOutcome { errors, flush_to: Some(next) }
            }
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "could not write committed offsets");
                for error in errors.iter_mut().filter(|e| **e == 0) {
                    // Kafka answers a failed write to its offsets log with NOT_COORDINATOR:
                    // the client looks the coordinator up again and retries.
                    *error = code(ResponseError::NotCoordinator);
                }
                if group.is_removable() {
                    groups.remove(group_id);
                }
                CommitOutcome { errors, flush_to: None }
            }
        }
    }

    /// The log records of an OffsetCommit or TxnOffsetCommit, and an error code per offset
    /// (UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE, or 0 for those with a record).
    fn offset_records(
        &self,
        group_id: &str,
        offsets: &[OffsetToCommit],
        exists: &impl Fn(&str, i32) -> bool,
        now: i64,
    ) -> (Vec<i16>, Vec<Record>) {
        let mut errors = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        for o in offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if !exists(&o.topic, o.partition) {
                errors.push(code(ResponseError::UnknownTopicOrPartition));
            } else if metadata.len() > self.settings.max_metadata_bytes {
                errors.push(code(ResponseError::OffsetMetadataTooLarge));
            } else {
                errors.push(0);
                records.push(Record {
                    key: RecordKey::Offset {
                        group: group_id.to_string(),
                        topic: o.topic.clone(),
                        partition: o.partition,
                    },
                    value: Some(RecordValue::Offset(CommittedOffset {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch,
                        metadata,
                        commit_timestamp: now,
                    })),
                });
            }
        }
        (errors, records)
    }

    /// Waits until the group log is durable up to `offset`.
    pub async fn flush(&self, offset: i64, metrics: &crate::metrics::BrokerMetrics) -> Result<(), LogError> {
        self.log.flush_to(offset, metrics).await
    }

    /// OffsetFetch: committed offsets of `group_id`, for `topics` or (None) every committed
    /// partition. A partition without a commit gets `None`.
    pub fn committed(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Vec<(String, i32, Option<CommittedOffset>)> {
        let groups = self.lock();
        let group = groups.get(group_id);
        match topics {
            Some(topics) => topics
                .iter()
                .flat_map(|(topic, partitions)| {
                    partitions.iter().map(move |p| {
                        let committed = group.and_then(|g| g.offsets.get(&(topic.clone(), *p)).cloned());
                        (topic.clone(), *p, committed)
                    })
                })
                .collect(),
            None => group
                .map(|g| g.offsets.iter().map(|((t, p), o)| (t.clone(), *p, Some(o.clone()))).collect())
                .unwrap_or_default(),
        }
    }

    /// ListGroups.
    pub fn list(&self) -> Vec<GroupListing> {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        for group in groups.values_mut() {
            self.catch_up(group, now);
        }
        let mut listings: Vec<GroupListing> = groups
            .values()
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type().unwrap_or_default().to_string(),
                state: g.state_name(),
                group_type: g.group_type(),
            })
            .collect();
        listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listings
    }

    /// DescribeGroups; `None` for an unknown group.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let group = groups.get_mut(group_id)?;
        self.catch_up(group, now);
        if let Some(consumer) = &group.consumer {
            return Some(describe_consumer_group(consumer));
        }
        let stable = group.state() == GroupState::Stable;
        let protocol = group.protocol().unwrap_or_default().to_string();
        Some(GroupDescription {
            state: group.state_name(),
            group_type: group.group_type(),
            protocol_type: group.protocol_type().unwrap_or_default().to_string(),
            protocol: if matches!(group.state(), GroupState::Stable | GroupState::CompletingRebalance) {
                protocol.clone()
            } else {
                String::new()
            },
            members: group
                .members()
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata_for(&protocol) } else { Bytes::new() },
                    assignment: if stable { m.assignment.clone() } else { Bytes::new() },
                })
                .collect(),
        })
    }

    /// DeleteGroups for one group: only an empty group can be deleted; its offsets go with it.
    pub fn delete(&self, group_id: &str) -> (i16, Option<i64>) {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return (code(ResponseError::GroupIdNotFound), None);
        };
        self.catch_up(group, now);
        if !group.is_empty() {
            return (code(ResponseError::NonEmptyGroup), None);
        }
        let mut records: Vec<Record> = group
            .offsets
            .keys()
            .map(|(topic, partition)| Record {
                key: RecordKey::Offset { group: group_id.to_string(), topic: topic.clone(), partition: *partition },
                value: None,
            })
            .collect();
        records.extend(group.consumer.as_ref().map(ConsumerGroup::tombstones).unwrap_or_default());
        records.push(Record { key: RecordKey::Group { group: group_id.to_string() }, value: None });
        match self.append(&records) {
            Ok(next) => {
                groups.remove(group_id);
                tracing::info!(group = group_id, "deleted group");
                (0, Some(next))
            }
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "could not delete group");
                (code(ResponseError::NotCoordinator), None)
            }
        }
    }

    /// OffsetDelete: a top-level error, or an error per partition and the offset to fsync.
    /// Offsets of topics a live consumer group subscribes to are refused.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
        exists: impl Fn(&str, i32) -> bool,
    ) -> Result<(Vec<i16>, Option<i64>), i16> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Err(code(ResponseError::GroupIdNotFound));
        };
        let empty = group.is_empty();
        if !empty && group.protocol_type() != Some("consumer") {
            return Err(code(ResponseError::NonEmptyGroup));
        }
        let subscribed = if empty { Vec::new() } else { group.subscribed_topics() };
        let mut errors = Vec::with_capacity(partitions.len());
        let mut records = Vec::new();
        for (topic, partition) in partitions {
            if !exists(topic, *partition) {
                errors.push(code(ResponseError::UnknownTopicOrPartition));
            } else if subscribed.contains(topic) {
                errors.push(code(ResponseError::GroupSubscribedToTopic));
            } else {
                errors.push(0);
                if group.offsets.contains_key(&(topic.clone(), *partition)) {
                    records.push(Record {
                        key: RecordKey::Offset {
                            group: group_id.to_string(),
                            topic: topic.clone(),
                            partition: *partition,
                        },
                        value: None,
                    });
                }
            }
        }
        if records.is_empty() {
            return Ok((errors, None));
        }
        let next = self.append(&records).map_err(|e| {
            tracing::error!(group = group_id, error = %e, "could not delete offsets");
            code(ResponseError::NotCoordinator)
        })?;
        for record in records {
            apply_to_group(group, record);
        }
        Ok((errors, Some(next)))
    }

    /// Times members out, completes rebalances whose deadline passed, expires offsets under
    /// `offsets.retention.minutes`, and forgets groups with nothing left. The broker calls it
    /// periodically; tests call it after moving a manual clock.
    pub fn tick(&self) {
        let now = self.clock.now_ms();
        let mut groups = self.lock();
        let mut forget = Vec::new();
        for group in groups.values_mut() {
            self.catch_up(group, now);
            let expired = group.expired_offsets(now, self.settings.offsets_retention_ms);
            if !expired.is_empty() {
                let records: Vec<Record> = expired
                    .into_iter()
                    .map(|(topic, partition)| Record {
                        key: RecordKey::Offset { group: group.id.clone(), topic, partition },
                        value: None,
                    })
                    .collect();
                match self.append(&records) {
                    Ok(_) => {
                        tracing::info!(group = %group.id, partitions = records.len(), "expired committed offsets (offsets.retention.minutes)");
                        for record in records {
                            apply_to_group(group, record);
                        }
                    }
                    Err(e) => tracing::error!(group = %group.id, error = %e, "could not expire offsets"),
                }
            }
            if group.is_removable_at(now) {
                forget.push(group.id.clone());
            }
        }
        for id in forget {
            self.forget(&mut groups, &id);
        }
    }
}

/// A consumer group as DescribeGroups shows it: its members with their assignments in the
/// classic consumer protocol's encoding, so tools that only speak DescribeGroups see them.
fn describe_consumer_group(consumer: &ConsumerGroup) -> GroupDescription {
    GroupDescription {
        state: consumer.state_name(),
        group_type: "consumer",
        protocol_type: "consumer".to_string(),
        protocol: consumer.assignor().to_string(),
        members: consumer
            .members
            .values()
            .map(|m| {
                let partitions: Vec<(String, Vec<i32>)> = m
                    .assigned
                    .iter()
                    .filter_map(|(id, ps)| Some((consumer.topic_name(*id)?.to_string(), ps.iter().copied().collect())))
                    .collect();
                MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.info.instance_id.clone(),
                    client_id: m.info.client_id.clone(),
                    client_host: m.info.client_host.clone(),
                    metadata: Bytes::new(),
                    assignment: super::consumer_protocol::encode_assignment(&partitions),
                }
            })
            .collect(),
    }
}

fn open_log(dir: &Path, clean_shutdown: bool, segment_bytes: u64) -> Result<Arc<Partition>, LogError> {
    let (log, _) = PartitionLog::open(dir, log_config(segment_bytes), clean_shutdown)?;
    Ok(Arc::new(Partition::new(OFFSETS_TOPIC, 0, log)))
}

/// Appends records to a group log as one batch; returns the offset after them.
fn append_to(log: &Partition, records: &[Record], now: i64) -> Result<i64, LogError> {
    let encoded: Vec<(Bytes, Option<Bytes>)> = records.iter().map(Record::encode).collect();
    internal_log::append(log, &encoded, now, "group")
}

/// Applies one offset record to a group's offsets.
fn apply_to_group(group: &mut Group, record: Record) {
    if let RecordKey::Offset { topic, partition, .. } = record.key {
        match record.value {
            Some(RecordValue::Offset(o)) => {
                group.offsets.insert((topic, partition), o);
            }
            _ => {
                group.offsets.remove(&(topic, partition));
            }
        }
    }
}

/// Rebuilds the groups from the group log, reading records below `until`.
pub fn replay(log: &Partition, until: i64, now_ms: i64) -> Result<HashMap<String, Group>, LogError> {
    Ok(replay_counting(log, until, now_ms)?.0)
}

/// [`replay`], also counting the records read.
fn replay_counting(log: &Partition, until: i64, now_ms: i64) -> Result<(HashMap<String, Group>, u64), LogError> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    let count = internal_log::read(log, until, "group", |stored| {
        if stored.control {
            // A transaction's marker: its offsets become committed, or are dropped.
            let committed = internal_log::marker_commits(stored.key);
            for group in groups.values_mut() {
                group.end_transaction(stored.producer_id, committed);
            }
            return;
        }
        match Record::decode(stored.key, stored.value) {
            Ok(r) if stored.transactional => hold_for_transaction(&mut groups, r, stored.producer_id, now_ms),
            Ok(r) => apply(&mut groups, r, now_ms),
            Err(e) => tracing::warn!(offset = stored.offset, error = %e, "skipping a group log record"),
        }
    })?;
    groups.retain(|_, g| !g.is_removable());
    Ok((groups, count))
}

/// Keeps an offset of an open transaction until the producer's marker.
fn hold_for_transaction(groups: &mut HashMap<String, Group>, record: Record, producer_id: i64, now_ms: i64) {
    if let (RecordKey::Offset { group, topic, partition }, Some(RecordValue::Offset(o))) = (record.key, record.value) {
        let group = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, now_ms));
        group.pending_txn_offsets.entry(producer_id).or_default().insert((topic, partition), o);
    }
}

fn apply(groups: &mut HashMap<String, Group>, record: Record, now_ms: i64) {
    match &record.key {
        RecordKey::ConsumerGroup { group: id } if record.value.is_none() => {
            if let Some(group) = groups.get_mut(id) {
                group.consumer = None;
            }
        }
        RecordKey::ConsumerGroup { group: id }
        | RecordKey::ConsumerMember { group: id, .. }
        | RecordKey::TargetEpoch { group: id }
        | RecordKey::TargetMember { group: id, .. }
        | RecordKey::CurrentAssignment { group: id, .. } => {
            let group = groups.entry(id.clone()).or_insert_with(|| Group::new(id, now_ms));
            group.consumer.get_or_insert_with(|| ConsumerGroup::new(id)).replay(record, now_ms);
        }
        RecordKey::Offset { group, .. } => {
            let group = groups.entry(group.clone()).or_insert_with(|| Group::new(group, now_ms));
            apply_to_group(group, record);
        }
        RecordKey::Group { group: id } => match &record.value {
            Some(RecordValue::Group(stored)) => {
                let offsets = groups.remove(id).map(|g| g.offsets).unwrap_or_default();
                let mut group = Group::restore(id, stored, now_ms);
                group.offsets = offsets;
                groups.insert(id.clone(), group);
            }
            _ => {
                groups.remove(id);
            }
        },
    }
}
