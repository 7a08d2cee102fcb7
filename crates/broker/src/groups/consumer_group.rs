//! One consumer group of the next-generation protocol (KIP-848, `group.protocol=consumer`):
//! members heartbeat with their subscription, the broker computes the target assignment with
//! a server-side assignor, and each member reconciles towards it on its own heartbeats:
//! partitions it must give up are revoked first (its epoch stays), and partitions another
//! member still owns are held back until they are released. No member ever waits for the
//! others, so there is no stop-the-world rebalance.
//!
//! Pure logic, as [`super::group::Group`]: time comes in as `now_ms`, topics through
//! [`TopicLookup`], and every change that must survive a restart is queued as a group log
//! record ([`ConsumerGroup::take_records`]) for the coordinator to append.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::assignor::{self, ASSIGNORS, Assignment, AssignorMember};
use super::consumer_records::{StoredAssignment, StoredConsumerMember};
use super::records::{Record, RecordKey, RecordValue};
use super::settings::GroupSettings;

/// What a consumer group needs to know about topics.
pub trait TopicLookup {
    /// The id and partition count of a topic, if it exists.
    fn topic(&self, name: &str) -> Option<(Uuid, i32)>;
    /// Every topic a regular expression may match (not the broker's internal ones).
    fn names(&self) -> Vec<String>;
}

/// Kafka's MemberState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// At the target epoch with everything it should own.
    Stable = 1,
    /// Must revoke partitions before it moves on.
    UnrevokedPartitions = 2,
    /// At the target epoch, waiting for partitions others still own.
    UnreleasedPartitions = 3,
}

impl MemberState {
    fn from_code(code: i8) -> MemberState {
        match code {
            2 => MemberState::UnrevokedPartitions,
            3 => MemberState::UnreleasedPartitions,
            _ => MemberState::Stable,
        }
    }
}

/// One member.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    /// Member id (the client's own from ConsumerGroupHeartbeat v1, the broker's before).
    pub id: String,
    /// Subscription and client details, as stored.
    pub info: StoredConsumerMember,
    /// Its epoch.
    pub epoch: i32,
    /// The epoch before it: a heartbeat whose answer was lost may still name it.
    pub previous_epoch: i32,
    /// Where it is in reconciliation.
    pub state: MemberState,
    /// Partitions it owns.
    pub assigned: Assignment,
    /// Partitions it must revoke.
    pub pending_revocation: Assignment,
    last_heartbeat_ms: i64,
    /// When an unrevoked member is removed if it has not revoked by then.
    revoke_by_ms: Option<i64>,
    /// A static member that left with epoch -2: kept, with its partitions, for its instance
    /// to come back within the session timeout.
    left_temporarily: bool,
}

impl ConsumerMember {
    fn new(id: &str, now_ms: i64) -> ConsumerMember {
        ConsumerMember {
            id: id.to_string(),
            info: StoredConsumerMember { rebalance_timeout_ms: -1, ..StoredConsumerMember::default() },
            epoch: 0,
            previous_epoch: -1,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            last_heartbeat_ms: now_ms,
            revoke_by_ms: None,
            left_temporarily: false,
        }
    }

    fn stored_assignment(&self) -> StoredAssignment {
        StoredAssignment {
            epoch: self.epoch,
            previous_epoch: self.previous_epoch,
            state: self.state as i8,
            assigned: self.assigned.clone(),
            pending_revocation: self.pending_revocation.clone(),
        }
    }

    /// The topics it subscribes to that exist now.
    fn subscribed(
        &self,
        topics: &dyn TopicLookup,
        names: &mut Option<Vec<String>>,
        resolved: &BTreeMap<String, regex_lite::Regex>,
    ) -> BTreeMap<String, (Uuid, i32)> {
        let mut subscribed = BTreeMap::new();
        for name in &self.info.topic_names {
            if let Some(meta) = topics.topic(name) {
                subscribed.insert(name.clone(), meta);
            }
        }
        if let Some(regex) = self.info.topic_regex.as_deref().and_then(|r| resolved.get(r)) {
            for name in names.get_or_insert_with(|| topics.names()).iter().filter(|n| regex.is_match(n)) {
                if let Some(meta) = topics.topic(name) {
                    subscribed.insert(name.clone(), meta);
                }
            }
        }
        subscribed
    }
}

/// A subscription's regular expression, matched against whole topic names as Kafka does.
pub fn compile(regex: &str) -> Result<regex_lite::Regex, regex_lite::Error> {
    regex_lite::Regex::new(&format!("^(?:{regex})$"))
}

