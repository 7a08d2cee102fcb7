//! The broker's shared state: identity, topics, producer ids, and the signal that wakes
//! waiting fetches. One `Arc<Broker>` is shared by every connection.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::groups::GroupCoordinator;
use crate::groups::clock::{Clock, SystemClock};
use crate::meta_properties::{self, MetaError, MetaProperties};
use crate::metrics::BrokerMetrics;
use crate::producer_ids::ProducerIds;
use crate::topics::{Topic, TopicError, TopicRegistry};
use crate::transactions::coordinator::TransactionCoordinator;

/// Marker written after a clean shutdown; its presence lets startup skip log scans.
pub const CLEAN_SHUTDOWN_FILE: &str = ".runnel_clean_shutdown";

/// Lock file that keeps a second broker off the same data directory.
pub const LOCK_FILE: &str = ".lock";

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The data directory's identity.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Loading topics or opening their logs.
    #[error(transparent)]
    Topics(#[from] TopicError),
    /// Another file operation.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Opening or replaying the group log.
    #[error("group log: {0}")]
    Groups(String),
    /// Opening or replaying the transaction log.
    #[error("transaction log: {0}")]
    Transactions(String),
    /// A listener's TLS files cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::security::tls::TlsError),
    /// The bound addresses do not match the configured listeners.
    #[error("{0}")]
    Listeners(String),
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another runnel process; stop it or use another --data-dir")]
    Locked(PathBuf),
}

fn io(action: String) -> impl FnOnce(std::io::Error) -> BrokerError {
    move |source| BrokerError::Io { action, source }
}

/// The broker.
#[derive(Debug)]
pub struct Broker {
    /// Settings it was started with.
    pub config: BrokerConfig,
    /// Cluster and node identity from `meta.properties`.
    pub meta: MetaProperties,
    /// Topics and their partitions.
    pub topics: TopicRegistry,
    /// InitProducerId's allocator.
    pub producer_ids: ProducerIds,
    /// Consumer groups and their committed offsets.
    pub groups: GroupCoordinator,
    /// The transaction coordinator, for every transactional id.
    pub transactions: TransactionCoordinator,
    /// The log cleaner's progress over compacted partitions.
    pub cleaner: crate::log_cleaner::LogCleaner,
    /// The listeners served, in `listeners` order; each tells its clients its own endpoint.
    pub listeners: Vec<Arc<crate::listener::Listener>>,
    /// Request-path counters and histograms for `/metrics`.
    pub metrics: BrokerMetrics,
    /// Fetch sessions (KIP-227).
    pub fetch_sessions: crate::fetch_sessions::FetchSessions,
    /// Open connections counted against `max.connections.per.ip` and `max.connections`.
    pub connection_limits: Arc<crate::connection_limits::ConnectionLimits>,
    /// ACLs, `super.users`: what each principal may do.
    pub authorizer: crate::security::authorizer::Authorizer,
    /// The users' SCRAM credentials (SASL authentication checks them).
    pub credentials: crate::security::credentials::Credentials,
    /// Bumped after every append; waiting fetches watch it.
    data_arrived: watch::Sender<u64>,
    /// Held (locked) for the broker's lifetime.
    _lock: File,
    /// Whether the previous run ended cleanly (logs were not scanned).
    pub recovered_cleanly: bool,
    /// Whether everything the previous run wrote is certainly still there, fsynced or not: it
    /// ended cleanly, or only its process stopped (the machine has not restarted since, so the
    /// page cache kept its writes). If not, what it did not fsync may be gone.
    pub unsynced_writes_survived: bool,
}

