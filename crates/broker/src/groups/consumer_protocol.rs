//! Reads the topics out of a consumer's subscription (the metadata of the `consumer` protocol
//! type), so OffsetDelete can refuse topics a live group still reads.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::Decodable;

/// Highest subscription version kafka-protocol decodes; newer ones are read as this one, as
/// Kafka does (later versions only append fields).
const MAX_VERSION: i16 = 3;

/// Topics named in a consumer-protocol subscription; empty if it cannot be read.
pub fn subscription_topics(metadata: &[u8]) -> Vec<String> {
    let mut buf = Bytes::copy_from_slice(metadata);
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, MAX_VERSION);
    ConsumerProtocolSubscription::decode(&mut buf, version)
        .map(|s| s.topics.into_iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// The partitions of a consumer-protocol assignment, by topic, each topic's sorted; empty if
/// it cannot be read.
pub fn assignment_partitions(assignment: &[u8]) -> Vec<(String, Vec<i32>)> {
    let mut buf = Bytes::copy_from_slice(assignment);
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, MAX_ASSIGNMENT_VERSION);
    ConsumerProtocolAssignment::decode(&mut buf, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|t| {
                    let mut partitions = t.partitions;
                    partitions.sort_unstable();
                    (t.topic.to_string(), partitions)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A consumer-protocol assignment (version 0) of these partitions by topic.
pub fn encode_assignment(partitions: &[(String, Vec<i32>)]) -> Bytes {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        partitions
            .iter()
            .map(|(topic, ps)| {
                TopicPartition::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    let mut buf = bytes::BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    if assignment.encode(&mut buf, 0).is_err() {
        return Bytes::new();
    }
    buf.freeze()
}

/// Highest assignment version kafka-protocol decodes (later versions only append fields).
const MAX_ASSIGNMENT_VERSION: i16 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_topics_of_a_subscription_and_survives_garbage() {
        // Version 0: topics, then user data.
        let mut sub = vec![0, 0, 0, 0, 0, 2];
        for t in ["orders", "chat"] {
            sub.extend_from_slice(&(t.len() as i16).to_be_bytes());
            sub.extend_from_slice(t.as_bytes());
        }
        sub.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(subscription_topics(&sub), vec!["orders".to_string(), "chat".to_string()]);
        for cut in 0..sub.len() {
            subscription_topics(&sub[..cut]);
        }
        assert!(subscription_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_empty());
    }

    #[test]
    fn reads_the_partitions_of_an_assignment_and_survives_garbage() {
        // Version 0: [topic, [partition]], then user data.
        let mut assignment = vec![0, 0, 0, 0, 0, 1, 0, 6];
        assignment.extend_from_slice(b"orders");
        assignment.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(assignment_partitions(&assignment), vec![("orders".to_string(), vec![0, 3])], "sorted");
        for cut in 0..assignment.len() {
            assignment_partitions(&assignment[..cut]);
        }
    }
}