/// A ConsumerGroupHeartbeat as the group sees it.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat {
    /// Member id; empty on a v0 join (the broker names the member).
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member leaving for a while, else its epoch.
    pub member_epoch: i32,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// `client.rack`.
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    /// None: unchanged.
    pub topic_names: Option<Vec<String>>,
    /// None: unchanged.
    pub topic_regex: Option<String>,
    /// None: unchanged.
    pub server_assignor: Option<String>,
    /// The partitions the member owns; None: unchanged since its last heartbeat.
    pub owned: Option<Assignment>,
    /// `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    /// The member's id.
    pub member_id: String,
    /// Its epoch now.
    pub member_epoch: i32,
    /// When to heartbeat next.
    pub heartbeat_interval_ms: i32,
    /// The partitions it owns now, when it needs to hear them.
    pub assignment: Option<Assignment>,
}

/// A refused heartbeat: Kafka's code and a message for the client's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatError {
    /// Kafka error code.
    pub code: i16,
    /// What went wrong.
    pub message: String,
}

fn refuse(error: ResponseError, message: impl Into<String>) -> HeartbeatError {
    HeartbeatError { code: error.code(), message: message.into() }
}

/// One KIP-848 consumer group's membership and assignments.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    id: String,
    /// Bumped whenever membership, subscriptions or subscribed topics change.
    pub epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, ConsumerMember>,
    /// Each member's target assignment.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics' ids and partition counts at the last epoch.
    subscribed: BTreeMap<String, (Uuid, i32)>,
    /// Records not yet in the group log.
    records: Vec<Record>,
    /// Regular expressions resolved against the topics. A new one takes effect from the
    /// heartbeat after the one that brought it, as Kafka resolves them asynchronously: topics
    /// named literally are assigned first. Compiled once, when first resolved.
    resolved_regexes: BTreeMap<String, regex_lite::Regex>,
    /// Since when the group has had no members.
    empty_since_ms: i64,
}

