//! One group: a classic group's state machine (Empty, PreparingRebalance, CompletingRebalance,
//! Stable, Dead) with its join and sync barriers, or a KIP-848 consumer group
//! ([`super::consumer_group`]), and either way its committed offsets.
//!
//! Pure logic: time comes in as `now_ms`, answers that must wait are oneshot channels, and what
//! must be made durable is reported by [`Group::take_metadata_change`]. The coordinator owns
//! locking, the log and the clock.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::consumer_group::ConsumerGroup;
use super::member::{JoinParams, JoinResult, JoinedMember, Member, SyncResult};
use super::records::{CommittedOffset, StoredGroup, StoredMember};
use super::settings::GroupSettings;

/// A group's state, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still hold offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// The name Kafka's DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// An answer now, or one to wait for.
#[derive(Debug)]
pub enum Reply<T> {
    /// Known now.
    Now(T),
    /// Sent when the rebalance gets there.
    Wait(oneshot::Receiver<T>),
}

/// A classic group.
#[derive(Debug)]
pub struct Group {
    /// Group id.
    pub id: String,
    state: GroupState,
    state_since_ms: i64,
    protocol_type: Option<String>,
    protocol: Option<String>,
    generation: i32,
    leader: Option<String>,
    /// Members in join order (the first is the default leader).
    members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined: id -> (issued at, session timeout).
    pending: HashMap<String, (i64, i32)>,
    rebalance_deadline_ms: i64,
    /// While the first rebalance of an empty group waits for more members.
    initial_join_until_ms: Option<i64>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Offsets committed inside open transactions (TxnOffsetCommit), by producer id: applied
    /// to `offsets` when the transaction commits, dropped when it aborts.
    pub pending_txn_offsets: HashMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
    /// Set when the generation or membership changed in a way the log must record.
    metadata_changed: bool,
    /// Set while the group is a KIP-848 consumer group (`group.protocol=consumer`): its
    /// classic part is then empty.
    pub consumer: Option<ConsumerGroup>,
}

/// How long an empty consumer group with no offsets is kept before it is forgotten: its epoch
/// goes on meanwhile, so a member leaving and rejoining never sees its epoch go back.
pub const EMPTY_CONSUMER_GROUP_KEPT_MS: i64 = 10 * 60 * 1000;

fn code(e: ResponseError) -> i16 {
    e.code()
}

