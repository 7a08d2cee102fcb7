//! The operations a client may perform on a resource, as Metadata, DescribeCluster and
//! DescribeGroups report them when asked (KIP-430). runnel has no authorizer, so, like a Kafka
//! broker without one, it reports every operation the resource type supports.

/// Kafka's `AclOperation` codes.
const READ: i32 = 3;
const WRITE: i32 = 4;
const CREATE: i32 = 5;
const DELETE: i32 = 6;
const ALTER: i32 = 7;
const DESCRIBE: i32 = 8;
const CLUSTER_ACTION: i32 = 9;
const DESCRIBE_CONFIGS: i32 = 10;
const ALTER_CONFIGS: i32 = 11;
const IDEMPOTENT_WRITE: i32 = 12;

/// What the field holds when the client did not ask (Kafka's `Integer.MIN_VALUE`).
pub const NOT_REQUESTED: i32 = i32::MIN;

fn bits(operations: &[i32]) -> i32 {
    operations.iter().fold(0, |set, op| set | (1 << op))
}

/// A topic's operations: read, write, create, delete, alter, describe and both config ones.
pub fn topic() -> i32 {
    bits(&[READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS])
}

/// The cluster's operations: create, cluster action, both config ones, idempotent write,
/// alter and describe.
pub fn cluster() -> i32 {
    bits(&[CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE])
}

/// A consumer group's operations: read, describe and delete.
pub fn group() -> i32 {
    bits(&[READ, DESCRIBE, DELETE])
}

/// `operations` if the request asked for them, otherwise [`NOT_REQUESTED`].
pub fn if_requested(requested: bool, operations: i32) -> i32 {
    if requested { operations } else { NOT_REQUESTED }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_resource_reports_the_operations_kafka_supports_for_it() {
        assert_eq!(topic().count_ones(), 8);
        assert_eq!(cluster().count_ones(), 7);
        assert_eq!(group(), 0b1_0100_1000);
        assert_eq!(if_requested(false, topic()), i32::MIN);
    }
}