impl ConsumerGroup {
    /// A new consumer group (or a classic one just upgraded), epoch 0.
    pub fn new(id: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            subscribed: BTreeMap::new(),
            records: Vec::new(),
            resolved_regexes: BTreeMap::new(),
            empty_since_ms: 0,
        }
    }

    /// Whether the group has had no members for `kept_ms` (it is then forgotten, if it has no
    /// offsets either). Until then its epoch goes on, so a member that rejoins never sees its
    /// epoch go back.
    pub fn empty_for(&self, now_ms: i64, kept_ms: i64) -> bool {
        self.members.is_empty() && now_ms - self.empty_since_ms >= kept_ms
    }

    /// Kafka's state names: Empty, Assigning (the target is behind the group epoch),
    /// Reconciling (members are moving to the target), Stable.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.epoch {
            "Assigning"
        } else if self.members.values().any(|m| m.epoch != self.assignment_epoch || m.state != MemberState::Stable) {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The assignor the members prefer most (the first configured one by default).
    pub fn assignor(&self) -> &'static str {
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for member in self.members.values() {
            if let Some(name) = member.info.server_assignor.as_deref() {
                *votes.entry(name).or_default() += 1;
            }
        }
        ASSIGNORS
            .iter()
            .copied()
            .max_by_key(|name| {
                (votes.get(name).copied().unwrap_or(0), std::cmp::Reverse(ASSIGNORS.iter().position(|a| a == name)))
            })
            .unwrap_or(ASSIGNORS[0])
    }

    /// Topics the members subscribe to: by name, and those their regular expressions matched.
    pub fn subscribed_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.subscribed.keys().cloned().collect();
        names.extend(self.members.values().flat_map(|m| m.info.topic_names.iter().cloned()));
        names.into_iter().collect()
    }

    /// The name of a subscribed topic, by id.
    pub fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.subscribed.iter().find(|(_, (topic, _))| *topic == id).map(|(name, _)| name.as_str())
    }

    /// The records to append to the group log since last asked.
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    /// Every record that rebuilds this group (for the group log's compaction).
    pub fn live_records(&self) -> Vec<Record> {
        let group = self.id.clone();
        let mut records = vec![Record {
            key: RecordKey::ConsumerGroup { group: group.clone() },
            value: Some(RecordValue::Epoch(self.epoch)),
        }];
        for member in self.members.values() {
            records.push(self.member_record(member));
            records.push(self.current_record(member));
        }
        for (member, assignment) in &self.target {
            records.push(Record {
                key: RecordKey::TargetMember { group: group.clone(), member: member.clone() },
                value: Some(RecordValue::Target(assignment.clone())),
            });
        }
        records.push(Record {
            key: RecordKey::TargetEpoch { group },
            value: Some(RecordValue::Epoch(self.assignment_epoch)),
        });
        records
    }

    /// The tombstones that end this group in the log (its members' first).
    pub fn tombstones(&self) -> Vec<Record> {
        let group = self.id.clone();
        let mut records = Vec::new();
        for member in self.members.keys() {
            records.extend(member_tombstones(&group, member));
        }
        records.push(Record { key: RecordKey::TargetEpoch { group: group.clone() }, value: None });
        records.push(Record { key: RecordKey::ConsumerGroup { group }, value: None });
        records
    }

    /// Applies one record read back from the group log.
    pub fn replay(&mut self, record: Record, now_ms: i64) {
        match (record.key, record.value) {
            (RecordKey::ConsumerGroup { .. }, Some(RecordValue::Epoch(epoch))) => self.epoch = epoch,
            (RecordKey::TargetEpoch { .. }, Some(RecordValue::Epoch(epoch))) => self.assignment_epoch = epoch,
            (RecordKey::TargetEpoch { .. }, None) => self.assignment_epoch = 0,
            (RecordKey::ConsumerMember { member, .. }, Some(RecordValue::ConsumerMember(info))) => {
                if let Some(regex) = &info.topic_regex
                    && let Ok(compiled) = compile(regex)
                {
                    self.resolved_regexes.insert(regex.clone(), compiled);
                }
                self.members.entry(member.clone()).or_insert_with(|| ConsumerMember::new(&member, now_ms)).info = info;
            }
            (RecordKey::ConsumerMember { member, .. }, None) => {
                self.members.remove(&member);
                self.empty_since_ms = now_ms;
            }
            (RecordKey::TargetMember { member, .. }, Some(RecordValue::Target(assignment))) => {
                self.target.insert(member, assignment);
            }
            (RecordKey::TargetMember { member, .. }, None) => {
                self.target.remove(&member);
            }
            (RecordKey::CurrentAssignment { member, .. }, Some(RecordValue::Current(stored))) => {
                let m = self.members.entry(member.clone()).or_insert_with(|| ConsumerMember::new(&member, now_ms));
                m.epoch = stored.epoch;
                m.previous_epoch = stored.previous_epoch;
                m.state = MemberState::from_code(stored.state);
                m.assigned = stored.assigned;
                m.pending_revocation = stored.pending_revocation;
                if m.state == MemberState::UnrevokedPartitions {
                    m.revoke_by_ms = Some(now_ms + i64::from(m.info.rebalance_timeout_ms.max(0)));
                }
            }
            _ => {}
        }
    }

    fn member_record(&self, member: &ConsumerMember) -> Record {
        Record {
            key: RecordKey::ConsumerMember { group: self.id.clone(), member: member.id.clone() },
            value: Some(RecordValue::ConsumerMember(member.info.clone())),
        }
    }

    fn current_record(&self, member: &ConsumerMember) -> Record {
        Record {
            key: RecordKey::CurrentAssignment { group: self.id.clone(), member: member.id.clone() },
            value: Some(RecordValue::Current(member.stored_assignment())),
        }
    }

    fn bump_epoch(&mut self) {
        self.epoch += 1;
        self.records.push(Record {
            key: RecordKey::ConsumerGroup { group: self.id.clone() },
            value: Some(RecordValue::Epoch(self.epoch)),
        });
    }

    /// ConsumerGroupHeartbeat: joins, leaves, or keeps a member and moves it towards its target.
    pub fn heartbeat(
        &mut self,
        request: Heartbeat,
        topics: &dyn TopicLookup,
        now_ms: i64,
        settings: &GroupSettings,
    ) -> Result<HeartbeatAnswer, HeartbeatError> {
        if request.member_epoch < 0 {
            return self.leave(&request, now_ms);
        }
        if let Some(assignor) = request.server_assignor.as_deref()
            && !ASSIGNORS.contains(&assignor)
        {
            return Err(refuse(
                ResponseError::UnsupportedAssignor,
                format!("Assignor {assignor} is not supported. Supported assignors: {}.", ASSIGNORS.join(", ")),
            ));
        }
        if let Some(regex) = request.topic_regex.as_deref()
            && let Err(e) = compile(regex)
        {
            return Err(refuse(
                ResponseError::InvalidRegularExpression,
                format!("SubscribedTopicRegex {regex} is not a valid regular expression: {e}"),
            ));
        }
        let joining = request.member_epoch == 0;
        let epoch_before = self.epoch;
        let member_id = if joining { self.join(&request, now_ms)? } else { self.check_epoch(&request)? };
        let mut names = None;
        let member = self.members.get_mut(&member_id).expect("joined or checked above");
        member.last_heartbeat_ms = now_ms;
        let before = member.info.clone();
        let info = &mut member.info;
        info.client_id = request.client_id.clone();
        info.client_host = request.client_host.clone();
        if request.instance_id.is_some() {
            info.instance_id = request.instance_id.clone();
        }
        if request.rack_id.is_some() {
            info.rack_id = request.rack_id.clone();
        }
        if request.rebalance_timeout_ms >= 0 {
            info.rebalance_timeout_ms = request.rebalance_timeout_ms;
        }
        if let Some(topic_names) = &request.topic_names {
            let mut sorted = topic_names.clone();
            sorted.sort();
            sorted.dedup();
            info.topic_names = sorted;
        }
        if let Some(regex) = &request.topic_regex {
            info.topic_regex = (!regex.is_empty()).then(|| regex.clone());
        }
        if request.server_assignor.is_some() {
            info.server_assignor = request.server_assignor.clone();
        }
        let subscription_changed = info.topic_names != before.topic_names
            || info.topic_regex != before.topic_regex
            || info.server_assignor != before.server_assignor;
        if member.info != before || joining {
            let record = self.member_record(&self.members[&member_id]);
            self.records.push(record);
        }
        let subscribed = self.subscribed_topics(topics, &mut names);
        if subscription_changed || subscribed != self.subscribed {
            self.subscribed = subscribed;
            // One step per heartbeat: a member's arrival may have moved the epoch already.
            if self.epoch == epoch_before {
                self.bump_epoch();
            }
        }
        if self.assignment_epoch < self.epoch {
            self.compute_target();
        }
        // Regular expressions first seen now are resolved for the next heartbeat; those no
        // member uses any more are forgotten.
        self.refresh_regexes();
        let assigned_before = self.members[&member_id].assigned.clone();
        self.reconcile(&member_id, request.owned.as_ref(), now_ms);
        let member = &self.members[&member_id];
        let changed = member.assigned != assigned_before;
        let full = request.rebalance_timeout_ms >= 0
            && (request.topic_names.is_some() || request.topic_regex.is_some())
            && request.owned.is_some();
        Ok(HeartbeatAnswer {
            member_id: member_id.clone(),
            member_epoch: member.epoch,
            heartbeat_interval_ms: settings.consumer_heartbeat_interval_ms,
            assignment: (joining || full || changed).then(|| member.assigned.clone()),
        })
    }

    /// A member joining (epoch 0): new, a static member's new incarnation, or a member coming
    /// back after it was fenced (it starts over with nothing). Returns its id.
    fn join(&mut self, request: &Heartbeat, now_ms: i64) -> Result<String, HeartbeatError> {
        if request.rebalance_timeout_ms < 0 || (request.topic_names.is_none() && request.topic_regex.is_none()) {
            return Err(refuse(
                ResponseError::InvalidRequest,
                "A member joining needs RebalanceTimeoutMs and a subscription (SubscribedTopicNames or SubscribedTopicRegex).",
            ));
        }
        let member_id =
            if request.member_id.is_empty() { Uuid::new_v4().to_string() } else { request.member_id.clone() };
        if let Some(instance) = request.instance_id.as_deref() {
            let holder = self
                .members
                .values()
                .find(|m| m.info.instance_id.as_deref() == Some(instance))
                .map(|m| (m.id.clone(), m.left_temporarily));
            match holder {
                Some((old, true)) if old != member_id => {
                    // The static member's new incarnation takes over its partitions and epoch.
                    let mut member = self.members.remove(&old).expect("found above");
                    self.records.extend(member_tombstones(&self.id, &old));
                    member.id = member_id.clone();
                    member.left_temporarily = false;
                    if let Some(target) = self.target.remove(&old) {
                        self.records.push(Record {
                            key: RecordKey::TargetMember { group: self.id.clone(), member: member_id.clone() },
                            value: Some(RecordValue::Target(target.clone())),
                        });
                        self.target.insert(member_id.clone(), target);
                    }
                    self.records.push(self.current_record(&member));
                    self.members.insert(member_id.clone(), member);
                    return Ok(member_id);
                }
                Some((old, false)) if old != member_id => {
                    return Err(refuse(
                        ResponseError::UnreleasedInstanceId,
                        format!("Static member {old} with instance id {instance} is still in the group."),
                    ));
                }
                _ => {}
            }
        }
        match self.members.get_mut(&member_id) {
            Some(member) => {
                // A member rejoining under its id gave up everything: it starts over.
                member.epoch = 0;
                member.state = MemberState::Stable;
                member.assigned.clear();
                member.pending_revocation.clear();
                member.revoke_by_ms = None;
                member.left_temporarily = false;
            }
            None => {
                tracing::info!(group = %self.id, member = %member_id, "member joined the consumer group");
                self.members.insert(member_id.clone(), ConsumerMember::new(&member_id, now_ms));
                self.bump_epoch();
            }
        }
        Ok(member_id)
    }

    /// A heartbeat of a member already in the group, checked against its epoch.
    fn check_epoch(&self, request: &Heartbeat) -> Result<String, HeartbeatError> {
        let Some(member) = self.members.get(&request.member_id).filter(|m| !m.left_temporarily) else {
            return Err(refuse(
                ResponseError::UnknownMemberId,
                format!("Member {} is not a member of group {}.", request.member_id, self.id),
            ));
        };
        let lost_answer = request.member_epoch == member.previous_epoch
            && request.owned.as_ref().is_some_and(|owned| is_subset(owned, &member.assigned));
        if request.member_epoch > member.epoch || (request.member_epoch < member.epoch && !lost_answer) {
            return Err(refuse(
                ResponseError::FencedMemberEpoch,
                format!(
                    "The consumer group member has a member epoch ({}) different from the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                    request.member_epoch, member.epoch
                ),
            ));
        }
        Ok(member.id.clone())
    }

    /// Epoch -1 (leave) or -2 (a static member leaving for a while).
    fn leave(&mut self, request: &Heartbeat, now_ms: i64) -> Result<HeartbeatAnswer, HeartbeatError> {
        let id = match request.instance_id.as_deref() {
            Some(instance) => {
                self.members.values().find(|m| m.info.instance_id.as_deref() == Some(instance)).map(|m| m.id.clone())
            }
            None => self.members.contains_key(&request.member_id).then(|| request.member_id.clone()),
        };
        let Some(id) = id else {
            return Err(refuse(
                ResponseError::UnknownMemberId,
                format!("Member {} is not a member of group {}.", request.member_id, self.id),
            ));
        };
        if request.member_epoch == -2 && request.instance_id.is_some() {
            let member = self.members.get_mut(&id).expect("found above");
            member.left_temporarily = true;
            member.last_heartbeat_ms = now_ms;
            tracing::info!(group = %self.id, member = %id, "static member left for now; its partitions wait for it");
        } else {
            tracing::info!(group = %self.id, member = %id, "member left the consumer group");
            self.remove(&id, now_ms);
        }
        Ok(HeartbeatAnswer {
            member_id: request.member_id.clone(),
            member_epoch: request.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// Compiles the regular expressions members use that are not resolved yet, and forgets
    /// those no member uses any more.
    fn refresh_regexes(&mut self) {
        let in_use: BTreeSet<&str> = self.members.values().filter_map(|m| m.info.topic_regex.as_deref()).collect();
        self.resolved_regexes.retain(|r, _| in_use.contains(r.as_str()));
        for regex in in_use {
            if !self.resolved_regexes.contains_key(regex)
                && let Ok(compiled) = compile(regex)
            {
                self.resolved_regexes.insert(regex.to_string(), compiled);
            }
        }
    }

    /// Removes a member; its partitions are free at once and the group epoch moves on.
    fn remove(&mut self, id: &str, now_ms: i64) {
        if self.members.remove(id).is_some() {
            self.empty_since_ms = now_ms;
            self.refresh_regexes();
            self.target.remove(id);
            self.records.extend(member_tombstones(&self.id, id));
            self.bump_epoch();
        }
    }

    /// Members whose session ended, and unrevoked members past their rebalance timeout, are
    /// removed. Returns the ids removed.
    pub fn tick(&mut self, now_ms: i64, settings: &GroupSettings) -> Vec<String> {
        let session = i64::from(settings.consumer_session_timeout_ms);
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| now_ms - m.last_heartbeat_ms > session || m.revoke_by_ms.is_some_and(|by| now_ms > by))
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            tracing::info!(group = %self.id, member = %id, "member removed: no heartbeat within the session timeout, or partitions not revoked within its rebalance timeout");
            self.remove(id, now_ms);
        }
        gone
    }

    /// The topics some member subscribes to that exist now: each distinct name looked up
    /// once, each distinct resolved regular expression matched once against the topics.
    fn subscribed_topics(
        &self,
        topics: &dyn TopicLookup,
        names: &mut Option<Vec<String>>,
    ) -> BTreeMap<String, (Uuid, i32)> {
        let mut literal: BTreeSet<&str> = BTreeSet::new();
        let mut regexes: BTreeSet<&str> = BTreeSet::new();
        for member in self.members.values() {
            literal.extend(member.info.topic_names.iter().map(String::as_str));
            regexes.extend(member.info.topic_regex.as_deref());
        }
        let mut all = BTreeMap::new();
        for name in literal {
            if let Some(meta) = topics.topic(name) {
                all.insert(name.to_string(), meta);
            }
        }
        for regex in regexes.into_iter().filter_map(|r| self.resolved_regexes.get(r)) {
            for name in names.get_or_insert_with(|| topics.names()).iter().filter(|n| regex.is_match(n)) {
                if !all.contains_key(name)
                    && let Some(meta) = topics.topic(name)
                {
                    all.insert(name.clone(), meta);
                }
            }
        }
        all
    }

    /// Recomputes every member's target with the group's assignor, at the group epoch.
    fn compute_target(&mut self) {
        let partitions: BTreeMap<Uuid, i32> = self.subscribed.values().copied().collect();
        let by_name: BTreeMap<&str, Uuid> = self.subscribed.iter().map(|(n, (id, _))| (n.as_str(), *id)).collect();
        let mut names = None;
        let lookup = Subscribed(&self.subscribed);
        let members: Vec<AssignorMember<'_>> = self
            .members
            .values()
            .map(|m| AssignorMember {
                id: &m.id,
                topics: m
                    .subscribed(&lookup, &mut names, &self.resolved_regexes)
                    .keys()
                    .filter_map(|n| by_name.get(n.as_str()).copied())
                    .collect(),
                previous: self.target.get(&m.id),
            })
            .collect();
        let target = assignor::assign(self.assignor(), &members, &partitions);
        for (member, assignment) in &target {
            if self.target.get(member) != Some(assignment) {
                self.records.push(Record {
                    key: RecordKey::TargetMember { group: self.id.clone(), member: member.clone() },
                    value: Some(RecordValue::Target(assignment.clone())),
                });
            }
        }
        self.target = target;
        self.assignment_epoch = self.epoch;
        self.records.push(Record {
            key: RecordKey::TargetEpoch { group: self.id.clone() },
            value: Some(RecordValue::Epoch(self.epoch)),
        });
        tracing::info!(group = %self.id, epoch = self.epoch, members = self.members.len(), assignor = self.assignor(), "consumer group: new target assignment");
    }

    /// Moves a member one step towards its target (Kafka's CurrentAssignmentBuilder).
    fn reconcile(&mut self, id: &str, owned: Option<&Assignment>, now_ms: i64) {
        let member = &self.members[id];
        match member.state {
            MemberState::UnrevokedPartitions => {
                // Revoked once the member reports owning none of them.
                let revoked = owned.is_some_and(|owned| !intersects(owned, &member.pending_revocation));
                if !revoked {
                    return;
                }
            }
            MemberState::Stable if member.epoch == self.assignment_epoch => return,
            _ => {}
        }
        let target = self.target.get(id).cloned().unwrap_or_default();
        let owned_by_others: std::collections::HashSet<(Uuid, i32)> = self
            .members
            .values()
            .filter(|m| m.id != id)
            .flat_map(|m| pairs(&m.assigned).chain(pairs(&m.pending_revocation)))
            .collect();
        let assignment_epoch = self.assignment_epoch;
        let member = self.members.get_mut(id).expect("checked above");
        let keep = intersection(&member.assigned, &target);
        let revoke = difference(&member.assigned, &target);
        if !revoke.is_empty() {
            member.assigned = keep;
            member.pending_revocation = revoke;
            member.state = MemberState::UnrevokedPartitions;
            member.revoke_by_ms = Some(now_ms + i64::from(member.info.rebalance_timeout_ms.max(0)));
        } else {
            let mut held = false;
            for (topic, partitions) in difference(&target, &member.assigned) {
                for partition in partitions {
                    if owned_by_others.contains(&(topic, partition)) {
                        held = true;
                    } else {
                        member.assigned.entry(topic).or_default().insert(partition);
                    }
                }
            }
            member.pending_revocation.clear();
            member.revoke_by_ms = None;
            if member.epoch != assignment_epoch {
                member.previous_epoch = member.epoch;
                member.epoch = assignment_epoch;
            }
            member.state = if held { MemberState::UnreleasedPartitions } else { MemberState::Stable };
        }
        let record = self.current_record(&self.members[id]);
        self.records.push(record);
    }
}

