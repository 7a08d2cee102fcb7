//! How many partitions one request may create and one broker may host, checked before any
//! disk work so that no request can exhaust the broker's memory, file descriptors or disk.
//!
//! `max.partitions.per.request` defaults to Kafka's own cap on one CreateTopics (10,000, above
//! which Kafka answers POLICY_VIOLATION "Excessively large number of partitions per request").
//! `max.broker.partitions` (the name KIP-578 proposed) defaults to what this machine can hold:
//! 256 KiB of memory per partition, and four partitions per segment file the process may keep
//! open (partitions past that rotate through the open-file budget; many more would reopen files
//! on every request).

use crate::topics::TopicError;

/// Kafka's cap on the partitions one CreateTopics may create.
pub const DEFAULT_MAX_PARTITIONS_PER_REQUEST: usize = 10_000;

/// Memory set aside per partition when deriving `max.broker.partitions`.
const MEMORY_PER_PARTITION: u64 = 256 * 1024;

/// Partitions per open segment file the budget allows, when deriving `max.broker.partitions`.
const PARTITIONS_PER_OPEN_FILE: usize = 4;

/// Assumed memory where `/proc/meminfo` cannot be read.
const FALLBACK_MEMORY: u64 = 8 * 1024 * 1024 * 1024;

/// The partition limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLimits {
    /// `max.partitions.per.request`: partitions one CreateTopics or CreatePartitions may add.
    pub per_request: usize,
    /// `max.broker.partitions`: partitions the broker hosts at most, over all topics.
    pub per_broker: usize,
}

impl Default for PartitionLimits {
    fn default() -> Self {
        PartitionLimits { per_request: DEFAULT_MAX_PARTITIONS_PER_REQUEST, per_broker: default_max_broker_partitions() }
    }
}

impl PartitionLimits {
    /// Refuses a request that would add `requested` partitions in all (POLICY_VIOLATION, as
    /// Kafka answers).
    pub fn check_request(&self, requested: u64) -> Result<(), TopicError> {
        if requested > self.per_request as u64 {
            return Err(TopicError::PolicyViolation(format!(
                "Excessively large number of partitions per request: {requested} requested, \
                 max.partitions.per.request is {}.",
                self.per_request
            )));
        }
        Ok(())
    }

    /// Refuses growing the broker from `hosted` partitions by `adding` past `max.broker.partitions`.
    pub fn check_broker(&self, hosted: usize, adding: u64) -> Result<(), TopicError> {
        let total = (hosted as u64).saturating_add(adding);
        if total > self.per_broker as u64 {
            return Err(TopicError::PolicyViolation(format!(
                "This broker hosts {hosted} partitions; {adding} more would exceed max.broker.partitions={}. \
                 Delete topics or raise max.broker.partitions.",
                self.per_broker
            )));
        }
        Ok(())
    }
}

/// The default `max.broker.partitions` for this machine and process.
pub fn default_max_broker_partitions() -> usize {
    let by_memory = (total_memory() / MEMORY_PER_PARTITION) as usize;
    let by_files = runnel_log::open_files::FileBudget::global().limit().saturating_mul(PARTITIONS_PER_OPEN_FILE);
    by_memory.min(by_files).max(1)
}

/// Physical memory, from `/proc/meminfo`.
fn total_memory() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else { return FALLBACK_MEMORY };
    text.lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(FALLBACK_MEMORY, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_with_policy_violation_and_say_which_setting() {
        let limits = PartitionLimits { per_request: 10, per_broker: 100 };
        assert!(limits.check_request(10).is_ok());
        let err = limits.check_request(11).expect_err("over the request cap");
        assert!(matches!(err, TopicError::PolicyViolation(_)));
        assert!(err.to_string().starts_with("Excessively large number of partitions per request"), "{err}");
        assert!(limits.check_broker(90, 10).is_ok());
        let err = limits.check_broker(90, 11).expect_err("over the broker cap");
        assert!(err.to_string().contains("max.broker.partitions=100"), "{err}");
        assert!(limits.check_broker(90, u64::MAX).is_err());
    }

    #[test]
    fn the_default_broker_limit_follows_memory_and_the_open_file_budget() {
        let limit = default_max_broker_partitions();
        assert!(limit >= 1);
        assert!(limit <= (total_memory() / MEMORY_PER_PARTITION) as usize);
        assert!(limit <= runnel_log::open_files::FileBudget::global().limit() * PARTITIONS_PER_OPEN_FILE);
    }
}
