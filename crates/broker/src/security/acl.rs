//! Kafka's access control lists: bindings of a resource pattern (a topic, group, the
//! cluster or a transactional id, by literal name, `*`, or name prefix) to an entry (a
//! principal, a host, an operation, allow or deny), the filters CreateAcls, DescribeAcls and
//! DeleteAcls match them with, and their durable store in the data directory (`acls.json`,
//! written atomically before a change is acknowledged).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Kafka's resource type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ResourceType {
    /// A topic (2).
    Topic,
    /// A consumer group (3).
    Group,
    /// The cluster (4); its only name is `kafka-cluster`.
    Cluster,
    /// A transactional id (5).
    TransactionalId,
    /// A delegation token (6): bindings are kept, though runnel issues no tokens.
    DelegationToken,
    /// A user (7): bindings are kept, though runnel issues no tokens.
    User,
}

impl ResourceType {
    /// From Kafka's code (`None` for UNKNOWN and ANY).
    pub fn from_code(code: i8) -> Option<ResourceType> {
        Some(match code {
            2 => ResourceType::Topic,
            3 => ResourceType::Group,
            4 => ResourceType::Cluster,
            5 => ResourceType::TransactionalId,
            6 => ResourceType::DelegationToken,
            7 => ResourceType::User,
            _ => return None,
        })
    }

    /// Kafka's code.
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
            ResourceType::DelegationToken => 6,
            ResourceType::User => 7,
        }
    }
}

/// How a binding's resource name matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum PatternType {
    /// The name itself, or every name when it is `*` (3).
    Literal,
    /// Every name starting with it (4).
    Prefixed,
}

impl PatternType {
    /// Kafka's code.
    pub fn code(self) -> i8 {
        match self {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }
}

/// Kafka's operation codes (`AclOperation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Operation {
    /// Every operation (2).
    All,
    /// 3.
    Read,
    /// 4.
    Write,
    /// 5.
    Create,
    /// 6.
    Delete,
    /// 7.
    Alter,
    /// 8.
    Describe,
    /// 9.
    ClusterAction,
    /// 10.
    DescribeConfigs,
    /// 11.
    AlterConfigs,
    /// 12.
    IdempotentWrite,
    /// 13.
    CreateTokens,
    /// 14.
    DescribeTokens,
}

impl Operation {
    /// From Kafka's code (`None` for UNKNOWN and ANY).
    pub fn from_code(code: i8) -> Option<Operation> {
        use Operation::*;
        Some(match code {
            2 => All,
            3 => Read,
            4 => Write,
            5 => Create,
            6 => Delete,
            7 => Alter,
            8 => Describe,
            9 => ClusterAction,
            10 => DescribeConfigs,
            11 => AlterConfigs,
            12 => IdempotentWrite,
            13 => CreateTokens,
            14 => DescribeTokens,
            _ => return None,
        })
    }

    /// Kafka's code.
    pub fn code(self) -> i8 {
        use Operation::*;
        match self {
            All => 2,
            Read => 3,
            Write => 4,
            Create => 5,
            Delete => 6,
            Alter => 7,
            Describe => 8,
            ClusterAction => 9,
            DescribeConfigs => 10,
            AlterConfigs => 11,
            IdempotentWrite => 12,
            CreateTokens => 13,
            DescribeTokens => 14,
        }
    }

