//! CreateAcls, DescribeAcls and DeleteAcls (KIP-140, prefixed patterns of KIP-290), as
//! Kafka's authorizer answers them: describing needs Describe on the cluster, creating and
//! deleting Alter on it; bad bindings and filters get INVALID_REQUEST with a message saying
//! which field is wrong; every change is saved before it is acknowledged.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::api::{Handled, RequestContext};
use crate::security::acl::{AclBinding, AclFilter, Operation, PatternFilter, PatternType, Permission, ResourceType};
use crate::security::authorizer::CLUSTER;

const ANY: i8 = 1;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A principal as Kafka writes one: `Type:name`.
fn check_principal(principal: &str) -> Result<(), String> {
    match principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(format!("principal {principal:?} is not of the form User:NAME")),
    }
}

fn binding(
    creation: &kafka_protocol::messages::create_acls_request::AclCreation,
    version: i16,
) -> Result<AclBinding, String> {
    let resource_type = ResourceType::from_code(creation.resource_type)
        .ok_or_else(|| format!("resource type {} is not one an ACL can name", creation.resource_type))?;
    let pattern = match (version, creation.resource_pattern_type) {
        (0, _) | (_, 3) => PatternType::Literal,
        (_, 4) => PatternType::Prefixed,
        (_, other) => return Err(format!("pattern type {other}: an ACL is LITERAL (3) or PREFIXED (4)")),
    };
    let name = creation.resource_name.to_string();
    if name.is_empty() {
        return Err("the resource name is empty".into());
    }
    if resource_type == ResourceType::Cluster && name != CLUSTER {
        return Err(format!("the cluster resource is named {CLUSTER}, not {name:?}"));
    }
    if pattern == PatternType::Prefixed && name == "*" {
        return Err("a PREFIXED pattern cannot be *; use a LITERAL *".into());
    }
    let principal = creation.principal.to_string();
    check_principal(&principal)?;
    let host = creation.host.to_string();
    if host.is_empty() {
        return Err("the host is empty; use * for any".into());
    }
    let operation = Operation::from_code(creation.operation)
        .ok_or_else(|| format!("operation {} is not one an ACL can name", creation.operation))?;
    let permission = Permission::from_code(creation.permission_type)
        .ok_or_else(|| format!("permission type {}: an ACL is ALLOW (3) or DENY (2)", creation.permission_type))?;
    Ok(AclBinding { resource_type, name, pattern, principal, host, operation, permission })
}

/// A filter from its wire fields.
#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: i8,
    name: Option<&StrBytes>,
    pattern: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
    version: i16,
) -> Result<AclFilter, String> {
    let resource_type = match resource_type {
        ANY => None,
        code => Some(ResourceType::from_code(code).ok_or_else(|| format!("resource type filter {code} is unknown"))?),
    };
    let pattern = if version == 0 {
        PatternFilter::Literal
    } else {
        PatternFilter::from_code(pattern).ok_or_else(|| format!("pattern type filter {pattern} is unknown"))?
    };
    let operation = match operation {
        ANY => None,
        code => Some(Operation::from_code(code).ok_or_else(|| format!("operation filter {code} is unknown"))?),
    };
    let permission = match permission {
        ANY => None,
        code => Some(Permission::from_code(code).ok_or_else(|| format!("permission filter {code} is unknown"))?),
    };
    Ok(AclFilter {
        resource_type,
        name: name.map(|n| n.to_string()),
        pattern,
        principal: principal.map(|p| p.to_string()),
        host: host.map(|h| h.to_string()),
        operation,
        permission,
    })
}

/// Answers CreateAcls: each creation is checked and added (once; a binding already there is
/// not added twice), and the whole set saved before the answer.
pub fn create(ctx: &RequestContext, request: CreateAclsRequest) -> Handled<CreateAclsResponse> {
    let refused = !ctx.allowed_on_cluster(Operation::Alter);
    let mut results = Vec::with_capacity(request.creations.len());
    let mut accepted = Vec::new();
    for creation in &request.creations {
        let result = if refused {
            AclCreationResult::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code())
        } else {
            match binding(creation, ctx.version) {
                Ok(binding) => {
                    accepted.push((results.len(), binding));
                    AclCreationResult::default()
                }
                Err(reason) => AclCreationResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(text(&reason))),
            }
        };
        results.push(result);
    }
    if !accepted.is_empty() {
        let saved = ctx.broker.authorizer.acls.update(|acls| {
            for (_, binding) in &accepted {
                if !acls.contains(binding) {
                    acls.push(binding.clone());
                }
            }
        });
        match saved {
            Ok(()) => {
                for (_, binding) in &accepted {
                    tracing::info!(principal = %ctx.principal, acl = ?binding, "ACL created");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "could not save the ACLs");
                for (index, _) in &accepted {
                    results[*index] = AclCreationResult::default()
                        .with_error_code(ResponseError::KafkaStorageError.code())
                        .with_error_message(Some(text(&format!("the ACLs could not be saved: {e}"))));
                }
            }
        }
    }
    Handled::Ready(CreateAclsResponse::default().with_results(results))
}

