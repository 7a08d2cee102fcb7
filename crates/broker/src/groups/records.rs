//! The records of `__consumer_offsets`, in Kafka's own schemas, so the group log reads like
//! Kafka's: offset commits (key version 1, value version 3) and group metadata (key version 2,
//! value version 3), and the records of KIP-848 consumer groups ([`super::consumer_records`]).
//! A record with no value is a tombstone that deletes its key.

use bytes::{BufMut, Bytes, BytesMut};

use super::assignor::Assignment;
use super::consumer_records::{self as consumer, StoredAssignment, StoredConsumerMember};
use crate::schema_fields::{
    FieldError, get_bytes, get_i16, get_i32, get_i64, get_nullable_string, get_string, put_bytes, put_nullable_string,
    put_string,
};

/// Key version of an offset commit.
const OFFSET_KEY_VERSION: i16 = 1;
/// Value version of an offset commit: offset, leader epoch, metadata, commit timestamp.
const OFFSET_VALUE_VERSION: i16 = 3;
/// Key version of group metadata.
const GROUP_KEY_VERSION: i16 = 2;
/// Value version of group metadata (with static member ids).
const GROUP_VALUE_VERSION: i16 = 3;

/// Which committed offset or group a record is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKey {
    /// The committed offset of one partition for one group.
    Offset {
        /// Group id.
        group: String,
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// A group's membership and generation.
    Group {
        /// Group id.
        group: String,
    },
    /// A consumer group's epoch (KIP-848); its tombstone ends the consumer group.
    ConsumerGroup {
        /// Group id.
        group: String,
    },
    /// A consumer group member's subscription.
    ConsumerMember {
        /// Group id.
        group: String,
        /// Member id.
        member: String,
    },
    /// The epoch of a consumer group's target assignment.
    TargetEpoch {
        /// Group id.
        group: String,
    },
    /// One member's target assignment.
    TargetMember {
        /// Group id.
        group: String,
        /// Member id.
        member: String,
    },
    /// One member's current assignment and epoch.
    CurrentAssignment {
        /// Group id.
        group: String,
        /// Member id.
        member: String,
    },
}

impl RecordKey {
    /// The group the record is about.
    pub fn group(&self) -> &str {
        match self {
            RecordKey::Offset { group, .. }
            | RecordKey::Group { group }
            | RecordKey::ConsumerGroup { group }
            | RecordKey::ConsumerMember { group, .. }
            | RecordKey::TargetEpoch { group }
            | RecordKey::TargetMember { group, .. }
            | RecordKey::CurrentAssignment { group, .. } => group,
        }
    }
}

/// A committed offset with what Kafka keeps beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group will read.
    pub offset: i64,
    /// Leader epoch the client saw at that offset, or -1.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: String,
    /// When the commit arrived (ms since the epoch).
    pub commit_timestamp: i64,
}

/// One member as stored in group metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    /// Member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// How long a rebalance waits for it.
    pub rebalance_timeout_ms: i32,
    /// How long it may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// Its metadata for the chosen protocol (the consumer's subscription).
    pub subscription: Bytes,
    /// What the leader assigned it.
    pub assignment: Bytes,
}

/// A group's generation and members, written when a generation completes or the group empties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    /// `consumer` for Kafka consumers; empty for a group that only commits offsets.
    pub protocol_type: String,
    /// Generation id.
    pub generation: i32,
    /// The chosen assignor, e.g. `range`.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// When the group entered its current state.
    pub state_timestamp: i64,
    /// Members and their assignments.
    pub members: Vec<StoredMember>,
}

/// A record's value; `None` in a [`Record`] is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordValue {
    /// For [`RecordKey::Offset`].
    Offset(CommittedOffset),
    /// For [`RecordKey::Group`].
    Group(StoredGroup),
    /// For [`RecordKey::ConsumerGroup`] and [`RecordKey::TargetEpoch`].
    Epoch(i32),
    /// For [`RecordKey::ConsumerMember`].
    ConsumerMember(StoredConsumerMember),
    /// For [`RecordKey::TargetMember`].
    Target(Assignment),
    /// For [`RecordKey::CurrentAssignment`].
    Current(StoredAssignment),
}

