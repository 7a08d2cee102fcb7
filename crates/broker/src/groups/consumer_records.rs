//! The group log records of KIP-848 consumer groups, in Kafka's schemas (key versions 3 and 5
//! to 8; values in the flexible encoding: compact strings and arrays, tagged fields): the
//! group epoch, each member's subscription, the target assignment, and each member's current
//! assignment. Several small records rather than one per group, as Kafka writes them, so a
//! member's heartbeat rewrites only what it changed.

use bytes::{Buf, BufMut, BytesMut};
use uuid::Uuid;

use super::assignor::Assignment;
use crate::schema_fields::{FieldError, get_i8, get_i32};

/// Key version of a consumer group's epoch.
pub const GROUP_EPOCH_KEY: i16 = 3;
/// Key version of a member's subscription and client details.
pub const MEMBER_KEY: i16 = 5;
/// Key version of the target assignment's epoch.
pub const TARGET_EPOCH_KEY: i16 = 6;
/// Key version of one member's target assignment.
pub const TARGET_MEMBER_KEY: i16 = 7;
/// Key version of one member's current assignment and epoch.
pub const CURRENT_ASSIGNMENT_KEY: i16 = 8;

/// A member's subscription and client details (ConsumerGroupMemberMetadataValue v0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredConsumerMember {
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// `client.rack`.
    pub rack_id: Option<String>,
    /// `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Topics subscribed by name.
    pub topic_names: Vec<String>,
    /// The subscription's regular expression, if any.
    pub topic_regex: Option<String>,
    /// How long it may take to revoke partitions.
    pub rebalance_timeout_ms: i32,
    /// The server assignor it asked for.
    pub server_assignor: Option<String>,
}

/// A member's epochs and partitions (ConsumerGroupCurrentMemberAssignmentValue v0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredAssignment {
    /// Its epoch.
    pub epoch: i32,
    /// The epoch before it.
    pub previous_epoch: i32,
    /// Kafka's MemberState: 1 stable, 2 unrevoked partitions, 3 unreleased partitions.
    pub state: i8,
    /// Partitions it owns.
    pub assigned: Assignment,
    /// Partitions it must give up.
    pub pending_revocation: Assignment,
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn get_uvarint(buf: &mut &[u8]) -> Result<u64, FieldError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            return Err(FieldError::Truncated("varint"));
        }
        let byte = buf.get_u8();
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FieldError::Truncated("varint"))
}

fn put_compact_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => put_uvarint(buf, 0),
        Some(s) => {
            put_uvarint(buf, s.len() as u64 + 1);
            buf.put_slice(s.as_bytes());
        }
    }
}

fn get_compact_string(buf: &mut &[u8]) -> Result<Option<String>, FieldError> {
    let len = get_uvarint(buf)? as usize;
    if len == 0 {
        return Ok(None);
    }
    if buf.remaining() < len - 1 {
        return Err(FieldError::Truncated("string"));
    }
    let (s, rest) = buf.split_at(len - 1);
    *buf = rest;
    String::from_utf8(s.to_vec()).map(Some).map_err(|_| FieldError::NotUtf8)
}

fn get_string(buf: &mut &[u8]) -> Result<String, FieldError> {
    Ok(get_compact_string(buf)?.unwrap_or_default())
}

fn get_array_len(buf: &mut &[u8]) -> Result<usize, FieldError> {
    Ok((get_uvarint(buf)? as usize).saturating_sub(1))
}

/// No tagged fields.
fn put_tags(buf: &mut BytesMut) {
    put_uvarint(buf, 0);
}

/// Skips tagged fields this broker does not read.
fn skip_tags(buf: &mut &[u8]) -> Result<(), FieldError> {
    for _ in 0..get_uvarint(buf)? {
        get_uvarint(buf)?;
        let len = get_uvarint(buf)? as usize;
        if buf.remaining() < len {
            return Err(FieldError::Truncated("tagged field"));
        }
        buf.advance(len);
    }
    Ok(())
}

fn put_assignment(buf: &mut BytesMut, assignment: &Assignment) {
    put_uvarint(buf, assignment.len() as u64 + 1);
    for (topic, partitions) in assignment {
        buf.put_slice(topic.as_bytes());
        put_uvarint(buf, partitions.len() as u64 + 1);
        for p in partitions {
            buf.put_i32(*p);
        }
        put_tags(buf);
    }
}