/// The subscribed topics the group already resolved, as a [`TopicLookup`].
struct Subscribed<'a>(&'a BTreeMap<String, (Uuid, i32)>);

impl TopicLookup for Subscribed<'_> {
    fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
        self.0.get(name).copied()
    }
    fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

fn member_tombstones(group: &str, member: &str) -> Vec<Record> {
    let (group, member) = (group.to_string(), member.to_string());
    vec![
        Record { key: RecordKey::CurrentAssignment { group: group.clone(), member: member.clone() }, value: None },
        Record { key: RecordKey::TargetMember { group: group.clone(), member: member.clone() }, value: None },
        Record { key: RecordKey::ConsumerMember { group, member }, value: None },
    ]
}

fn pairs(a: &Assignment) -> impl Iterator<Item = (Uuid, i32)> + '_ {
    a.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
}

fn contains(a: &Assignment, (topic, partition): (Uuid, i32)) -> bool {
    a.get(&topic).is_some_and(|ps| ps.contains(&partition))
}

fn collect(pairs: impl Iterator<Item = (Uuid, i32)>) -> Assignment {
    let mut out = Assignment::new();
    for (topic, partition) in pairs {
        out.entry(topic).or_default().insert(partition);
    }
    out
}

fn intersection(a: &Assignment, b: &Assignment) -> Assignment {
    collect(pairs(a).filter(|tp| contains(b, *tp)))
}

