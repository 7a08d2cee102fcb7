//! `runnel acl`: access control lists through Kafka's CreateAcls, DescribeAcls and DeleteAcls,
//! so it manages ACLs on any Kafka-compatible cluster, as `kafka-acls.sh` and `rpk acl` do.

use anyhow::bail;
use clap::{Args, Subcommand};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use super::client::ClientArgs;
use super::output::{Output, print_json};
use super::wire::{Connection, describe_code};

/// `runnel acl` subcommands.
#[derive(Debug, Subcommand)]
pub enum AclCommand {
    /// Allow (or with --deny, deny) a principal operations on a resource.
    Add {
        #[command(flatten)]
        resource: ResourceArgs,
        /// Who: `User:alice`, or `User:*` for everyone.
        #[arg(long)]
        principal: String,
        /// What: read, write, create, delete, alter, describe, cluster-action, describe-configs,
        /// alter-configs, idempotent-write, all. Repeat for several.
        #[arg(long = "operation", required = true)]
        operations: Vec<String>,
        /// The client address it applies to.
        #[arg(long, default_value = "*")]
        host: String,
        /// Deny instead of allow (a deny wins over any allow).
        #[arg(long)]
        deny: bool,
    },
    /// List ACLs (all, or those matching the options).
    List {
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Delete the ACLs matching the options (a resource or a principal must be named).
    Delete {
        #[command(flatten)]
        filter: FilterArgs,
    },
}

/// One resource: exactly one of --topic, --group, --transactional-id, --cluster.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// A topic name (with --prefixed: a name prefix; `*` for every topic).
    #[arg(long, group = "resource")]
    topic: Option<String>,
    /// A consumer group id (with --prefixed: a prefix; `*` for every group).
    #[arg(long, group = "resource")]
    group: Option<String>,
    /// A transactional id (with --prefixed: a prefix; `*` for every id).
    #[arg(long, group = "resource")]
    transactional_id: Option<String>,
    /// The cluster (creating topics, describing and altering the broker, managing ACLs and users).
    #[arg(long, group = "resource")]
    cluster: bool,
    /// The name is a prefix (Kafka's PREFIXED pattern) rather than a literal name.
    #[arg(long)]
    prefixed: bool,
}

/// What list and delete match; anything not given matches all.
#[derive(Debug, Args)]
pub struct FilterArgs {
    #[command(flatten)]
    resource: OptionalResource,
    /// Only this principal's ACLs.
    #[arg(long)]
    principal: Option<String>,
    /// Only ACLs of this operation.
    #[arg(long)]
    operation: Option<String>,
}

/// An optional resource for filters.
#[derive(Debug, Args)]
pub struct OptionalResource {
    /// Only ACLs on this topic name (or prefix, with --prefixed).
    #[arg(long, group = "filter_resource")]
    topic: Option<String>,
    /// Only ACLs on this group.
    #[arg(long, group = "filter_resource")]
    group: Option<String>,
    /// Only ACLs on this transactional id.
    #[arg(long, group = "filter_resource")]
    transactional_id: Option<String>,
    /// Only ACLs on the cluster.
    #[arg(long, group = "filter_resource")]
    cluster: bool,
    /// Match prefixed ACLs of that name instead of literal ones.
    #[arg(long)]
    prefixed: bool,
}

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TRANSACTIONAL_ID: i8 = 5;
const ANY: i8 = 1;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;

fn resource_of(
    topic: &Option<String>,
    group: &Option<String>,
    transactional_id: &Option<String>,
    cluster: bool,
) -> Option<(i8, String)> {
    match (topic, group, transactional_id, cluster) {
        (Some(t), _, _, _) => Some((TOPIC, t.clone())),
        (_, Some(g), _, _) => Some((GROUP, g.clone())),
        (_, _, Some(t), _) => Some((TRANSACTIONAL_ID, t.clone())),
        (_, _, _, true) => Some((CLUSTER, "kafka-cluster".to_string())),
        _ => None,
    }
}

const OPERATIONS: [(&str, i8); 11] = [
    ("all", 2),
    ("read", 3),
    ("write", 4),
    ("create", 5),
    ("delete", 6),
    ("alter", 7),
    ("describe", 8),
    ("cluster-action", 9),
    ("describe-configs", 10),
    ("alter-configs", 11),
    ("idempotent-write", 12),
];

fn operation_code(name: &str) -> anyhow::Result<i8> {
    let wanted = name.to_ascii_lowercase().replace('_', "-");
    OPERATIONS.iter().find(|(n, _)| *n == wanted).map(|(_, c)| *c).ok_or_else(|| {
        let known: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
        anyhow::anyhow!("operation {name}: expected one of {}", known.join(", "))
    })
}

fn operation_name(code: i8) -> String {
    OPERATIONS.iter().find(|(_, c)| *c == code).map_or_else(|| format!("operation {code}"), |(n, _)| n.to_string())
}

fn resource_type_name(code: i8) -> &'static str {
    match code {
        TOPIC => "topic",
        GROUP => "group",
        CLUSTER => "cluster",
        TRANSACTIONAL_ID => "transactional-id",
        6 => "delegation-token",
        7 => "user",
        _ => "unknown",
    }
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// An ACL as listed.
#[derive(Debug, Serialize)]
struct Acl {
    resource_type: &'static str,
    name: String,
    pattern: &'static str,
    principal: String,
    host: String,
    operation: String,
    permission: &'static str,
}

impl Acl {
    #[allow(clippy::too_many_arguments)]
    fn new(rt: i8, name: &str, pattern: i8, principal: &str, host: &str, op: i8, permission: i8) -> Acl {
        Acl {
            resource_type: resource_type_name(rt),
            name: name.to_string(),
            pattern: if pattern == PREFIXED { "prefixed" } else { "literal" },
            principal: principal.to_string(),
            host: host.to_string(),
            operation: operation_name(op),
            permission: if permission == 2 { "deny" } else { "allow" },
        }
    }
}

