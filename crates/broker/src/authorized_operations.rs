//! The operations a client may perform on a resource, as Metadata, DescribeCluster,
//! DescribeGroups and DescribeTopicPartitions report them when asked (KIP-430): each operation
//! the resource type supports that the authorizer allows the client.

use crate::api::RequestContext;
use crate::security::acl::{Operation, ResourceType};
use crate::security::authorizer::CLUSTER;

/// What the field holds when the client did not ask (Kafka's `Integer.MIN_VALUE`).
pub const NOT_REQUESTED: i32 = i32::MIN;

const TOPIC: [Operation; 8] = [
    Operation::Read,
    Operation::Write,
    Operation::Create,
    Operation::Delete,
    Operation::Alter,
    Operation::Describe,
    Operation::DescribeConfigs,
    Operation::AlterConfigs,
];

const CLUSTER_OPERATIONS: [Operation; 7] = [
    Operation::Create,
    Operation::ClusterAction,
    Operation::DescribeConfigs,
    Operation::AlterConfigs,
    Operation::IdempotentWrite,
    Operation::Alter,
    Operation::Describe,
];

const GROUP: [Operation; 3] = [Operation::Read, Operation::Describe, Operation::Delete];

fn bits(ctx: &RequestContext, resource_type: ResourceType, name: &str, operations: &[Operation]) -> i32 {
    operations.iter().filter(|op| ctx.allowed(**op, resource_type, name)).fold(0, |set, op| set | (1 << op.code()))
}

/// Topic `name`'s operations allowed to the client.
pub fn topic(ctx: &RequestContext, name: &str) -> i32 {
    bits(ctx, ResourceType::Topic, name, &TOPIC)
}

/// The cluster's operations allowed to the client.
pub fn cluster(ctx: &RequestContext) -> i32 {
    bits(ctx, ResourceType::Cluster, CLUSTER, &CLUSTER_OPERATIONS)
}

/// Group `name`'s operations allowed to the client.
pub fn group(ctx: &RequestContext, name: &str) -> i32 {
    bits(ctx, ResourceType::Group, name, &GROUP)
}

/// `operations()` if the request asked for them, otherwise [`NOT_REQUESTED`].
pub fn if_requested(requested: bool, operations: impl FnOnce() -> i32) -> i32 {
    if requested { operations() } else { NOT_REQUESTED }
}