fn difference(a: &Assignment, b: &Assignment) -> Assignment {
    collect(pairs(a).filter(|tp| !contains(b, *tp)))
}

fn intersects(a: &Assignment, b: &Assignment) -> bool {
    pairs(a).any(|tp| contains(b, tp))
}

fn is_subset(a: &Assignment, b: &Assignment) -> bool {
    pairs(a).all(|tp| contains(b, tp))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Topics(Vec<(String, Uuid, i32)>);

    impl TopicLookup for Topics {
        fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
            self.0.iter().find(|(n, _, _)| n == name).map(|(_, id, p)| (*id, *p))
        }
        fn names(&self) -> Vec<String> {
            self.0.iter().map(|(n, _, _)| n.clone()).collect()
        }
    }

    const T: Uuid = Uuid::from_bytes([1; 16]);

    fn topics() -> Topics {
        Topics(vec![("orders".into(), T, 4)])
    }

    fn join(id: &str) -> Heartbeat {
        Heartbeat {
            member_id: id.into(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            topic_names: Some(vec!["orders".into()]),
            owned: Some(Assignment::new()),
            ..Heartbeat::default()
        }
    }

    fn beat(id: &str, epoch: i32, owned: &Assignment) -> Heartbeat {
        Heartbeat {
            member_id: id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned: Some(owned.clone()),
            ..Heartbeat::default()
        }
    }

    fn partitions(a: &Assignment) -> Vec<i32> {
        a.values().flatten().copied().collect()
    }

    #[test]
    fn a_second_member_gets_partitions_only_after_the_first_revokes_them() {
        let (settings, topics) = (GroupSettings::default(), topics());
        let mut group = ConsumerGroup::new("g");
        let a = group.heartbeat(join("a"), &topics, 0, &settings).unwrap();
        let a_owned = a.assignment.clone().unwrap();
        assert_eq!(partitions(&a_owned), vec![0, 1, 2, 3]);
        assert_eq!(group.state_name(), "Stable");

        let b = group.heartbeat(join("b"), &topics, 10, &settings).unwrap();
        // b is at the new epoch but its partitions are still a's.
        assert!(partitions(b.assignment.as_ref().unwrap()).is_empty());
        assert_eq!(group.state_name(), "Reconciling");
        // a hears it must give two up; its epoch stays until it has.
        let a2 = group.heartbeat(beat("a", a.member_epoch, &a_owned), &topics, 20, &settings).unwrap();
        assert_eq!(a2.member_epoch, a.member_epoch);
        let kept = a2.assignment.unwrap();
        assert_eq!(partitions(&kept).len(), 2);
        // b still waits while a owns them.
        let b2 = group.heartbeat(beat("b", b.member_epoch, &Assignment::new()), &topics, 30, &settings).unwrap();
        assert!(b2.assignment.is_none());
        // a reports it let them go: it moves to the new epoch, and b gets them.
        let a3 = group.heartbeat(beat("a", a.member_epoch, &kept), &topics, 40, &settings).unwrap();
        assert_eq!(a3.member_epoch, b.member_epoch);
        let b3 = group.heartbeat(beat("b", b.member_epoch, &Assignment::new()), &topics, 50, &settings).unwrap();
        let b_owned = b3.assignment.unwrap();
        assert_eq!(partitions(&b_owned).len(), 2);
        assert!(!intersects(&b_owned, &kept));
        assert_eq!(group.state_name(), "Stable");
    }

    #[test]
    fn a_wrong_epoch_is_fenced_but_a_lost_answer_is_forgiven() {
        let (settings, topics) = (GroupSettings::default(), topics());
        let mut group = ConsumerGroup::new("g");
        let a = group.heartbeat(join("a"), &topics, 0, &settings).unwrap();
        let owned = a.assignment.unwrap();
        let fenced = group.heartbeat(beat("a", a.member_epoch + 1, &owned), &topics, 1, &settings).unwrap_err();
        assert_eq!(fenced.code, ResponseError::FencedMemberEpoch.code());
        // b joins; a revokes half and moves to the new epoch, but that answer is lost.
        let b = group.heartbeat(join("b"), &topics, 2, &settings).unwrap();
        let kept =
            group.heartbeat(beat("a", a.member_epoch, &owned), &topics, 3, &settings).unwrap().assignment.unwrap();
        let moved = group.heartbeat(beat("a", a.member_epoch, &kept), &topics, 4, &settings).unwrap();
        assert_eq!(moved.member_epoch, b.member_epoch);
        // Its retry names the previous epoch, owning only what it still has: forgiven.
        assert!(group.heartbeat(beat("a", a.member_epoch, &kept), &topics, 5, &settings).is_ok());
        // Naming the previous epoch while owning a partition it gave up: fenced.
        let stale = group.heartbeat(beat("a", a.member_epoch, &owned), &topics, 6, &settings).unwrap_err();
        assert_eq!(stale.code, ResponseError::FencedMemberEpoch.code());
        let unknown = group.heartbeat(beat("z", 3, &owned), &topics, 3, &settings).unwrap_err();
        assert_eq!(unknown.code, ResponseError::UnknownMemberId.code());
    }

    #[test]
    fn members_that_leave_or_go_silent_free_their_partitions() {
        let (settings, topics) = (GroupSettings::default(), topics());
        let mut group = ConsumerGroup::new("g");
        let a = group.heartbeat(join("a"), &topics, 0, &settings).unwrap();
        group.heartbeat(join("b"), &topics, 0, &settings).unwrap();
        let left = group.heartbeat(beat("a", -1, &Assignment::new()), &topics, 1, &settings).unwrap();
        assert_eq!(left.member_epoch, -1);
        assert!(!group.members.contains_key("a"));
        let b = group.heartbeat(beat("b", a.member_epoch + 1, &Assignment::new()), &topics, 2, &settings);
        let b = b
            .or_else(|_| {
                group.heartbeat(beat("b", group.members["b"].epoch, &Assignment::new()), &topics, 2, &settings)
            })
            .unwrap();
        assert_eq!(partitions(b.assignment.as_ref().unwrap()), vec![0, 1, 2, 3]);
        let session = i64::from(settings.consumer_session_timeout_ms);
        assert!(group.tick(session, &settings).is_empty());
        assert_eq!(group.tick(session + 3, &settings), vec!["b".to_string()]);
        assert_eq!(group.state_name(), "Empty");
    }

    #[test]
    fn a_static_member_back_within_its_session_keeps_its_partitions_and_a_duplicate_is_refused() {
        let (settings, topics) = (GroupSettings::default(), topics());
        let mut group = ConsumerGroup::new("g");
        let first = Heartbeat { instance_id: Some("i-1".into()), ..join("a") };
        let a = group.heartbeat(first, &topics, 0, &settings).unwrap();
        let duplicate = Heartbeat { instance_id: Some("i-1".into()), ..join("a2") };
        assert_eq!(
            group.heartbeat(duplicate.clone(), &topics, 1, &settings).unwrap_err().code,
            ResponseError::UnreleasedInstanceId.code()
        );
        let pause = Heartbeat { instance_id: Some("i-1".into()), ..beat("a", -2, &Assignment::new()) };
        group.heartbeat(pause, &topics, 2, &settings).unwrap();
        let back = group.heartbeat(duplicate, &topics, 3, &settings).unwrap();
        assert_eq!(back.member_epoch, a.member_epoch, "no rebalance");
        assert_eq!(back.assignment, a.assignment);
        assert!(!group.members.contains_key("a"));
    }

    #[test]
    fn the_group_log_records_rebuild_the_group() {
        let (settings, topics) = (GroupSettings::default(), topics());
        let mut group = ConsumerGroup::new("g");
        let a = group.heartbeat(join("a"), &topics, 0, &settings).unwrap();
        group.heartbeat(join("b"), &topics, 0, &settings).unwrap();
        group.heartbeat(beat("a", a.member_epoch, a.assignment.as_ref().unwrap()), &topics, 0, &settings).unwrap();
        let mut replayed = ConsumerGroup::new("g");
        for record in group.take_records() {
            let (key, value) = record.encode();
            replayed.replay(Record::decode(&key, value.as_deref()).unwrap(), 5);
        }
        assert_eq!((replayed.epoch, replayed.assignment_epoch), (group.epoch, group.assignment_epoch));
        assert_eq!(replayed.target, group.target);
        for (id, m) in &group.members {
            let r = &replayed.members[id];
            assert_eq!(
                (r.epoch, r.state, &r.assigned, &r.pending_revocation),
                (m.epoch, m.state, &m.assigned, &m.pending_revocation)
            );
            assert_eq!(r.info, m.info);
        }
        let mut live = ConsumerGroup::new("g");
        for record in group.live_records() {
            live.replay(record, 5);
        }
        assert_eq!(live.target, group.target);
        assert_eq!(live.members.len(), 2);
    }

    #[test]
    fn an_unknown_assignor_or_a_bad_regex_is_refused() {
        let (settings, topics) = (GroupSettings::default(), topics());
        let mut group = ConsumerGroup::new("g");
        let bad = Heartbeat { server_assignor: Some("sticky".into()), ..join("a") };
        assert_eq!(
            group.heartbeat(bad, &topics, 0, &settings).unwrap_err().code,
            ResponseError::UnsupportedAssignor.code()
        );
        let bad = Heartbeat { topic_regex: Some("(".into()), topic_names: None, ..join("a") };
        assert_eq!(
            group.heartbeat(bad, &topics, 0, &settings).unwrap_err().code,
            ResponseError::InvalidRegularExpression.code()
        );
        let incomplete = Heartbeat { topic_names: None, ..join("a") };
        assert_eq!(
            group.heartbeat(incomplete, &topics, 0, &settings).unwrap_err().code,
            ResponseError::InvalidRequest.code()
        );
    }
}