/// Answers DescribeAcls: the bindings the filter matches, grouped by resource pattern.
pub fn describe(ctx: &RequestContext, request: DescribeAclsRequest) -> Handled<DescribeAclsResponse> {
    if !ctx.allowed_on_cluster(Operation::Describe) {
        return Handled::Ready(
            DescribeAclsResponse::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
        );
    }
    let filter = match filter(
        request.resource_type_filter,
        request.resource_name_filter.as_ref(),
        request.pattern_type_filter,
        request.principal_filter.as_ref(),
        request.host_filter.as_ref(),
        request.operation,
        request.permission_type,
        ctx.version,
    ) {
        Ok(filter) => filter,
        Err(reason) => {
            return Handled::Ready(
                DescribeAclsResponse::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(text(&reason))),
            );
        }
    };
    let mut matched: Vec<AclBinding> =
        ctx.broker.authorizer.acls.snapshot().iter().filter(|b| filter.matches(b)).cloned().collect();
    matched.sort();
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for binding in matched {
        let description = AclDescription::default()
            .with_principal(text(&binding.principal))
            .with_host(text(&binding.host))
            .with_operation(binding.operation.code())
            .with_permission_type(binding.permission.code());
        match resources.last_mut() {
            Some(last)
                if last.resource_type == binding.resource_type.code()
                    && last.resource_name.as_str() == binding.name
                    && last.pattern_type == binding.pattern.code() =>
            {
                last.acls.push(description)
            }
            _ => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(binding.resource_type.code())
                    .with_resource_name(text(&binding.name))
                    .with_pattern_type(binding.pattern.code())
                    .with_acls(vec![description]),
            ),
        }
    }
    Handled::Ready(DescribeAclsResponse::default().with_resources(resources))
}

/// Answers DeleteAcls: each filter removes what it matches and lists it.
pub fn delete(ctx: &RequestContext, request: DeleteAclsRequest) -> Handled<DeleteAclsResponse> {
    if !ctx.allowed_on_cluster(Operation::Alter) {
        let results = request
            .filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            })
            .collect();
        return Handled::Ready(DeleteAclsResponse::default().with_filter_results(results));
    }
    let filters: Vec<Result<AclFilter, String>> = request
        .filters
        .iter()
        .map(|f| {
            filter(
                f.resource_type_filter,
                f.resource_name_filter.as_ref(),
                f.pattern_type_filter,
                f.principal_filter.as_ref(),
                f.host_filter.as_ref(),
                f.operation,
                f.permission_type,
                ctx.version,
            )
        })
        .collect();
    let removed = ctx.broker.authorizer.acls.update(|acls| {
        filters
            .iter()
            .map(|filter| match filter {
                Ok(filter) => {
                    let matched: Vec<AclBinding> = acls.iter().filter(|b| filter.matches(b)).cloned().collect();
                    acls.retain(|b| !filter.matches(b));
                    Ok(matched)
                }
                Err(reason) => Err(reason.clone()),
            })
            .collect::<Vec<_>>()
    });
    let results = match removed {
        Ok(removed) => removed
            .into_iter()
            .map(|result| match result {
                Ok(matched) => {
                    for binding in &matched {
                        tracing::info!(principal = %ctx.principal, acl = ?binding, "ACL deleted");
                    }
                    DeleteAclsFilterResult::default().with_matching_acls(
                        matched
                            .into_iter()
                            .map(|b| {
                                DeleteAclsMatchingAcl::default()
                                    .with_resource_type(b.resource_type.code())
                                    .with_resource_name(text(&b.name))
                                    .with_pattern_type(b.pattern.code())
                                    .with_principal(text(&b.principal))
                                    .with_host(text(&b.host))
                                    .with_operation(b.operation.code())
                                    .with_permission_type(b.permission.code())
                            })
                            .collect(),
                    )
                }
                Err(reason) => DeleteAclsFilterResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(text(&reason))),
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "could not save the ACLs");
            request
                .filters
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(ResponseError::KafkaStorageError.code())
                        .with_error_message(Some(text(&format!("the ACLs could not be saved: {e}"))))
                })
                .collect()
        }
    };
    Handled::Ready(DeleteAclsResponse::default().with_filter_results(results))
}
