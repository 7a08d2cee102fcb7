//! OffsetFetch: a group's committed offsets (-1 where it has none), for named partitions or,
//! with no topics given, for every partition it committed. v8+ asks for several groups. With
//! `require_stable` (KIP-447), a partition whose offset an open transaction is committing is
//! answered UNSTABLE_OFFSET_COMMIT, which clients retry until the transaction ends. v9 names
//! the member of a KIP-848 consumer group, which must be at its epoch.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::groups::records::CommittedOffset;
use crate::security::acl::Operation;

/// A topic's partitions with their committed offsets.
type TopicOffsets = (String, Vec<(i32, Option<CommittedOffset>)>);

/// (topic, partition, committed offset) as the group coordinator lists them.
type Row = (String, i32, Option<CommittedOffset>);

/// The rows the client may see: Describe on each topic. Asked for by name, a refused topic's
/// partitions stay, with no offset and TOPIC_AUTHORIZATION_FAILED; asked for all, they are
/// left out. Returns the rows and the refused topics.
fn authorized_rows(ctx: &RequestContext, rows: Vec<Row>, named: bool) -> (Vec<Row>, Vec<String>) {
    let mut refused: Vec<String> = Vec::new();
    let mut allowed: Vec<String> = Vec::new();
    let mut kept = Vec::with_capacity(rows.len());
    for (topic, partition, committed) in rows {
        let is_refused = if refused.contains(&topic) {
            true
        } else if allowed.contains(&topic) {
            false
        } else if ctx.allowed_on_topic(Operation::Describe, &topic) {
            allowed.push(topic.clone());
            false
        } else {
            refused.push(topic.clone());
            true
        };
        match (is_refused, named) {
            (false, _) => kept.push((topic, partition, committed)),
            (true, true) => kept.push((topic, partition, None)),
            (true, false) => {}
        }
    }
    (kept, refused)
}

/// (topic, partition, committed) rows grouped by topic, in first-seen order.
fn by_topic(rows: Vec<(String, i32, Option<CommittedOffset>)>) -> Vec<TopicOffsets> {
    let mut topics: Vec<TopicOffsets> = Vec::new();
    for (topic, partition, committed) in rows {
        match topics.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, partitions)) => partitions.push((partition, committed)),
            None => topics.push((topic, vec![(partition, committed)])),
        }
    }
    topics
}

/// (offset, leader epoch, metadata) as OffsetFetch reports them.
fn fields(committed: Option<CommittedOffset>, version: i16) -> (i64, i32, StrBytes) {
    match committed {
        Some(c) => (c.offset, if version >= 5 { c.leader_epoch } else { -1 }, StrBytes::from_string(c.metadata)),
        None => (-1, -1, StrBytes::default()),
    }
}

/// Answers OffsetFetch.
pub fn handle(ctx: &RequestContext, request: OffsetFetchRequest) -> Handled<OffsetFetchResponse> {
    let groups = &ctx.broker.groups;
    let version = ctx.version;
    let require_stable = version >= 7 && request.require_stable;
    let unstable = |group: &str, topic: &str, partition: i32| {
        if require_stable && groups.has_pending_offset(group, topic, partition) {
            ResponseError::UnstableOffsetCommit.code()
        } else {
            0
        }
    };
    if version >= 8 {
        let results = request
            .groups
            .into_iter()
            .map(|g| {
                if !ctx.allowed_on_group(Operation::Describe, g.group_id.as_str()) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code());
                }
                let member_id = g.member_id.as_ref().map(|m| m.as_str()).filter(|_| version >= 9);
                let member_epoch = if version >= 9 { g.member_epoch } else { -1 };
                if let Err(error) = groups.validate_fetch(g.group_id.as_str(), member_id, member_epoch) {
                    return OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_error_code(error);
                }
                let wanted: Option<Vec<(String, Vec<i32>)>> = g
                    .topics
                    .map(|topics| topics.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
                let rows = groups.committed(g.group_id.as_str(), wanted.as_deref());
                let (rows, refused) = authorized_rows(ctx, rows, wanted.is_some());
                let topics = by_topic(rows)
                    .into_iter()
                    .map(|(name, partitions)| {
                        let partitions = partitions
                            .into_iter()
                            .map(|(index, committed)| {
                                let (offset, epoch, metadata) = fields(committed, version);
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(index)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(epoch)
                                    .with_metadata(Some(metadata))
                                    .with_error_code(if refused.contains(&name) {
                                        ResponseError::TopicAuthorizationFailed.code()
                                    } else {
                                        unstable(g.group_id.as_str(), &name, index)
                                    })
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(StrBytes::from_string(name)))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default().with_group_id(g.group_id).with_topics(topics)
            })
            .collect();
        return Handled::Ready(OffsetFetchResponse::default().with_groups(results));
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> =
        request.topics.map(|topics| topics.into_iter().map(|t| (t.name.to_string(), t.partition_indexes)).collect());
    let group_id = request.group_id.as_str();
    if !ctx.allowed_on_group(Operation::Describe, group_id) {
        return Handled::Ready(
            OffsetFetchResponse::default().with_error_code(ResponseError::GroupAuthorizationFailed.code()),
        );
    }
    let rows = groups.committed(group_id, wanted.as_deref());
    let (rows, refused) = authorized_rows(ctx, rows, wanted.is_some());
    let topics = by_topic(rows)
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, committed)| {
                    let (offset, epoch, metadata) = fields(committed, version);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                        .with_error_code(if refused.contains(&name) {
                            ResponseError::TopicAuthorizationFailed.code()
                        } else {
                            unstable(group_id, &name, index)
                        })
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    Handled::Ready(OffsetFetchResponse::default().with_topics(topics))
}