fn get_assignment(buf: &mut &[u8]) -> Result<Assignment, FieldError> {
    let mut assignment = Assignment::new();
    for _ in 0..get_array_len(buf)? {
        if buf.remaining() < 16 {
            return Err(FieldError::Truncated("topic id"));
        }
        let topic = Uuid::from_slice(&buf[..16]).map_err(|_| FieldError::Truncated("topic id"))?;
        buf.advance(16);
        let partitions = assignment.entry(topic).or_default();
        for _ in 0..get_array_len(buf)? {
            partitions.insert(get_i32(buf, "partition")?);
        }
        skip_tags(buf)?;
    }
    Ok(assignment)
}

/// Encodes an epoch value (group epoch, v3, or target assignment epoch, v6).
pub fn encode_epoch(buf: &mut BytesMut, epoch: i32) {
    buf.put_i16(0);
    buf.put_i32(epoch);
    put_tags(buf);
}

/// Decodes an epoch value after its version.
pub fn decode_epoch(buf: &mut &[u8]) -> Result<i32, FieldError> {
    let epoch = get_i32(buf, "epoch")?;
    skip_tags(buf)?;
    Ok(epoch)
}

/// Encodes a member's subscription (key version 5).
pub fn encode_member(buf: &mut BytesMut, m: &StoredConsumerMember) {
    buf.put_i16(0);
    put_compact_string(buf, m.instance_id.as_deref());
    put_compact_string(buf, m.rack_id.as_deref());
    put_compact_string(buf, Some(&m.client_id));
    put_compact_string(buf, Some(&m.client_host));
    put_uvarint(buf, m.topic_names.len() as u64 + 1);
    for name in &m.topic_names {
        put_compact_string(buf, Some(name));
    }
    put_compact_string(buf, m.topic_regex.as_deref());
    buf.put_i32(m.rebalance_timeout_ms);
    put_compact_string(buf, m.server_assignor.as_deref());
    put_tags(buf);
}

/// Decodes a member's subscription after its version.
pub fn decode_member(buf: &mut &[u8]) -> Result<StoredConsumerMember, FieldError> {
    let instance_id = get_compact_string(buf)?;
    let rack_id = get_compact_string(buf)?;
    let client_id = get_string(buf)?;
    let client_host = get_string(buf)?;
    let mut topic_names = Vec::new();
    for _ in 0..get_array_len(buf)? {
        topic_names.push(get_string(buf)?);
    }
    let topic_regex = get_compact_string(buf)?;
    let rebalance_timeout_ms = get_i32(buf, "rebalance timeout")?;
    let server_assignor = get_compact_string(buf)?;
    skip_tags(buf)?;
    Ok(StoredConsumerMember {
        instance_id,
        rack_id,
        client_id,
        client_host,
        topic_names,
        topic_regex,
        rebalance_timeout_ms,
        server_assignor,
    })
}

/// Encodes one member's target assignment (key version 7).
pub fn encode_target(buf: &mut BytesMut, assignment: &Assignment) {
    buf.put_i16(0);
    put_assignment(buf, assignment);
    put_tags(buf);
}

/// Decodes one member's target assignment after its version.
pub fn decode_target(buf: &mut &[u8]) -> Result<Assignment, FieldError> {
    let assignment = get_assignment(buf)?;
    skip_tags(buf)?;
    Ok(assignment)
}

/// Encodes a member's current assignment (key version 8).
pub fn encode_current(buf: &mut BytesMut, a: &StoredAssignment) {
    buf.put_i16(0);
    buf.put_i32(a.epoch);
    buf.put_i32(a.previous_epoch);
    buf.put_i8(a.state);
    put_assignment(buf, &a.assigned);
    put_assignment(buf, &a.pending_revocation);
    put_tags(buf);
}

/// Decodes a member's current assignment after its version.
pub fn decode_current(buf: &mut &[u8]) -> Result<StoredAssignment, FieldError> {
    let epoch = get_i32(buf, "member epoch")?;
    let previous_epoch = get_i32(buf, "previous member epoch")?;
    let state = get_i8(buf, "member state")?;
    let assigned = get_assignment(buf)?;
    let pending_revocation = get_assignment(buf)?;
    skip_tags(buf)?;
    Ok(StoredAssignment { epoch, previous_epoch, state, assigned, pending_revocation })
}