fn print_acls(output: Output, acls: &[Acl]) -> anyhow::Result<()> {
    match output {
        Output::Json => print_json(&acls),
        Output::Table => {
            println!(
                "{:<18} {:<24} {:<9} {:<24} {:<10} {:<17} PERMISSION",
                "RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION"
            );
            for a in acls {
                println!(
                    "{:<18} {:<24} {:<9} {:<24} {:<10} {:<17} {}",
                    a.resource_type, a.name, a.pattern, a.principal, a.host, a.operation, a.permission
                );
            }
            Ok(())
        }
    }
}

/// Runs an acl subcommand.
pub fn run(command: AclCommand, client: &ClientArgs) -> anyhow::Result<()> {
    let mut connection = client.connection()?;
    match command {
        AclCommand::Add { resource, principal, operations, host, deny } => {
            let Some((resource_type, name)) =
                resource_of(&resource.topic, &resource.group, &resource.transactional_id, resource.cluster)
            else {
                bail!("name the resource: --topic, --group, --transactional-id or --cluster");
            };
            let pattern = if resource.prefixed { PREFIXED } else { LITERAL };
            let permission = if deny { 2 } else { 3 };
            let mut creations = Vec::new();
            let mut added = Vec::new();
            for operation in &operations {
                let op = operation_code(operation)?;
                creations.push(
                    AclCreation::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(text(&name))
                        .with_resource_pattern_type(pattern)
                        .with_principal(text(&principal))
                        .with_host(text(&host))
                        .with_operation(op)
                        .with_permission_type(permission),
                );
                added.push(Acl::new(resource_type, &name, pattern, &principal, &host, op, permission));
            }
            let request = CreateAclsRequest::default().with_creations(creations);
            let (_, response): (i16, CreateAclsResponse) = connection.call(ApiKey::CreateAcls, 3, &request)?;
            for result in &response.results {
                if result.error_code != 0 {
                    let message = result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
                    bail!("the cluster refused the ACL: {} {message}", describe_code(result.error_code));
                }
            }
            match client.output {
                Output::Json => print_json(&added),
                Output::Table => {
                    for a in &added {
                        println!(
                            "added: {} {} on {} {} ({}) from host {}",
                            a.permission, a.operation, a.resource_type, a.name, a.pattern, a.host
                        );
                    }
                    Ok(())
                }
            }
        }
        AclCommand::List { filter } => {
            let acls = describe(&mut connection, &filter)?;
            print_acls(client.output, &acls)
        }
        AclCommand::Delete { filter } => {
            let resource = &filter.resource;
            let named = resource_of(&resource.topic, &resource.group, &resource.transactional_id, resource.cluster);
            if named.is_none() && filter.principal.is_none() {
                bail!("name a resource (--topic, --group, --transactional-id, --cluster) or a --principal to delete");
            }
            let request = DeleteAclsRequest::default().with_filters(vec![wire_filter(&filter)?]);
            let (_, response): (i16, DeleteAclsResponse) = connection.call(ApiKey::DeleteAcls, 3, &request)?;
            let mut deleted = Vec::new();
            for result in &response.filter_results {
                if result.error_code != 0 {
                    let message = result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
                    bail!("the cluster refused to delete ACLs: {} {message}", describe_code(result.error_code));
                }
                for m in &result.matching_acls {
                    deleted.push(Acl::new(
                        m.resource_type,
                        m.resource_name.as_str(),
                        m.pattern_type,
                        m.principal.as_str(),
                        m.host.as_str(),
                        m.operation,
                        m.permission_type,
                    ));
                }
            }
            if client.output == Output::Table {
                println!("deleted {} ACL(s)", deleted.len());
            }
            print_acls(client.output, &deleted)
        }
    }
}

/// The options as an ACL filter on the wire (DeleteAcls carries it as is; DescribeAcls carries
/// the same fields).
fn wire_filter(filter: &FilterArgs) -> anyhow::Result<DeleteAclsFilter> {
    let r = &filter.resource;
    let (resource_type, name, pattern) = match resource_of(&r.topic, &r.group, &r.transactional_id, r.cluster) {
        Some((rt, name)) => (rt, Some(text(&name)), if r.prefixed { PREFIXED } else { LITERAL }),
        None => (ANY, None, ANY),
    };
    Ok(DeleteAclsFilter::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(name)
        .with_pattern_type_filter(pattern)
        .with_principal_filter(filter.principal.as_deref().map(text))
        .with_host_filter(None)
        .with_operation(filter.operation.as_deref().map(operation_code).transpose()?.unwrap_or(ANY))
        .with_permission_type(ANY))
}

fn describe(connection: &mut Connection, filter: &FilterArgs) -> anyhow::Result<Vec<Acl>> {
    let f = wire_filter(filter)?;
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(f.resource_type_filter)
        .with_resource_name_filter(f.resource_name_filter)
        .with_pattern_type_filter(f.pattern_type_filter)
        .with_principal_filter(f.principal_filter)
        .with_host_filter(f.host_filter)
        .with_operation(f.operation)
        .with_permission_type(f.permission_type);
    let (_, response): (i16, DescribeAclsResponse) = connection.call(ApiKey::DescribeAcls, 3, &request)?;
    if response.error_code != 0 {
        let message = response.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
        bail!("the cluster refused to list ACLs: {} {message}", describe_code(response.error_code));
    }
    Ok(response
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(move |a| {
                Acl::new(
                    r.resource_type,
                    r.resource_name.as_str(),
                    r.pattern_type,
                    a.principal.as_str(),
                    a.host.as_str(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect())
}