    /// The operations an ALLOW of `self` grants besides itself, as Kafka's authorizer implies
    /// them: Describe with Read, Write, Delete or Alter; DescribeConfigs with AlterConfigs.
    fn implies(self, wanted: Operation) -> bool {
        use Operation::*;
        self == wanted
            || self == All
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Permission {
    /// 2: wins over any allow.
    Deny,
    /// 3.
    Allow,
}

impl Permission {
    /// From Kafka's code (`None` for UNKNOWN and ANY).
    pub fn from_code(code: i8) -> Option<Permission> {
        match code {
            2 => Some(Permission::Deny),
            3 => Some(Permission::Allow),
            _ => None,
        }
    }

    /// Kafka's code.
    pub fn code(self) -> i8 {
        match self {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }
}

/// One ACL: who may (or may not) do what to which resources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct AclBinding {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The resource name, `*` for all (literal), or a prefix.
    pub name: String,
    /// How `name` matches.
    pub pattern: PatternType,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// A client IP address, or `*`.
    pub host: String,
    /// The operation.
    pub operation: Operation,
    /// Allow or deny.
    pub permission: Permission,
}

impl AclBinding {
    /// Whether the binding's pattern covers resource `name`.
    fn covers(&self, name: &str) -> bool {
        match self.pattern {
            PatternType::Literal => self.name == "*" || self.name == name,
            PatternType::Prefixed => name.starts_with(&self.name),
        }
    }

    /// Whether the binding speaks of `principal` at `host`.
    fn applies_to(&self, principal: &str, host: &str) -> bool {
        (self.principal == principal || self.principal == "User:*") && (self.host == "*" || self.host == host)
    }
}

/// What a DescribeAcls or DeleteAcls filter matches (Kafka's `AclBindingFilter`).
#[derive(Debug, Clone, Default)]
pub struct AclFilter {
    /// `None`: any type.
    pub resource_type: Option<ResourceType>,
    /// `None`: any name.
    pub name: Option<String>,
    /// How the name is matched.
    pub pattern: PatternFilter,
    /// `None`: any principal.
    pub principal: Option<String>,
    /// `None`: any host.
    pub host: Option<String>,
    /// `None`: any operation.
    pub operation: Option<Operation>,
    /// `None`: allow and deny.
    pub permission: Option<Permission>,
}

/// A filter's pattern type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PatternFilter {
    /// Bindings of either pattern type whose name equals the filter's (1, ANY).
    #[default]
    Any,
    /// Every binding that would apply to a resource of the filter's name: its literal
    /// binding, `*`, and prefixes of it (2, MATCH).
    Match,
    /// Literal bindings only (3).
    Literal,
    /// Prefixed bindings only (4).
    Prefixed,
}

impl PatternFilter {
    /// From Kafka's code (`None` for UNKNOWN).
    pub fn from_code(code: i8) -> Option<PatternFilter> {
        match code {
            1 => Some(PatternFilter::Any),
            2 => Some(PatternFilter::Match),
            3 => Some(PatternFilter::Literal),
            4 => Some(PatternFilter::Prefixed),
            _ => None,
        }
    }
}

impl AclFilter {
    /// Whether `binding` passes the filter.
    pub fn matches(&self, binding: &AclBinding) -> bool {
        let name = match (&self.name, self.pattern) {
            (None, PatternFilter::Literal) => binding.pattern == PatternType::Literal,
            (None, PatternFilter::Prefixed) => binding.pattern == PatternType::Prefixed,
            (None, _) => true,
            (Some(name), PatternFilter::Any) => binding.name == *name,
            (Some(name), PatternFilter::Literal) => binding.pattern == PatternType::Literal && binding.name == *name,
            (Some(name), PatternFilter::Prefixed) => binding.pattern == PatternType::Prefixed && binding.name == *name,
            (Some(name), PatternFilter::Match) => binding.covers(name),
        };
        name && self.resource_type.is_none_or(|t| t == binding.resource_type)
            && self.principal.as_ref().is_none_or(|p| *p == binding.principal)
            && self.host.as_ref().is_none_or(|h| *h == binding.host)
            && self.operation.is_none_or(|o| o == binding.operation)
            && self.permission.is_none_or(|p| p == binding.permission)
    }
}

/// The answer to "may this principal do this?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
    /// No binding speaks of the resource at all (`allow.everyone.if.no.acl.found` decides).
    NoAcl,
}

/// Decides by `bindings` whether `principal` at `host` may perform `operation` on resource
/// `name` of `resource_type`: a matching DENY wins, then a matching ALLOW (or one implying
/// the operation), else no ACL found if no binding covers the resource.
pub fn decide(
    bindings: &[AclBinding],
    principal: &str,
    host: &str,
    operation: Operation,
    resource_type: ResourceType,
    name: &str,
) -> Decision {
    let mut any = false;
    let mut allowed = false;
    for binding in bindings.iter().filter(|b| b.resource_type == resource_type && b.covers(name)) {
        any = true;
        if !binding.applies_to(principal, host) {
            continue;
        }
        match binding.permission {
            // A DENY of All, or of the operation itself, denies it.
            Permission::Deny if binding.operation == operation || binding.operation == Operation::All => {
                return Decision::Deny;
            }
            Permission::Deny => {}
            Permission::Allow => allowed |= binding.operation.implies(operation),
        }
    }
    match (allowed, any) {
        (true, _) => Decision::Allow,
        (false, true) => Decision::Deny,
        (false, false) => Decision::NoAcl,
    }
}

/// The file's name in the data directory.
pub const FILE_NAME: &str = "acls.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct AclFile {
    version: u32,
    acls: Vec<AclBinding>,
}

/// The broker's ACLs, loaded at start and saved on every change; readers get a snapshot.
#[derive(Debug)]
pub struct AclStore {
    path: PathBuf,
    bindings: RwLock<Arc<Vec<AclBinding>>>,
    /// Serialises changes, so that the file is written without blocking the readers.
    writer: std::sync::Mutex<()>,
    /// Whether there is no ACL at all: read on every request without taking the lock.
    empty: std::sync::atomic::AtomicBool,
}

