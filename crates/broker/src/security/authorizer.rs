//! The authorizer every request passes: `super.users` may do anything; anyone else needs an
//! ACL allowing the operation (and none denying it), or, where no ACL speaks of the resource
//! at all, `allow.everyone.if.no.acl.found`, which defaults to false as soon as a listener
//! authenticates its clients (SASL, or required client certificates), and to true on a broker
//! where everyone is `User:ANONYMOUS` anyway.

use std::path::Path;

use super::acl::{AclStore, Decision, Operation, ResourceType, decide};

/// The name of the one cluster resource.
pub const CLUSTER: &str = "kafka-cluster";

/// ACL checks for the broker.
#[derive(Debug)]
pub struct Authorizer {
    /// The ACLs, kept durably.
    pub acls: AclStore,
    super_users: Vec<String>,
    allow_everyone_if_no_acl: bool,
}

impl Authorizer {
    /// The authorizer over the ACLs stored in `data_dir`.
    pub fn open(
        data_dir: &Path,
        super_users: Vec<String>,
        allow_everyone_if_no_acl: bool,
    ) -> std::io::Result<Authorizer> {
        Ok(Authorizer { acls: AclStore::open(data_dir)?, super_users, allow_everyone_if_no_acl })
    }

    /// Whether `principal` connecting from `host` may perform `operation` on resource `name` of
    /// type `resource_type`.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        // No ACL at all: no lock, no scan (every request of an open broker comes here).
        if self.acls.is_empty() {
            return self.allow_everyone_if_no_acl || self.super_users.iter().any(|user| user == principal);
        }
        if self.super_users.iter().any(|user| user == principal) {
            return true;
        }
        match decide(&self.acls.snapshot(), principal, host, operation, resource_type, name) {
            Decision::Allow => true,
            Decision::Deny => false,
            Decision::NoAcl => self.allow_everyone_if_no_acl,
        }
    }

    /// Whether `principal` may perform `operation` on some resource of `resource_type` (any
    /// name): Kafka's check for an idempotent producer, which needs Write on any topic.
    pub fn authorize_any(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.super_users.iter().any(|user| user == principal) || self.allow_everyone_if_no_acl {
            return true;
        }
        let acls = self.acls.snapshot();
        acls.iter()
            .filter(|b| b.resource_type == resource_type && b.permission == super::acl::Permission::Allow)
            .any(|b| decide(&acls, principal, host, operation, resource_type, &b.name) == Decision::Allow)
    }
}