/// Milliseconds since the Unix epoch, the clock of record timestamps.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Broker {
    /// Opens the data directory (formatting it with a new cluster id when empty), recovers
    /// every partition and returns the broker, serving its first listener only, bound at
    /// `bound` (an embedded broker, a test).
    pub fn open(mut config: BrokerConfig, bound: SocketAddr) -> Result<Arc<Broker>, BrokerError> {
        config.listeners.truncate(1);
        Self::open_with_clock(config, &[bound], Arc::new(SystemClock))
    }

    /// [`Broker::open`] serving every configured listener, `bound` holding their actual
    /// addresses in order.
    pub fn open_listening(config: BrokerConfig, bound: &[SocketAddr]) -> Result<Arc<Broker>, BrokerError> {
        Self::open_with_clock(config, bound, Arc::new(SystemClock))
    }

    /// [`Broker::open_listening`] with the clock the group coordinator times members by.
    pub fn open_with_clock(
        config: BrokerConfig,
        bound: &[SocketAddr],
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Broker>, BrokerError> {
        if bound.len() != config.listeners.len() {
            return Err(BrokerError::Listeners(format!(
                "{} listeners configured but {} bound",
                config.listeners.len(),
                bound.len()
            )));
        }
        let listeners = config
            .listeners
            .iter()
            .zip(bound)
            .map(|(listener, bound)| crate::listener::Listener::open(listener, *bound).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(io(format!("create data directory {}", dir.display())))?;
        let lock = lock_dir(&dir)?;
        let meta = match meta_properties::read(&dir)? {
            Some(meta) => meta,
            None => {
                let id = meta_properties::random_uuid();
                let meta = meta_properties::format(&dir, &id, config.node_id)?;
                tracing::info!(cluster_id = %meta.cluster_id, dir = %dir.display(), "formatted a new data directory");
                meta
            }
        };
        let same_boot = crate::boot_id::same_boot_as_last_start(&dir)
            .map_err(io(format!("record the boot id in {}", dir.display())))?;
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        if clean {
            std::fs::remove_file(&marker).map_err(io(format!("remove {}", marker.display())))?;
            runnel_log::durable_file::sync_dir(&dir).map_err(io(format!("sync {}", dir.display())))?;
        }
        let own_logs = [
            format!("{}-0", crate::groups::OFFSETS_TOPIC),
            format!("{}-0", crate::transactions::TRANSACTION_STATE_TOPIC),
        ];
        let keep: Vec<&str> = own_logs.iter().map(String::as_str).collect();
        let static_topic_defaults = crate::dynamic_broker_config::static_topic_defaults(&config.properties);
        let topics = TopicRegistry::open(&dir, config.log.clone(), static_topic_defaults, config.limits, &keep, clean)?;
        let producer_ids = ProducerIds::open(&dir).map_err(io(format!("read producer ids in {}", dir.display())))?;
        let groups = GroupCoordinator::open(&dir, clean, config.groups.clone(), clock.clone())
            .map_err(|e| BrokerError::Groups(e.to_string()))?;
        let transactions = TransactionCoordinator::open(&dir, clean, clock, config.transaction_max_timeout_ms)
            .map_err(|e| BrokerError::Transactions(e.to_string()))?;
        let cleaner = crate::log_cleaner::LogCleaner::open(&dir).map_err(|e| BrokerError::Io {
            action: "read the cleaner checkpoint".into(),
            source: std::io::Error::other(e),
        })?;
        let credentials = crate::security::credentials::Credentials::open(&dir)
            .map_err(io(format!("read the SCRAM credentials in {}", dir.display())))?;
        let authorizer = crate::security::authorizer::Authorizer::open(
            &dir,
            config.super_users.clone(),
            config.allow_everyone_if_no_acl(),
        )
        .map_err(io(format!("read the ACLs in {}", dir.display())))?;
        let connection_limits = crate::connection_limits::ConnectionLimits::new(config.connection_limits.clone());
        let fetch_sessions = crate::fetch_sessions::FetchSessions::new(
            config.fetch_session_slots,
            crate::fetch_sessions::DEFAULT_MIN_EVICTION,
        );
        let (data_arrived, _) = watch::channel(0);
        Ok(Arc::new(Broker {
            config,
            meta,
            topics,
            producer_ids,
            groups,
            transactions,
            cleaner,
            listeners,
            metrics: BrokerMetrics::default(),
            credentials,
            connection_limits,
            fetch_sessions,
            authorizer,
            data_arrived,
            _lock: lock,
            recovered_cleanly: clean,
            unsynced_writes_survived: clean || same_boot,
        }))
    }

    /// The endpoint of the first listener (where a client that did not come through a
    /// listener, as the console, says the broker is).
    pub fn endpoint(&self) -> &(String, u16) {
        &self.listeners[0].endpoint
    }

    /// This broker's node id (from meta.properties).
    pub fn node_id(&self) -> i32 {
        self.meta.node_id
    }

    /// Wakes fetches waiting for data.
    pub fn notify_data_arrived(&self) {
        self.data_arrived.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever data arrives; take it before checking, to miss nothing.
    pub fn watch_data(&self) -> watch::Receiver<u64> {
        self.data_arrived.subscribe()
    }

    /// Creates a topic on first use (Metadata with auto-creation), with `num.partitions`.
    pub fn auto_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        match self.topics.create(name, self.config.num_partitions, Default::default()) {
            Ok(topic) => {
                tracing::info!(topic = name, partitions = self.config.num_partitions, "auto-created topic");
                Ok(topic)
            }
            // Another request created it first.
            Err(TopicError::AlreadyExists(_)) => self.topics.get(name).ok_or(TopicError::Unknown(name.to_string())),
            Err(e) => Err(e),
        }
    }

    /// Whether `topic` exists with a partition `partition`.
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        partition >= 0 && self.topics.get(topic).is_some_and(|t| (partition as usize) < t.partitions.len())
    }

    /// Flushes every log and writes the clean-shutdown marker.
    pub fn shutdown(&self) -> Result<(), BrokerError> {
        self.topics.close_all().map_err(TopicError::from)?;
        self.groups.log().close().map_err(|e| BrokerError::Groups(e.to_string()))?;
        self.transactions.log().close().map_err(|e| BrokerError::Transactions(e.to_string()))?;
        let marker = self.config.data_dir.join(CLEAN_SHUTDOWN_FILE);
        runnel_log::durable_file::write_atomically(&marker, b"").map_err(io(format!("write {}", marker.display())))?;
        Ok(())
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }
}

fn lock_dir(dir: &Path) -> Result<File, BrokerError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("open {}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(BrokerError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(io(format!("lock {}", path.display()))(e)),
    }
}