impl Group {
    /// A new, empty group.
    pub fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            state_since_ms: now_ms,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            rebalance_deadline_ms: 0,
            initial_join_until_ms: None,
            offsets: BTreeMap::new(),
            pending_txn_offsets: HashMap::new(),
            metadata_changed: false,
            consumer: None,
        }
    }

    /// A group restored from its last metadata record: Stable with its members if it had any
    /// (they must heartbeat within their session timeouts), otherwise Empty.
    pub fn restore(id: &str, stored: &StoredGroup, now_ms: i64) -> Group {
        let mut group = Group::new(id, stored.state_timestamp);
        group.protocol_type = (!stored.protocol_type.is_empty()).then(|| stored.protocol_type.clone());
        group.generation = stored.generation;
        group.protocol = stored.protocol.clone();
        group.leader = stored.leader.clone();
        group.members =
            stored.members.iter().map(|m| Member::restored(m, stored.protocol.as_deref(), now_ms)).collect();
        if !group.members.is_empty() {
            group.state = GroupState::Stable;
        }
        group
    }

    /// The current state.
    pub fn state(&self) -> GroupState {
        self.state
    }

    /// When the group entered its state.
    pub fn state_since_ms(&self) -> i64 {
        self.state_since_ms
    }

    /// The generation id.
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// `consumer` for consumer groups, `None` for groups that only commit offsets.
    pub fn protocol_type(&self) -> Option<&str> {
        if self.consumer.is_some() { Some("consumer") } else { self.protocol_type.as_deref() }
    }

    /// `consumer` for a KIP-848 group, `classic` otherwise (ListGroups v5's names).
    pub fn group_type(&self) -> &'static str {
        if self.consumer.is_some() { "consumer" } else { "classic" }
    }

    /// The state's name: a classic state, or a consumer group's (Empty, Assigning, Reconciling,
    /// Stable).
    pub fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(consumer) => consumer.state_name(),
            None => self.state.name(),
        }
    }

    /// How many members it has, of either kind.
    pub fn member_count(&self) -> usize {
        self.members.len() + self.consumer.as_ref().map_or(0, |c| c.members.len())
    }

    /// Whether nobody is in it: no classic members and no consumer group members.
    pub fn is_empty(&self) -> bool {
        self.state == GroupState::Empty && self.member_count() == 0
    }

    /// The chosen assignor.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The leader's member id.
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// Members in join order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Whether the group is about to be forgotten: no members, nothing pending, no offsets.
    /// A consumer group is kept while it is recently empty (see
    /// [`Group::is_removable_at`]).
    pub fn is_removable(&self) -> bool {
        self.consumer.is_none() && self.is_forgettable()
    }

    /// [`Group::is_removable`] for a group that may be a consumer group: one empty for
    /// [`EMPTY_CONSUMER_GROUP_KEPT_MS`] is forgotten too (Kafka forgets them at its next
    /// offsets-retention check, every 10 minutes).
    pub fn is_removable_at(&self, now_ms: i64) -> bool {
        self.is_forgettable()
            && self.consumer.as_ref().is_none_or(|c| c.empty_for(now_ms, EMPTY_CONSUMER_GROUP_KEPT_MS))
    }

    fn is_forgettable(&self) -> bool {
        self.is_empty() && self.pending.is_empty() && self.offsets.is_empty() && self.pending_txn_offsets.is_empty()
    }

    /// Ends producer `producer_id`'s transaction for this group: its offsets become committed
    /// (`committed`) or are dropped.
    pub fn end_transaction(&mut self, producer_id: i64, committed: bool) {
        if let Some(offsets) = self.pending_txn_offsets.remove(&producer_id)
            && committed
        {
            self.offsets.extend(offsets);
        }
    }

    /// Whether an open transaction holds an offset of `(topic, partition)` not yet committed.
    pub fn has_pending_offset(&self, topic: &str, partition: i32) -> bool {
        self.pending_txn_offsets.values().any(|o| o.contains_key(&(topic.to_string(), partition)))
    }

    /// The metadata record to write, if the generation or membership changed since last asked.
    pub fn take_metadata_change(&mut self) -> Option<StoredGroup> {
        std::mem::take(&mut self.metadata_changed).then(|| self.stored())
    }

    /// Whether the group has metadata worth keeping: it has run a generation.
    pub fn has_metadata(&self) -> bool {
        self.generation > 0 || self.protocol_type.is_some()
    }

    /// The group's generation and members as the log stores them.
    pub fn stored(&self) -> StoredGroup {
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_since_ms,
            members: self
                .members
                .iter()
                .map(|m| StoredMember {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: self.protocol.as_deref().map(|p| m.metadata_for(p)).unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    fn set_state(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    fn index_of(&self, member_id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == member_id)
    }

    fn index_of_instance(&self, instance_id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    /// KIP-345: a request naming a static instance with another member's id is from a fenced
    /// (replaced) member.
    fn fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id.and_then(|i| self.index_of_instance(i)).is_some_and(|idx| self.members[idx].id != member_id)
    }

    /// Whether every current member supports `protocol_type` and at least one of `protocols`.
    fn accepts(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| self.members.iter().all(|m| m.supports(name)))
    }

    /// JoinGroup.
    pub fn join(&mut self, params: JoinParams, now_ms: i64, settings: &GroupSettings) -> Reply<JoinResult> {
        let member_id = params.member_id.clone();
        let fail = |e: ResponseError| Reply::Now(JoinResult::error(code(e), &member_id));
        if params.protocol_type.is_empty() || params.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if params.session_timeout_ms < settings.min_session_timeout_ms
            || params.session_timeout_ms > settings.max_session_timeout_ms
        {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        if !self.accepts(&params.protocol_type, &params.protocols) {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        if params.member_id.is_empty() {
            if let Some(idx) = params.group_instance_id.as_deref().and_then(|i| self.index_of_instance(i)) {
                return self.replace_static_member(idx, params, now_ms, settings);
            }
            let new_id = format!("{}-{}", params.client_id, uuid::Uuid::new_v4());
            if params.require_known_member_id && params.group_instance_id.is_none() {
                self.pending.insert(new_id.clone(), (now_ms, params.session_timeout_ms));
                return Reply::Now(JoinResult::error(code(ResponseError::MemberIdRequired), &new_id));
            }
            return self.add_member(new_id, params, now_ms, settings);
        }
        if self.pending.remove(&params.member_id).is_some() {
            let id = params.member_id.clone();
            return self.add_member(id, params, now_ms, settings);
        }
        if self.fenced(&params.member_id, params.group_instance_id.as_deref()) {
            return fail(ResponseError::FencedInstanceId);
        }
        let Some(idx) = self.index_of(&params.member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        match self.state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                let receiver = self.await_join(idx, &params, now_ms);
                self.try_complete_join(now_ms);
                Reply::Wait(receiver)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                let member = &self.members[idx];
                let unchanged = member.protocols == params.protocols;
                let is_leader = self.leader.as_deref() == Some(member.id.as_str());
                if unchanged && (self.state == GroupState::CompletingRebalance || !is_leader) {
                    // It missed its answer (or a follower rejoins with nothing new): repeat it.
                    self.members[idx].last_heartbeat_ms = now_ms;
                    return Reply::Now(self.join_answer(idx));
                }
                let receiver = self.await_join(idx, &params, now_ms);
                self.prepare_rebalance(now_ms, settings);
                self.try_complete_join(now_ms);
                Reply::Wait(receiver)
            }
        }
    }

    fn await_join(&mut self, idx: usize, params: &JoinParams, now_ms: i64) -> oneshot::Receiver<JoinResult> {
        let (sender, receiver) = oneshot::channel();
        let member = &mut self.members[idx];
        member.update(params, now_ms);
        // A second JoinGroup from the same member replaces the first; the first is told to retry.
        member.answer_join(JoinResult::error(code(ResponseError::RebalanceInProgress), &member.id.clone()));
        member.join_waiter = Some(sender);
        receiver
    }

    fn add_member(
        &mut self,
        id: String,
        params: JoinParams,
        now_ms: i64,
        settings: &GroupSettings,
    ) -> Reply<JoinResult> {
        if self.members.is_empty() {
            self.protocol_type = Some(params.protocol_type.clone());
        }
        let (sender, receiver) = oneshot::channel();
        let mut member = Member::new(id.clone(), params, now_ms);
        member.join_waiter = Some(sender);
        let rebalance_timeout = member.rebalance_timeout_ms as i64;
        self.members.push(member);
        if self.leader.is_none() {
            self.leader = Some(id);
        }
        if self.state == GroupState::PreparingRebalance
            && let Some(until) = self.initial_join_until_ms
        {
            // Each new member during the initial delay extends it, within the rebalance timeout.
            self.initial_join_until_ms = Some((now_ms + settings.initial_rebalance_delay_ms).max(until));
            self.rebalance_deadline_ms = self.rebalance_deadline_ms.max(now_ms + rebalance_timeout);
        }
        self.prepare_rebalance(now_ms, settings);
        self.try_complete_join(now_ms);
        Reply::Wait(receiver)
    }

    /// KIP-345: a static member rejoining with an empty member id (it restarted) takes over its
    /// old entry under a new member id, and its old incarnation is fenced. In a Stable group whose
    /// chosen assignor stays the same it keeps its assignment without a rebalance, as in Kafka;
    /// the answer names the leader as it was, so a restarted leader does not reassign.
    fn replace_static_member(
        &mut self,
        idx: usize,
        params: JoinParams,
        now_ms: i64,
        settings: &GroupSettings,
    ) -> Reply<JoinResult> {
        let leader_before = self.leader.clone().unwrap_or_default();
        let new_id = format!("{}-{}", params.client_id, uuid::Uuid::new_v4());
        let old_id = std::mem::replace(&mut self.members[idx].id, new_id.clone());
        let old = &mut self.members[idx];
        old.answer_join(JoinResult::error(code(ResponseError::FencedInstanceId), &old_id));
        old.answer_sync(SyncResult::error(code(ResponseError::FencedInstanceId)));
        if self.leader.as_deref() == Some(old_id.as_str()) {
            self.leader = Some(new_id.clone());
        }
        self.metadata_changed = true;
        if self.state == GroupState::Stable {
            self.members[idx].update(&params, now_ms);
            if self.protocol.as_deref() == Some(self.select_protocol().as_str()) {
                return Reply::Now(JoinResult {
                    error: 0,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    leader: leader_before,
                    member_id: new_id,
                    members: Vec::new(),
                });
            }
        }
        let receiver = self.await_join(idx, &params, now_ms);
        self.prepare_rebalance(now_ms, settings);
        self.try_complete_join(now_ms);
        Reply::Wait(receiver)
    }

    /// The JoinGroup answer for the member at `idx` in the current generation.
    fn join_answer(&self, idx: usize) -> JoinResult {
        let member = &self.members[idx];
        let protocol = self.protocol.clone().unwrap_or_default();
        let is_leader = self.leader.as_deref() == Some(member.id.as_str());
        JoinResult {
            error: 0,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member.id.clone(),
            members: if is_leader {
                self.members
                    .iter()
                    .map(|m| JoinedMember {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        metadata: m.metadata_for(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Moves to PreparingRebalance (from Empty, CompletingRebalance or Stable).
    fn prepare_rebalance(&mut self, now_ms: i64, settings: &GroupSettings) {
        match self.state {
            GroupState::PreparingRebalance | GroupState::Dead => return,
            GroupState::CompletingRebalance => {
                for member in &mut self.members {
                    member.assignment = Bytes::new();
                    member.answer_sync(SyncResult::error(code(ResponseError::RebalanceInProgress)));
                }
            }
            GroupState::Empty => {
                if settings.initial_rebalance_delay_ms > 0 {
                    self.initial_join_until_ms = Some(now_ms + settings.initial_rebalance_delay_ms);
                }
            }
            GroupState::Stable => {}
        }
        let timeout = self.members.iter().map(|m| m.rebalance_timeout_ms as i64).max().unwrap_or(0);
        self.rebalance_deadline_ms = now_ms + timeout;
        self.set_state(GroupState::PreparingRebalance, now_ms);
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(|m| m.join_waiter.is_some())
    }

    fn try_complete_join(&mut self, now_ms: i64) {
        if self.state == GroupState::PreparingRebalance
            && self.all_joined()
            && self.initial_join_until_ms.is_none_or(|until| now_ms >= until)
        {
            self.complete_join(now_ms);
        }
    }

    /// Ends the join phase: members that did not rejoin are removed, the generation advances,
    /// and every joined member gets its answer (the leader with everyone's metadata).
    fn complete_join(&mut self, now_ms: i64) {
        let (joined, gone): (Vec<Member>, Vec<Member>) =
            std::mem::take(&mut self.members).into_iter().partition(|m| m.join_waiter.is_some());
        self.members = joined;
        for member in gone {
            tracing::info!(group = %self.id, member = %member.id, "removed a member that did not rejoin in time");
        }
        self.pending.clear();
        self.initial_join_until_ms = None;
        self.generation += 1;
        self.metadata_changed = true;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.set_state(GroupState::Empty, now_ms);
            return;
        }
        self.protocol = Some(self.select_protocol());
        if self.leader.as_ref().is_none_or(|l| self.index_of(l).is_none()) {
            self.leader = Some(self.members[0].id.clone());
        }
        self.set_state(GroupState::CompletingRebalance, now_ms);
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(), protocol = ?self.protocol, "rebalance: members joined");
        for idx in 0..self.members.len() {
            let answer = self.join_answer(idx);
            let member = &mut self.members[idx];
            member.last_heartbeat_ms = now_ms;
            member.answer_join(answer);
        }
    }

    /// Kafka's vote: among assignors every member supports, each member votes for its most
    /// preferred; the most votes wins, ties going to the first member's preference.
    fn select_protocol(&self) -> String {
        let first = &self.members[0];
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.iter().all(|m| m.supports(name)))
            .collect();
        let mut best = (candidates.first().copied().unwrap_or_default(), 0usize);
        for candidate in &candidates {
            let votes = self
                .members
                .iter()
                .filter(|m| {
                    m.protocols.iter().map(|(n, _)| n.as_str()).find(|n| candidates.contains(n)) == Some(candidate)
                })
                .count();
            if votes > best.1 {
                best = (candidate, votes);
            }
        }
        best.0.to_string()
    }

    /// SyncGroup.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> Reply<SyncResult> {
        let fail = |e: ResponseError| Reply::Now(SyncResult::error(code(e)));
        if self.fenced(member_id, instance_id) {
            return fail(ResponseError::FencedInstanceId);
        }
        let Some(idx) = self.index_of(member_id) else {
            return fail(ResponseError::UnknownMemberId);
        };
        if generation != self.generation {
            return fail(ResponseError::IllegalGeneration);
        }
        let (protocol_type, protocol_name) = protocol;
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != self.protocol.as_deref())
        {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => fail(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                self.members[idx].last_heartbeat_ms = now_ms;
                Reply::Now(self.sync_answer(idx))
            }
            GroupState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                let member = &mut self.members[idx];
                member.last_heartbeat_ms = now_ms;
                member.answer_sync(SyncResult::error(code(ResponseError::RebalanceInProgress)));
                member.sync_waiter = Some(sender);
                if self.leader.as_deref() == Some(member_id) {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for member in &mut self.members {
                        member.assignment = assignments.remove(&member.id).unwrap_or_default();
                    }
                    self.set_state(GroupState::Stable, now_ms);
                    self.metadata_changed = true;
                    tracing::info!(group = %self.id, generation = self.generation, "rebalance: assignment distributed");
                    for idx in 0..self.members.len() {
                        let answer = self.sync_answer(idx);
                        self.members[idx].answer_sync(answer);
                    }
                }
                Reply::Wait(receiver)
            }
        }
    }

    fn sync_answer(&self, idx: usize) -> SyncResult {
        SyncResult {
            error: 0,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment: self.members[idx].assignment.clone(),
        }
    }

    /// Heartbeat: an error code, REBALANCE_IN_PROGRESS telling the member to rejoin.
    pub fn heartbeat(&mut self, member_id: &str, instance_id: Option<&str>, generation: i32, now_ms: i64) -> i16 {
        if self.fenced(member_id, instance_id) {
            return code(ResponseError::FencedInstanceId);
        }
        if self.pending.contains_key(member_id) {
            return 0;
        }
        let Some(idx) = self.index_of(member_id) else {
            return code(ResponseError::UnknownMemberId);
        };
        if generation != self.generation {
            return code(ResponseError::IllegalGeneration);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => code(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                self.members[idx].last_heartbeat_ms = now_ms;
                code(ResponseError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members[idx].last_heartbeat_ms = now_ms;
                0
            }
        }
    }

    /// LeaveGroup for one member, named by member id or (static members) instance id.
    pub fn leave(&mut self, member_id: &str, instance_id: Option<&str>, now_ms: i64, settings: &GroupSettings) -> i16 {
        let idx = match instance_id {
            Some(instance) => match self.index_of_instance(instance) {
                None => return code(ResponseError::UnknownMemberId),
                Some(idx) if !member_id.is_empty() && self.members[idx].id != member_id => {
                    return code(ResponseError::FencedInstanceId);
                }
                Some(idx) => idx,
            },
            None => {
                if self.pending.remove(member_id).is_some() {
                    self.try_complete_join(now_ms);
                    return 0;
                }
                match self.index_of(member_id) {
                    Some(idx) => idx,
                    None => return code(ResponseError::UnknownMemberId),
                }
            }
        };
        tracing::info!(group = %self.id, member = %self.members[idx].id, "member left the group");
        self.remove_member(idx, now_ms, settings);
        0
    }

    fn remove_member(&mut self, idx: usize, now_ms: i64, settings: &GroupSettings) {
        let mut member = self.members.remove(idx);
        member.answer_join(JoinResult::error(code(ResponseError::UnknownMemberId), &member.id));
        member.answer_sync(SyncResult::error(code(ResponseError::UnknownMemberId)));
        if self.leader.as_deref() == Some(member.id.as_str()) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now_ms, settings),
            _ => {}
        }
        self.try_complete_join(now_ms);
    }

    /// Expires members that missed their session timeout and completes a rebalance whose
    /// deadline passed. Returns the ids of expired members.
    pub fn tick(&mut self, now_ms: i64, settings: &GroupSettings) -> Vec<String> {
        self.pending.retain(|_, (issued, session)| now_ms - *issued <= *session as i64);
        let mut expired = Vec::new();
        while let Some(idx) = self.members.iter().position(|m| m.expired(now_ms)) {
            expired.push(self.members[idx].id.clone());
            tracing::info!(group = %self.id, member = %self.members[idx].id, "member expired: no heartbeat within its session timeout");
            self.remove_member(idx, now_ms, settings);
        }
        if self.state == GroupState::PreparingRebalance {
            if now_ms >= self.rebalance_deadline_ms {
                self.complete_join(now_ms);
            } else {
                self.try_complete_join(now_ms);
            }
        }
        expired
    }

    /// Checks an OffsetCommit against the group (Kafka's rules): a commit with generation -1
    /// is allowed only while the group is empty (admin tools, assign-only consumers); any
    /// other must come from a current member of the current generation.
    /// A consumer group's member commits with its member epoch: a stale one is
    /// STALE_MEMBER_EPOCH (ILLEGAL_GENERATION inside a transaction, as Kafka answers).
    pub fn validate_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now_ms: i64,
        transactional: bool,
    ) -> Result<(), i16> {
        if let Some(consumer) = &self.consumer {
            if generation < 0 && consumer.members.is_empty() {
                return Ok(());
            }
            let Some(member) = consumer.members.get(member_id) else {
                return Err(code(ResponseError::UnknownMemberId));
            };
            if generation != member.epoch {
                let stale =
                    if transactional { ResponseError::IllegalGeneration } else { ResponseError::StaleMemberEpoch };
                return Err(code(stale));
            }
            return Ok(());
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if self.fenced(member_id, instance_id) {
            return Err(code(ResponseError::FencedInstanceId));
        }
        if generation < 0 && member_id.is_empty() && instance_id.is_none() {
            // Offsets of a group with live members are theirs to commit.
            return Err(code(ResponseError::UnknownMemberId));
        }
        let Some(idx) = self.index_of(member_id) else {
            return Err(code(ResponseError::UnknownMemberId));
        };
        if generation != self.generation {
            return Err(code(ResponseError::IllegalGeneration));
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(code(ResponseError::RebalanceInProgress));
        }
        self.members[idx].last_heartbeat_ms = now_ms;
        Ok(())
    }

    /// Topics the members subscribed to, read from their consumer-protocol metadata.
    pub fn subscribed_topics(&self) -> Vec<String> {
        if let Some(consumer) = &self.consumer {
            return consumer.subscribed_names();
        }
        let Some(protocol) = self.protocol.as_deref() else {
            return Vec::new();
        };
        let mut topics: Vec<String> = self
            .members
            .iter()
            .flat_map(|m| super::consumer_protocol::subscription_topics(&m.metadata_for(protocol)))
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Offsets due to expire under `offsets.retention.minutes`: all of an empty consumer
    /// group's once it has been empty that long; for a group that only commits offsets, each
    /// offset that long after its commit.
    /// An empty consumer group's offsets expire each that long after its commit.
    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
        if !self.is_empty() || retention_ms < 0 {
            return Vec::new();
        }
        self.offsets
            .iter()
            .filter(|(_, o)| {
                let classic = self.protocol_type.is_some() && self.consumer.is_none();
                let since = if classic { self.state_since_ms } else { o.commit_timestamp };
                now_ms - since >= retention_ms
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}