/// One record of the group log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What it is about.
    pub key: RecordKey,
    /// The new value, or `None` to delete.
    pub value: Option<RecordValue>,
}

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// A field is cut short or not UTF-8.
    #[error("group record: {0}")]
    Field(#[from] FieldError),
    /// A key or value version this broker does not know.
    #[error("unknown group record {0} version {1}")]
    UnknownVersion(&'static str, i16),
    /// A value whose kind does not match its key.
    #[error("group record value does not match its key")]
    Mismatch,
}

impl Record {
    /// Encodes the key and value (`None` for a tombstone).
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        match &self.key {
            RecordKey::Offset { group, topic, partition } => {
                key.put_i16(OFFSET_KEY_VERSION);
                put_string(&mut key, group);
                put_string(&mut key, topic);
                key.put_i32(*partition);
            }
            RecordKey::Group { group } => {
                key.put_i16(GROUP_KEY_VERSION);
                put_string(&mut key, group);
            }
            RecordKey::ConsumerGroup { group } | RecordKey::TargetEpoch { group } => {
                let version = if matches!(self.key, RecordKey::ConsumerGroup { .. }) {
                    consumer::GROUP_EPOCH_KEY
                } else {
                    consumer::TARGET_EPOCH_KEY
                };
                key.put_i16(version);
                put_string(&mut key, group);
            }
            RecordKey::ConsumerMember { group, member }
            | RecordKey::TargetMember { group, member }
            | RecordKey::CurrentAssignment { group, member } => {
                key.put_i16(match self.key {
                    RecordKey::ConsumerMember { .. } => consumer::MEMBER_KEY,
                    RecordKey::TargetMember { .. } => consumer::TARGET_MEMBER_KEY,
                    _ => consumer::CURRENT_ASSIGNMENT_KEY,
                });
                put_string(&mut key, group);
                put_string(&mut key, member);
            }
        }
        let value = self.value.as_ref().map(|value| {
            let mut buf = BytesMut::new();
            match value {
                RecordValue::Offset(o) => {
                    buf.put_i16(OFFSET_VALUE_VERSION);
                    buf.put_i64(o.offset);
                    buf.put_i32(o.leader_epoch);
                    put_string(&mut buf, &o.metadata);
                    buf.put_i64(o.commit_timestamp);
                }
                RecordValue::Group(g) => {
                    buf.put_i16(GROUP_VALUE_VERSION);
                    put_string(&mut buf, &g.protocol_type);
                    buf.put_i32(g.generation);
                    put_nullable_string(&mut buf, g.protocol.as_deref());
                    put_nullable_string(&mut buf, g.leader.as_deref());
                    buf.put_i64(g.state_timestamp);
                    buf.put_i32(g.members.len() as i32);
                    for m in &g.members {
                        put_string(&mut buf, &m.member_id);
                        put_nullable_string(&mut buf, m.group_instance_id.as_deref());
                        put_string(&mut buf, &m.client_id);
                        put_string(&mut buf, &m.client_host);
                        buf.put_i32(m.rebalance_timeout_ms);
                        buf.put_i32(m.session_timeout_ms);
                        put_bytes(&mut buf, &m.subscription);
                        put_bytes(&mut buf, &m.assignment);
                    }
                }
                RecordValue::Epoch(epoch) => consumer::encode_epoch(&mut buf, *epoch),
                RecordValue::ConsumerMember(m) => consumer::encode_member(&mut buf, m),
                RecordValue::Target(a) => consumer::encode_target(&mut buf, a),
                RecordValue::Current(a) => consumer::encode_current(&mut buf, a),
            }
            buf.freeze()
        });
        (key.freeze(), value)
    }

    /// Decodes a stored key and value.
    pub fn decode(mut key: &[u8], value: Option<&[u8]>) -> Result<Record, RecordError> {
        let version = get_i16(&mut key, "key version")?;
        let key = match version {
            0 | 1 => RecordKey::Offset {
                group: get_string(&mut key)?,
                topic: get_string(&mut key)?,
                partition: get_i32(&mut key, "partition")?,
            },
            2 => RecordKey::Group { group: get_string(&mut key)? },
            consumer::GROUP_EPOCH_KEY => RecordKey::ConsumerGroup { group: get_string(&mut key)? },
            consumer::TARGET_EPOCH_KEY => RecordKey::TargetEpoch { group: get_string(&mut key)? },
            consumer::MEMBER_KEY => {
                RecordKey::ConsumerMember { group: get_string(&mut key)?, member: get_string(&mut key)? }
            }
            consumer::TARGET_MEMBER_KEY => {
                RecordKey::TargetMember { group: get_string(&mut key)?, member: get_string(&mut key)? }
            }
            consumer::CURRENT_ASSIGNMENT_KEY => {
                RecordKey::CurrentAssignment { group: get_string(&mut key)?, member: get_string(&mut key)? }
            }
            v => return Err(RecordError::UnknownVersion("key", v)),
        };
        let Some(mut value) = value else {
            return Ok(Record { key, value: None });
        };
        let version = get_i16(&mut value, "value version")?;
        let value = match (&key, version) {
            (RecordKey::Offset { .. }, 0..=3) => {
                let offset = get_i64(&mut value, "offset")?;
                let leader_epoch = if version >= 3 { get_i32(&mut value, "leader epoch")? } else { -1 };
                let metadata = get_string(&mut value)?;
                let commit_timestamp = get_i64(&mut value, "commit timestamp")?;
                if version == 1 {
                    get_i64(&mut value, "expire timestamp")?;
                }
                RecordValue::Offset(CommittedOffset { offset, leader_epoch, metadata, commit_timestamp })
            }
            (RecordKey::Group { .. }, 3) => {
                let protocol_type = get_string(&mut value)?;
                let generation = get_i32(&mut value, "generation")?;
                let protocol = get_nullable_string(&mut value)?;
                let leader = get_nullable_string(&mut value)?;
                let state_timestamp = get_i64(&mut value, "state timestamp")?;
                let count = get_i32(&mut value, "member count")?.max(0) as usize;
                let mut members = Vec::with_capacity(count.min(value.len()));
                for _ in 0..count {
                    members.push(StoredMember {
                        member_id: get_string(&mut value)?,
                        group_instance_id: get_nullable_string(&mut value)?,
                        client_id: get_string(&mut value)?,
                        client_host: get_string(&mut value)?,
                        rebalance_timeout_ms: get_i32(&mut value, "rebalance timeout")?,
                        session_timeout_ms: get_i32(&mut value, "session timeout")?,
                        subscription: get_bytes(&mut value)?,
                        assignment: get_bytes(&mut value)?,
                    });
                }
                RecordValue::Group(StoredGroup {
                    protocol_type,
                    generation,
                    protocol,
                    leader,
                    state_timestamp,
                    members,
                })
            }
            (RecordKey::ConsumerGroup { .. } | RecordKey::TargetEpoch { .. }, 0) => {
                RecordValue::Epoch(consumer::decode_epoch(&mut value)?)
            }
            (RecordKey::ConsumerMember { .. }, 0) => RecordValue::ConsumerMember(consumer::decode_member(&mut value)?),
            (RecordKey::TargetMember { .. }, 0) => RecordValue::Target(consumer::decode_target(&mut value)?),
            (RecordKey::CurrentAssignment { .. }, 0) => RecordValue::Current(consumer::decode_current(&mut value)?),
            (RecordKey::Offset { .. }, v) => return Err(RecordError::UnknownVersion("offset value", v)),
            (RecordKey::Group { .. }, v) => return Err(RecordError::UnknownVersion("group value", v)),
            (_, v) => return Err(RecordError::UnknownVersion("consumer group value", v)),
        };
        Ok(Record { key, value: Some(value) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: Record) {
        let (key, value) = record.encode();
        assert_eq!(Record::decode(&key, value.as_deref()), Ok(record));
    }

    #[test]
    fn offset_commits_group_metadata_and_tombstones_round_trip() {
        let offset_key = RecordKey::Offset { group: "g".into(), topic: "t".into(), partition: 3 };
        round_trip(Record {
            key: offset_key.clone(),
            value: Some(RecordValue::Offset(CommittedOffset {
                offset: 42,
                leader_epoch: 0,
                metadata: "bookmark".into(),
                commit_timestamp: 1_700_000_000_000,
            })),
        });
        round_trip(Record { key: offset_key, value: None });
        round_trip(Record {
            key: RecordKey::Group { group: "g".into() },
            value: Some(RecordValue::Group(StoredGroup {
                protocol_type: "consumer".into(),
                generation: 7,
                protocol: Some("range".into()),
                leader: Some("m-1".into()),
                state_timestamp: 5,
                members: vec![StoredMember {
                    member_id: "m-1".into(),
                    group_instance_id: Some("static-1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"assign"),
                }],
            })),
        });
    }

    #[test]
    fn consumer_group_records_round_trip() {
        let topic = uuid::Uuid::from_bytes([7; 16]);
        let assignment: Assignment = [(topic, [0, 3].into_iter().collect())].into_iter().collect();
        let (group, member) = ("g".to_string(), "m-1".to_string());
        round_trip(Record {
            key: RecordKey::ConsumerGroup { group: group.clone() },
            value: Some(RecordValue::Epoch(4)),
        });
        round_trip(Record { key: RecordKey::TargetEpoch { group: group.clone() }, value: Some(RecordValue::Epoch(3)) });
        round_trip(Record {
            key: RecordKey::ConsumerMember { group: group.clone(), member: member.clone() },
            value: Some(RecordValue::ConsumerMember(StoredConsumerMember {
                instance_id: Some("i".into()),
                rack_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                topic_names: vec!["a".into(), "b".into()],
                topic_regex: Some("orders-.*".into()),
                rebalance_timeout_ms: 300_000,
                server_assignor: Some("uniform".into()),
            })),
        });
        round_trip(Record {
            key: RecordKey::TargetMember { group: group.clone(), member: member.clone() },
            value: Some(RecordValue::Target(assignment.clone())),
        });
        round_trip(Record {
            key: RecordKey::CurrentAssignment { group: group.clone(), member: member.clone() },
            value: Some(RecordValue::Current(StoredAssignment {
                epoch: 4,
                previous_epoch: 3,
                state: 2,
                assigned: assignment.clone(),
                pending_revocation: assignment,
            })),
        });
        round_trip(Record { key: RecordKey::CurrentAssignment { group, member }, value: None });
    }

    #[test]
    fn the_key_layout_is_kafkas() {
        let (key, value) = Record {
            key: RecordKey::Offset { group: "g".into(), topic: "t".into(), partition: 1 },
            value: Some(RecordValue::Offset(CommittedOffset {
                offset: 9,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: 2,
            })),
        }
        .encode();
        assert_eq!(&key[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 1]);
        let value = value.expect("value");
        assert_eq!(&value[..2], &[0, 3]);
        assert_eq!(value.len(), 2 + 8 + 4 + 2 + 8);
    }

    #[test]
    fn truncated_and_unknown_records_are_errors_not_panics() {
        let (key, value) = Record {
            key: RecordKey::Group { group: "group".into() },
            value: Some(RecordValue::Group(StoredGroup {
                protocol_type: "consumer".into(),
                generation: 1,
                protocol: None,
                leader: None,
                state_timestamp: 0,
                members: vec![],
            })),
        }
        .encode();
        let value = value.expect("value");
        for cut in 0..value.len() {
            assert!(Record::decode(&key, Some(&value[..cut])).is_err());
        }
        for cut in 0..key.len() {
            assert!(Record::decode(&key[..cut], None).is_err());
        }
        assert_eq!(Record::decode(&[0, 9], None), Err(RecordError::UnknownVersion("key", 9)));
    }
}
