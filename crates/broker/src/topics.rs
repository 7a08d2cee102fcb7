//! The topic registry: names, ids, partition counts and configs, kept in `topics.json`.
//!
//! Format: `{"version":1,"topics":[{"name","id","partitions","configs":{}}]}`, rewritten
//! atomically (temp -> fsync -> rename -> fsync dir) on every change, before the change is
//! acknowledged. Creation is all or nothing: every partition is made and opened before the
//! file names the topic, and a failure removes what was made; directories a crash left are
//! removed at the next start (see [`crate::partition_dirs`]). Partition counts are checked
//! against [`PartitionLimits`] before any of that.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use runnel_log::durable_file::{sync_dir, write_atomically};
use runnel_log::{LogConfig, LogError, PartitionLog};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dynamic_broker_config::{self, DynamicBrokerConfigs, DynamicConfigError, Scope};
use crate::limits::PartitionLimits;
use crate::metrics::topic::TopicMetrics;
use crate::offset_checkpoint::{self, LOG_START_FILE, Offsets, RECOVERY_POINT_FILE};
use crate::partition::{Partition, PartitionRef};
use crate::partition_dirs::{self, discard, partition_dir, remove_created, remove_deleted_leftovers};
use crate::topic_config;

/// The registry file name in the data directory.
pub const FILE_NAME: &str = "topics.json";

/// Kafka's longest topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// A topic as stored in `topics.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Topic name.
    pub name: String,
    /// Kafka topic id, reported in Metadata v10+ and used by Fetch v13+.
    pub id: Uuid,
    /// Number of partitions.
    pub partitions: i32,
    /// Topic-level config overrides.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    topics: Vec<TopicRecord>,
}

/// A live topic: its record and its open partitions.
#[derive(Debug)]
pub struct Topic {
    /// What is persisted.
    pub record: TopicRecord,
    /// Partitions by index.
    pub partitions: Vec<PartitionRef>,
    /// Produce and fetch counters, kept across partition additions.
    pub metrics: Arc<TopicMetrics>,
}

impl Topic {
    /// Topic name.
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// The partition with this index, if it exists.
    pub fn partition(&self, index: i32) -> Option<&PartitionRef> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }
}

/// Why an admin operation on topics failed; each maps to a Kafka error code.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// INVALID_TOPIC_EXCEPTION.
    #[error("{0}")]
    InvalidName(String),
    /// TOPIC_ALREADY_EXISTS.
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    /// UNKNOWN_TOPIC_OR_PARTITION.
    #[error("This server does not host this topic: {0}")]
    Unknown(String),
    /// INVALID_PARTITIONS.
    #[error("{0}")]
    InvalidPartitions(String),
    /// INVALID_CONFIG.
    #[error(transparent)]
    InvalidConfig(#[from] topic_config::InvalidTopicConfig),
    /// POLICY_VIOLATION: over a partition limit.
    #[error("{0}")]
    PolicyViolation(String),
    /// KAFKA_STORAGE_ERROR.
    #[error("{0}")]
    Storage(String),
}

impl From<LogError> for TopicError {
    fn from(e: LogError) -> Self {
        TopicError::Storage(e.to_string())
    }
}

/// Whether a topic is one of runnel's own (`__runnel_*`).
pub fn is_runnels_own(name: &str) -> bool {
    name.starts_with("__runnel_")
}