impl AclStore {
    /// The ACLs stored in `data_dir` (none if the file does not exist).
    pub fn open(data_dir: &Path) -> io::Result<AclStore> {
        let path = data_dir.join(FILE_NAME);
        let acls = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: AclFile = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{} does not parse: {e}", path.display()))
                })?;
                file.acls
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let empty = std::sync::atomic::AtomicBool::new(acls.is_empty());
        Ok(AclStore { path, bindings: RwLock::new(Arc::new(acls)), writer: std::sync::Mutex::new(()), empty })
    }

    /// Whether there is no ACL.
    pub fn is_empty(&self) -> bool {
        self.empty.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The bindings now.
    pub fn snapshot(&self) -> Arc<Vec<AclBinding>> {
        self.bindings.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies `change` to the bindings and saves them; the change stays only if the save does.
    /// The file is written before the new bindings are published, and readers are never held
    /// up by the write (only other changes wait).
    pub fn update<T>(&self, change: impl FnOnce(&mut Vec<AclBinding>) -> T) -> io::Result<T> {
        let _writing = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.snapshot();
        let mut changed = (*current).clone();
        let result = change(&mut changed);
        if changed != *current {
            let file = AclFile { version: 1, acls: changed.clone() };
            let bytes = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
            runnel_log::durable_file::write_atomically(&self.path, &bytes)?;
            let empty = changed.is_empty();
            *self.bindings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(changed);
            self.empty.store(empty, std::sync::atomic::Ordering::Release);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str, pattern: PatternType, principal: &str, op: Operation, permission: Permission) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            name: name.into(),
            pattern,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission,
        }
    }

    #[test]
    fn deny_wins_prefixes_and_wildcards_match_and_read_implies_describe() {
        use Operation::*;
        use PatternType::*;
        use Permission::*;
        let acls = vec![
            binding("orders", Literal, "User:alice", Read, Allow),
            binding("pay", Prefixed, "User:bob", Write, Allow),
            binding("payroll", Literal, "User:bob", Write, Deny),
            binding("*", Literal, "User:*", Describe, Allow),
            binding("secret", Literal, "User:alice", All, Deny),
        ];
        let d = |principal, op, name| decide(&acls, principal, "10.0.0.1", op, ResourceType::Topic, name);
        assert_eq!(d("User:alice", Read, "orders"), Decision::Allow);
        assert_eq!(d("User:alice", Describe, "orders"), Decision::Allow);
        assert_eq!(d("User:alice", Write, "orders"), Decision::Deny);
        assert_eq!(d("User:bob", Write, "payments"), Decision::Allow);
        assert_eq!(d("User:bob", Write, "payroll"), Decision::Deny, "a literal deny beats a prefixed allow");
        assert_eq!(d("User:carol", Describe, "anything"), Decision::Allow, "the * wildcard allows everyone");
        assert_eq!(d("User:carol", Read, "anything"), Decision::Deny);
        assert_eq!(d("User:alice", Describe, "secret"), Decision::Deny, "deny All denies everything");
        assert_eq!(
            decide(&acls, "User:alice", "h", Read, ResourceType::Group, "g"),
            Decision::NoAcl,
            "no binding covers the group"
        );
    }

    #[test]
    fn hosts_must_match_unless_the_binding_says_any() {
        let mut only_here = binding("t", PatternType::Literal, "User:alice", Operation::Read, Permission::Allow);
        only_here.host = "10.0.0.1".into();
        let acls = vec![only_here];
        assert_eq!(decide(&acls, "User:alice", "10.0.0.1", Operation::Read, ResourceType::Topic, "t"), Decision::Allow);
        assert_eq!(decide(&acls, "User:alice", "10.0.0.2", Operation::Read, ResourceType::Topic, "t"), Decision::Deny);
    }

    #[test]
    fn filters_match_as_kafkas_do() {
        let literal = binding("payments", PatternType::Literal, "User:a", Operation::Read, Permission::Allow);
        let prefixed = binding("pay", PatternType::Prefixed, "User:a", Operation::Read, Permission::Allow);
        let wildcard = binding("*", PatternType::Literal, "User:a", Operation::Read, Permission::Allow);
        let filter = |name: &str, pattern| AclFilter { name: Some(name.into()), pattern, ..Default::default() };
        let m = filter("payments", PatternFilter::Match);
        assert!(m.matches(&literal) && m.matches(&prefixed) && m.matches(&wildcard));
        let any = filter("pay", PatternFilter::Any);
        assert!(!any.matches(&literal) && any.matches(&prefixed) && !any.matches(&wildcard));
        let only_literal = AclFilter { pattern: PatternFilter::Literal, ..Default::default() };
        assert!(only_literal.matches(&literal) && !only_literal.matches(&prefixed));
    }

    #[test]
    fn acls_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = AclStore::open(dir.path()).unwrap();
        let acl = binding("t", PatternType::Literal, "User:a", Operation::Write, Permission::Allow);
        store.update(|acls| acls.push(acl.clone())).unwrap();
        assert_eq!(*AclStore::open(dir.path()).unwrap().snapshot(), vec![acl]);
    }
}
