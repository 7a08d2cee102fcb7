//! One member of a classic consumer group: who it is, what it supports, what it was assigned,
//! and the JoinGroup or SyncGroup answer it is waiting for.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::StoredMember;

/// What a member asks for in JoinGroup.
#[derive(Debug, Clone)]
pub struct JoinParams {
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id`, for static membership.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address, as DescribeGroups shows it.
    pub client_host: String,
    /// How long it may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// How long a rebalance waits for it to rejoin.
    pub rebalance_timeout_ms: i32,
    /// `consumer` for Kafka consumers.
    pub protocol_type: String,
    /// The assignors it supports, in order of preference, with its metadata for each.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member first gets its id with MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
}

/// A member in the JoinGroup answer the leader gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// The JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    /// Kafka error code; 0 on success.
    pub error: i16,
    /// The generation the member joined.
    pub generation: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen assignor.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The member's id (new members learn theirs here).
    pub member_id: String,
    /// Every member with its metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinResult {
    /// An error answer.
    pub fn error(error: i16, member_id: &str) -> JoinResult {
        JoinResult {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// The SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    /// Kafka error code; 0 on success.
    pub error: i16,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen assignor.
    pub protocol_name: Option<String>,
    /// The member's assignment from the leader.
    pub assignment: Bytes,
}

impl SyncResult {
    /// An error answer.
    pub fn error(error: i16) -> SyncResult {
        SyncResult { error, protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// A group member.
#[derive(Debug)]
pub struct Member {
    /// Member id.
    pub id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// How long it may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// How long a rebalance waits for it.
    pub rebalance_timeout_ms: i32,
    /// Supported assignors with metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Its current assignment.
    pub assignment: Bytes,
    /// When it last showed it is alive (heartbeat, join, sync or commit).
    pub last_heartbeat_ms: i64,
    /// Its JoinGroup, waiting for the rebalance to complete.
    pub join_waiter: Option<oneshot::Sender<JoinResult>>,
    /// Its SyncGroup, waiting for the leader's assignment.
    pub sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// A member from its JoinGroup.
    pub fn new(id: String, params: JoinParams, now_ms: i64) -> Member {
        Member {
            id,
            instance_id: params.group_instance_id,
            client_id: params.client_id,
            client_host: params.client_host,
            session_timeout_ms: params.session_timeout_ms,
            rebalance_timeout_ms: params.rebalance_timeout_ms,
            protocols: params.protocols,
            assignment: Bytes::new(),
            last_heartbeat_ms: now_ms,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    /// A member restored from the group log; it must heartbeat within its session timeout.
    pub fn restored(stored: &StoredMember, protocol: Option<&str>, now_ms: i64) -> Member {
        Member {
            id: stored.member_id.clone(),
            instance_id: stored.group_instance_id.clone(),
            client_id: stored.client_id.clone(),
            client_host: stored.client_host.clone(),
            session_timeout_ms: stored.session_timeout_ms,
            rebalance_timeout_ms: stored.rebalance_timeout_ms,
            protocols: protocol.map(|p| vec![(p.to_string(), stored.subscription.clone())]).unwrap_or_default(),
            assignment: stored.assignment.clone(),
            last_heartbeat_ms: now_ms,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    /// Takes the new settings and protocols of a rejoin.
    pub fn update(&mut self, params: &JoinParams, now_ms: i64) {
        self.client_id = params.client_id.clone();
        self.client_host = params.client_host.clone();
        self.session_timeout_ms = params.session_timeout_ms;
        self.rebalance_timeout_ms = params.rebalance_timeout_ms;
        self.protocols = params.protocols.clone();
        self.last_heartbeat_ms = now_ms;
    }

    /// Its metadata for `protocol`.
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(name, _)| name == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    /// Whether it supports `protocol`.
    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    /// Completes a waiting JoinGroup, if any.
    pub fn answer_join(&mut self, result: JoinResult) {
        if let Some(waiter) = self.join_waiter.take() {
            // The client may have gone; its answer is then simply dropped.
            let _ = waiter.send(result);
        }
    }

    /// Completes a waiting SyncGroup, if any.
    pub fn answer_sync(&mut self, result: SyncResult) {
        if let Some(waiter) = self.sync_waiter.take() {
            let _ = waiter.send(result);
        }
    }

    /// Whether it missed its session timeout. A member waiting in JoinGroup or SyncGroup is
    /// alive: the coordinator owes it an answer.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.join_waiter.is_none()
            && self.sync_waiter.is_none()
            && now_ms - self.last_heartbeat_ms > self.session_timeout_ms as i64
    }
}