/// Checks a topic name against Kafka's rules.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::InvalidName("Topic name is illegal, it can't be empty".into()));
    }
    if name == "." || name == ".." {
        return Err(TopicError::InvalidName("Topic name cannot be \".\" or \"..\"".into()));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(TopicError::InvalidName(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-') {
        return Err(TopicError::InvalidName(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// The live topics, indexed by name and by id (Fetch v13+ and Metadata v12 look topics up by id).
#[derive(Debug, Default)]
struct LiveTopics {
    /// Topics by name, sorted as Metadata lists them.
    by_name: BTreeMap<String, Arc<Topic>>,
    /// The same topics by id.
    by_id: HashMap<Uuid, Arc<Topic>>,
}

impl LiveTopics {
    fn insert(&mut self, topic: Arc<Topic>) {
        self.by_id.insert(topic.record.id, topic.clone());
        self.by_name.insert(topic.name().to_string(), topic);
    }

    fn remove(&mut self, name: &str) {
        if let Some(topic) = self.by_name.remove(name) {
            self.by_id.remove(&topic.record.id);
        }
    }
}

/// All topics, their partitions, and the file that makes them durable.
#[derive(Debug)]
pub struct TopicRegistry {
    /// The data directory.
    dir: PathBuf,
    /// Broker-wide log defaults from `server.properties` that topic overrides apply over.
    defaults: LogConfig,
    /// Broker-wide topic defaults a [`LogConfig`] cannot carry (`log.cleanup.policy`).
    static_topic_defaults: BTreeMap<String, String>,
    /// Broker-wide defaults set at runtime, over `defaults` and under topic overrides.
    dynamic: RwLock<DynamicBrokerConfigs>,
    /// Partitions per request and per broker.
    limits: PartitionLimits,
    /// Live topics; cloned `Arc`s let requests work without holding the lock.
    topics: RwLock<LiveTopics>,
    /// Serialises admin changes so that the file and the map change in the same order.
    admin: Mutex<()>,
    /// Serialises writes of the log start checkpoint (DeleteRecords, topic deletion).
    log_starts: Mutex<()>,
    /// The recovery points last written, so an idle broker does not rewrite the same file.
    recovery_points: Mutex<Offsets>,
}

fn io_error(action: String) -> impl FnOnce(std::io::Error) -> TopicError {
    move |e| TopicError::Storage(format!("{action}: {e}"))
}

impl TopicRegistry {
    /// Loads `topics.json` and the dynamic broker configs, removes partition directories no
    /// topic owns, and opens every partition. `clean_shutdown` skips log scans. `keep` names
    /// directories of runnel's own logs that live beside the partitions.
    pub fn open(
        dir: &Path,
        defaults: LogConfig,
        static_topic_defaults: BTreeMap<String, String>,
        limits: PartitionLimits,
        keep: &[&str],
        clean_shutdown: bool,
    ) -> Result<TopicRegistry, TopicError> {
        let path = dir.join(FILE_NAME);
        let records = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: RegistryFile = serde_json::from_slice(&bytes)
                    .map_err(|e| TopicError::Storage(format!("parse {}: {e}", path.display())))?;
                file.topics
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(format!("read {}", path.display()))(e)),
        };
        let dynamic = DynamicBrokerConfigs::load(dir).map_err(TopicError::Storage)?;
        remove_deleted_leftovers(dir);
        let counts: HashMap<&str, i32> = records.iter().map(|r| (r.name.as_str(), r.partitions)).collect();
        partition_dirs::remove_strays(dir, keep, |topic, index| counts.get(topic).is_some_and(|&n| index < n))?;
        let registry = TopicRegistry {
            dir: dir.to_path_buf(),
            defaults,
            static_topic_defaults,
            dynamic: RwLock::new(dynamic),
            limits,
            topics: RwLock::new(LiveTopics::default()),
            admin: Mutex::new(()),
            log_starts: Mutex::new(()),
            recovery_points: Mutex::new(Offsets::new()),
        };
        for record in records {
            let config = registry.log_config(&record.configs);
            let topic = open_topic(dir, config, record, 0, clean_shutdown, None)?;
            registry.write().insert(Arc::new(topic));
        }
        registry.restore_log_starts()?;
        if !clean_shutdown {
            registry.check_recovery_points();
        }
        Ok(registry)
    }

    /// Applies the log start checkpoint to the opened partitions; entries of partitions that
    /// no longer exist are dropped from the file, so a topic created later under the same
    /// name cannot inherit them.
    fn restore_log_starts(&self) -> Result<(), TopicError> {
        let checkpointed = offset_checkpoint::read(&self.dir, LOG_START_FILE).map_err(TopicError::Storage)?;
        let mut stale = false;
        for ((topic, index), offset) in &checkpointed {
            match self.get(topic).and_then(|t| t.partition(*index).cloned()) {
                Some(partition) => partition.restore_log_start(*offset),
                None => stale = true,
            }
        }
        if stale {
            self.write_log_starts(&Offsets::new())?;
        }
        Ok(())
    }

    /// Writes the checkpoint of every partition whose log start lies inside a segment, with
    /// `pending` (starts about to be moved) over them.
    fn write_log_starts(&self, pending: &Offsets) -> Result<(), TopicError> {
        let mut entries = Offsets::new();
        for topic in self.all() {
            for partition in &topic.partitions {
                if let Some(start) = partition.log_start_inside_segment() {
                    entries.insert((topic.name().to_string(), partition.index()), start);
                }
            }
        }
        for (key, offset) in pending {
            let entry = entries.entry(key.clone()).or_insert(*offset);
            *entry = (*entry).max(*offset);
        }
        offset_checkpoint::write(&self.dir, LOG_START_FILE, &entries).map_err(TopicError::Storage)
    }

    /// A recovery checkpoint round: each partition with at least `min_bytes` of new durable
    /// data writes its checkpoint (indexes and producer snapshot), then the recovery points of
    /// every partition go to `recovery-point-offset-checkpoint`. Returns how many partitions
    /// wrote a checkpoint; a failure is logged and the partition tried again next round.
    pub fn checkpoint_recovery_points(&self, min_bytes: u64) -> Result<usize, TopicError> {
        let mut written = 0;
        let mut points = Offsets::new();
        for topic in self.all() {
            for partition in &topic.partitions {
                match partition.checkpoint_recovery(min_bytes) {
                    Ok(Some(_)) => written += 1,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(topic = topic.name(), partition = partition.index(), error = %e, "recovery checkpoint failed")
                    }
                }
                points.insert((topic.name().to_string(), partition.index()), partition.flushed_offset());
            }
        }
        let mut last = self.recovery_points.lock().unwrap_or_else(|p| p.into_inner());
        if *last != points {
            offset_checkpoint::write(&self.dir, RECOVERY_POINT_FILE, &points).map_err(TopicError::Storage)?;
            *last = points;
        }
        Ok(written)
    }

    /// After a crash: warns of every partition whose log ends below its last recovery point,
    /// which means the disk lost data it had reported as written.
    fn check_recovery_points(&self) {
        let Ok(points) = offset_checkpoint::read(&self.dir, RECOVERY_POINT_FILE) else { return };
        for ((topic, index), point) in points {
            if let Some(partition) = self.get(&topic).and_then(|t| t.partition(index).cloned()) {
                let (_, end) = partition.offsets();
                if end < point {
                    tracing::error!(
                        topic,
                        partition = index,
                        recovery_point = point,
                        log_end = end,
                        "the log ends below its recovery point: data fsynced earlier is gone from the disk"
                    );
                }
            }
        }
    }

    /// DeleteRecords: moves each partition's log start up to its offset (-1: the high
    /// watermark), durably, then deletes the segments wholly below. Answers each partition's
    /// new log start (its low watermark) or why not.
    pub fn delete_records(&self, wanted: Vec<(PartitionRef, i64)>) -> Vec<Result<i64, LogError>> {
        let _checkpoint = self.log_starts.lock().unwrap_or_else(|p| p.into_inner());
        let targets: Vec<Result<i64, LogError>> =
            wanted.iter().map(|(partition, offset)| partition.log_start_after_delete(*offset)).collect();
        let pending: Offsets = wanted
            .iter()
            .zip(&targets)
            .filter_map(|((p, _), t)| t.as_ref().ok().map(|start| ((p.topic().to_string(), p.index()), *start)))
            .collect();
        if let Err(e) = self.write_log_starts(&pending) {
            let failed = |_| Err(LogError::io("write the log start checkpoint", std::io::Error::other(e.to_string())));
            return wanted.iter().map(failed).collect();
        }
        wanted
            .iter()
            .zip(targets)
            .map(|((partition, _), target)| target.and_then(|start| partition.delete_records_below(start)))
            .collect()
    }

    /// The log settings of a topic with these overrides: Kafka's defaults, then
    /// `server.properties`, then the dynamic broker configs, then the overrides.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let mut layered = self.static_topic_defaults.clone();
        layered.extend(self.dynamic_configs().as_topic_defaults());
        layered.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        topic_config::log_config(&self.defaults, &layered)
    }

    /// The dynamic broker configs in force.
    pub fn dynamic_configs(&self) -> DynamicBrokerConfigs {
        self.dynamic.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes one scope's dynamic broker configs: `change` maps the current ones to the new
    /// ones (under the admin lock). The result is validated, made durable and applied to every
    /// partition of every topic; `validate_only` stops after the validation.
    pub fn alter_dynamic_configs(
        &self,
        scope: Scope,
        change: impl FnOnce(&BTreeMap<String, String>) -> BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), DynamicConfigError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let configs = change(self.dynamic_configs().scope(scope));
        for (key, value) in &configs {
            dynamic_broker_config::validate(key, value)?;
        }
        if validate_only {
            return Ok(());
        }
        let updated = self.dynamic_configs().with_scope(scope, configs);
        updated.save(&self.dir).map_err(DynamicConfigError::Storage)?;
        *self.dynamic.write().unwrap_or_else(|p| p.into_inner()) = updated;
        for topic in self.all() {
            let config = self.log_config(&topic.record.configs);
            for partition in &topic.partitions {
                partition.set_config(config.clone());
            }
        }
        Ok(())
    }

    /// The partition limits in force.
    pub fn limits(&self) -> PartitionLimits {
        self.limits
    }

    /// Partitions hosted now, over all topics but runnel's own (`__runnel_*`, such as the
    /// console's history): what `max.broker.partitions` bounds, as `__consumer_offsets` is not
    /// counted either.
    pub fn partition_count(&self) -> usize {
        self.read().by_name.values().filter(|t| !is_runnels_own(t.name())).map(|t| t.partitions.len()).sum()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, LiveTopics> {
        self.topics.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, LiveTopics> {
        self.topics.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The topic with this name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().by_name.get(name).cloned()
    }

    /// The topic with this id.
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.read().by_id.get(&id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        self.read().by_name.values().cloned().collect()
    }

    /// Writes `topics.json` as the registry will be once `name` is `record` (`None`: deleted).
    /// Called under the admin lock, before the in-memory change.
    fn persist_change(&self, name: &str, record: Option<&TopicRecord>) -> Result<(), TopicError> {
        let mut topics: Vec<TopicRecord> =
            self.read().by_name.values().filter(|t| t.name() != name).map(|t| t.record.clone()).collect();
        topics.extend(record.cloned());
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        let bytes = serde_json::to_vec_pretty(&RegistryFile { version: 1, topics })
            .map_err(|e| TopicError::Storage(e.to_string()))?;
        let path = self.dir.join(FILE_NAME);
        write_atomically(&path, &bytes).map_err(io_error(format!("write {}", path.display())))
    }

    /// Checks a creation without doing it (CreateTopics with validate_only).
    pub fn validate_create(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        validate_name(name)?;
        // The group coordinator's log lives under this name, as in Kafka.
        if self.get(name).is_some()
            || name == crate::groups::OFFSETS_TOPIC
            || name == crate::transactions::TRANSACTION_STATE_TOPIC
        {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions("Number of partitions must be larger than 0.".into()));
        }
        self.limits.check_request(partitions as u64)?;
        self.limits.check_broker(self.partition_count(), partitions as u64)?;
        for (key, value) in configs {
            topic_config::validate(key, value)?;
        }
        Ok(())
    }

    /// Creates a topic durably and opens its partitions: all of them, or none.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        self.validate_create(name, partitions, &configs)?;
        let record = TopicRecord { name: name.to_string(), id: Uuid::new_v4(), partitions, configs };
        // Directories left by an unclean past under this name must not be adopted.
        discard(&self.dir, name, 0..partitions, record.id)?;
        let topic = self.make_partitions(&record, 0..partitions, || {
            open_topic(&self.dir, self.log_config(&record.configs), record.clone(), 0, false, None)
        })?;
        let topic = Arc::new(topic);
        self.write().insert(topic.clone());
        Ok(topic)
    }

    /// Opens the new partitions `new` of `record` with `open`, then names them in the registry
    /// file. If either step fails, the new partitions' directories are removed again.
    fn make_partitions(
        &self,
        record: &TopicRecord,
        new: Range<i32>,
        open: impl FnOnce() -> Result<Topic, TopicError>,
    ) -> Result<Topic, TopicError> {
        let made = open().and_then(|topic| self.persist_change(&record.name, Some(record)).map(|()| topic));
        if made.is_err() {
            remove_created(&self.dir, &record.name, new);
        }
        made
    }

    /// Grows a topic to `count` partitions. A decrease is refused: Kafka partitions can be added
    /// but never removed.
    pub fn add_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let have = current.record.partitions;
        if count < have {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {have} partitions, which is higher than the requested {count}: \
                 partitions can be added but never removed."
            )));
        }
        if count == have {
            return Err(TopicError::InvalidPartitions(format!("Topic already has {have} partitions.")));
        }
        let adding = (count - have) as u64;
        self.limits.check_request(adding)?;
        self.limits.check_broker(self.partition_count(), adding)?;
        if validate_only {
            return Ok(());
        }
        discard(&self.dir, name, have..count, current.record.id)?;
        let mut record = current.record.clone();
        record.partitions = count;
        let topic = self.make_partitions(&record, have..count, || {
            let config = self.log_config(&record.configs);
            open_topic(&self.dir, config, record.clone(), have, false, Some(&current.partitions))
                .map(|topic| Topic { metrics: current.metrics.clone(), ..topic })
        })?;
        self.write().insert(Arc::new(topic));
        Ok(())
    }

    /// Replaces a topic's config overrides, durably, and applies them to its partitions.
    pub fn set_configs(&self, name: &str, configs: BTreeMap<String, String>) -> Result<(), TopicError> {
        self.alter_configs(name, |_| configs, false)
    }

    /// Changes a topic's config overrides: `change` maps the current overrides to the new ones
    /// (under the admin lock, so concurrent changes do not lose each other's keys). The result
    /// is validated, made durable and applied to the topic's partitions; `validate_only` stops
    /// after the validation.
    pub fn alter_configs(
        &self,
        name: &str,
        change: impl FnOnce(&BTreeMap<String, String>) -> BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let configs = change(&current.record.configs);
        for (key, value) in &configs {
            topic_config::validate(key, value)?;
        }
        if validate_only {
            return Ok(());
        }
        let record = TopicRecord { configs, ..current.record.clone() };
        self.persist_change(name, Some(&record))?;
        let config = self.log_config(&record.configs);
        for partition in &current.partitions {
            partition.set_config(config.clone());
        }
        self.write().insert(Arc::new(Topic {
            record,
            partitions: current.partitions.clone(),
            metrics: current.metrics.clone(),
        }));
        Ok(())
    }

    /// Deletes a topic: its record first, then its data.
    pub fn delete(&self, name: &str) -> Result<Uuid, TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        // Requests still holding a partition must not reopen a path a new topic may reuse.
        for partition in &topic.partitions {
            partition.retire();
        }
        discard(&self.dir, name, 0..topic.record.partitions, topic.record.id)?;
        if let Err(first) = self.persist_change(name, None) {
            // A full disk may have no room for the new topics.json: free the deleted
            // partitions' space, which is what the deletion asked for anyway, and try again.
            // (A crash in between leaves the topic named, with empty partitions.)
            remove_deleted_leftovers(&self.dir);
            self.persist_change(name, None).map_err(|_| first)?;
        }
        self.write().remove(name);
        remove_deleted_leftovers(&self.dir);
        let _checkpoint = self.log_starts.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = self.write_log_starts(&Offsets::new()) {
            // The next start drops the deleted topic's entries instead.
            tracing::warn!(topic = name, error = %e, "could not rewrite the log start checkpoint");
        }
        Ok(topic.record.id)
    }

    /// Flushes every partition for a clean shutdown; returns the first failure.
    pub fn close_all(&self) -> Result<(), LogError> {
        let mut first_error = None;
        for topic in self.all() {
            for partition in &topic.partitions {
                if let Err(e) = partition.close() {
                    tracing::error!(topic = topic.name(), partition = partition.index(), error = %e, "close partition");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn open_topic(
    data_dir: &Path,
    config: LogConfig,
    record: TopicRecord,
    first_new: i32,
    clean_shutdown: bool,
    existing: Option<&[PartitionRef]>,
) -> Result<Topic, TopicError> {
    let mut partitions: Vec<PartitionRef> = existing.map(<[PartitionRef]>::to_vec).unwrap_or_default();
    let open_one = |index: i32| -> Result<PartitionRef, TopicError> {
        let dir = partition_dir(data_dir, &record.name, index);
        std::fs::create_dir_all(&dir).map_err(io_error(format!("create {}", dir.display())))?;
        let (log, report) = PartitionLog::open(&dir, config.clone(), clean_shutdown)?;
        if report.truncated_bytes > 0 {
            tracing::warn!(
                topic = %record.name, partition = index, truncated_bytes = report.truncated_bytes,
                next_offset = report.next_offset, "recovered a partition: cut an incomplete or corrupt tail"
            );
        }
        Ok(Arc::new(Partition::new(&record.name, index, log)))
    };
    let indexes: Vec<i32> = (first_new..record.partitions).collect();
    // Many partitions open on every core: recovery of each is independent file work.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(indexes.len() / 16).max(1);
    let opened: Vec<Result<PartitionRef, TopicError>> = if threads == 1 {
        indexes.iter().map(|&i| open_one(i)).collect()
    } else {
        let chunk = indexes.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = indexes
                .chunks(chunk)
                .map(|part| scope.spawn(|| part.iter().map(|&i| open_one(i)).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("partition-opening thread panicked")).collect()
        })
    };
    for partition in opened {
        partitions.push(partition?);
    }
    if first_new > 0 || existing.is_none() {
        sync_dir(data_dir).map_err(io_error(format!("sync {}", data_dir.display())))?;
    }
    Ok(Topic { record, partitions, metrics: Arc::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_registry(dir: &Path, clean_shutdown: bool) -> Result<TopicRegistry, TopicError> {
        TopicRegistry::open(dir, LogConfig::default(), BTreeMap::new(), PartitionLimits::default(), &[], clean_shutdown)
    }

    #[test]
    fn kafka_topic_name_rules_are_enforced() {
        assert!(validate_name("orders.v1_EU-west").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn topics_survive_reopen_and_partitions_only_grow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = open_registry(dir.path(), false).expect("open");
        let configs = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        let created = registry.create("events", 2, configs.clone()).expect("create");
        assert!(matches!(registry.create("events", 2, BTreeMap::new()), Err(TopicError::AlreadyExists(_))));
        registry.add_partitions("events", 4, false).expect("grow");
        let err = registry.add_partitions("events", 3, false).expect_err("shrink refused");
        assert!(err.to_string().contains("partitions can be added but never removed"), "{err}");
        drop(registry);
        let registry = open_registry(dir.path(), false).expect("reopen");
        let topic = registry.get("events").expect("still there");
        assert_eq!(topic.partitions.len(), 4);
        assert_eq!(topic.record.id, created.record.id);
        assert_eq!(topic.record.configs, configs);
        assert_eq!(registry.get_by_id(created.record.id).expect("found by id").partitions.len(), 4);
        registry.delete("events").expect("delete");
        assert!(registry.get("events").is_none());
        assert!(registry.get_by_id(created.record.id).is_none());
        assert!(!partition_dir(dir.path(), "events", 0).exists());
    }

    #[test]
    fn a_topic_with_many_partitions_reopens_each_partition_in_order_with_its_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = open_registry(dir.path(), false).expect("open");
        // Enough partitions to be opened on several threads.
        let topic = registry.create("wide", 100, BTreeMap::new()).expect("create");
        for (index, partition) in topic.partitions.iter().enumerate() {
            let batch = runnel_log::testing::batch(index % 5 + 1, 1_000, None);
            partition.append(&batch, 1_000).expect("append");
        }
        drop(topic);
        registry.close_all().expect("close");
        drop(registry);
        for clean in [true, false] {
            let registry = open_registry(dir.path(), clean).expect("reopen");
            let topic = registry.get("wide").expect("still there");
            assert_eq!(topic.partitions.len(), 100);
            for (index, partition) in topic.partitions.iter().enumerate() {
                assert_eq!(partition.index(), index as i32);
                assert_eq!(partition.offsets(), (0, (index % 5 + 1) as i64), "partition {index}");
            }
        }
    }
}
