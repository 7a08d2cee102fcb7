//! Broker settings: command-line values over a Kafka `server.properties` file over defaults.
//!
//! Property names are Kafka's wherever Kafka has one, so an existing `server.properties`
//! carries over. Unknown names are accepted and logged, as Kafka does, because real files
//! hold many settings (replication, SASL, …) that a single node has no use for.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use runnel_log::LogConfig;

use crate::groups::GroupSettings;
use crate::limits::PartitionLimits;
pub use crate::listener_config::{ListenerConfig, SecurityProtocol};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The properties file could not be read.
    #[error("read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A property has a value that cannot be used.
    #[error("config {name}={value}: {reason}")]
    Invalid {
        /// Property name.
        name: String,
        /// The offending value.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
}

/// Everything the broker needs to start.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`: the broker id reported in metadata.
    pub node_id: i32,
    /// The Kafka listeners (`listeners`, `advertised.listeners`,
    /// `listener.security.protocol.map` and their SASL and TLS settings); `--listen` moves the
    /// first. Never empty.
    pub listeners: Vec<ListenerConfig>,
    /// `log.dirs`: the data directory (runnel uses one).
    pub data_dir: PathBuf,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`: whether Metadata for an unknown topic creates it.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`: larger frames close the connection.
    pub socket_request_max_bytes: usize,
    /// Defaults of every partition log (`log.segment.bytes`, `log.retention.*`, `message.max.bytes`).
    pub log: LogConfig,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub retention_check_interval_ms: u64,
    /// The log cleaner's `log.cleaner.*` settings.
    pub cleaner: crate::log_cleaner::CleanerSettings,
    /// `log.flush.offset.checkpoint.interval.ms`: how often recovery checkpoints are written,
    /// bounding what a restart after a crash must check.
    pub recovery_checkpoint_interval_ms: u64,
    /// `log.recovery.checkpoint.min.bytes` (runnel's own): a partition writes a recovery
    /// checkpoint once this much durable data came since its last, so a crash recovery checks
    /// at most about this much per partition plus what came since the last round.
    pub recovery_checkpoint_min_bytes: u64,
    /// The group coordinator's timeouts and offset retention (`group.*`, `offsets.*`).
    pub groups: GroupSettings,
    /// `max.partitions.per.request` and `max.broker.partitions`.
    pub limits: PartitionLimits,
    /// `max.incremental.fetch.session.cache.slots`: fetch sessions kept (0: none).
    pub fetch_session_slots: usize,
    /// `max.connections.per.ip`, its overrides and `max.connections`.
    pub connection_limits: crate::connection_limits::ConnectionLimitSettings,
    /// `connections.max.idle.ms`: a connection with no request for this long is closed.
    pub connections_max_idle_ms: u64,
    /// `request.read.timeout.ms`: a request frame not complete this long after its first byte
    /// closes its connection.
    pub request_read_timeout_ms: u64,
    /// `http.listen`: where `/metrics` is served (`None`: nowhere).
    pub http_listen: Option<SocketAddr>,
    /// `http.authentication`: `basic` makes `/metrics` and the console ask for HTTP Basic
    /// credentials of a broker user allowed Describe on the cluster (runnel's own setting).
    pub http_basic_auth: bool,
    /// `http.ssl.keystore.location`: a PEM file with the HTTP listener's key and certificate
    /// chain, which makes it HTTPS (runnel's own setting).
    pub http_tls: Option<crate::listener_config::TlsSettings>,
    /// The `console.*` properties, for the console on the HTTP listener (runnel-console reads
    /// and checks them).
    pub console: BTreeMap<String, String>,
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask for.
    pub transaction_max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often transactions
    /// open past their timeout are looked for and aborted.
    pub transaction_abort_interval_ms: u64,
    /// `transactional.id.expiration.ms`: a transactional id idle this long is forgotten.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how often idle
    /// transactional ids are looked for.
    pub transaction_remove_expired_interval_ms: u64,
    /// `connections.max.reauth.ms`: how long a SASL sign-in lasts before the client must
    /// re-authenticate on its connection (KIP-368); 0, Kafka's default, for the connection's life.
    pub connections_max_reauth_ms: i64,
    /// `connection.failed.authentication.delay.ms`: how long a failed authentication waits
    /// before its answer and the connection's close (slows down password guessing).
    pub failed_authentication_delay_ms: u64,
    /// `super.users`: principals the authorizer allows everything (`User:admin;User:ops`).
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`: whether a resource no ACL speaks of is open to all;
    /// when not given, true unless a listener authenticates its clients.
    pub allow_everyone_if_no_acl: Option<bool>,
    /// Every property as given, reported by DescribeConfigs for the broker resource.
    pub properties: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 1,
            listeners: vec![ListenerConfig::default_plaintext()],
            failed_authentication_delay_ms: 100,
            connections_max_reauth_ms: 0,
            data_dir: PathBuf::from("./data"),
            num_partitions: 1,
            auto_create_topics: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            log: LogConfig::default(),
            retention_check_interval_ms: 5 * 60 * 1000,
            recovery_checkpoint_interval_ms: 60 * 1000,
            cleaner: Default::default(),
            recovery_checkpoint_min_bytes: 1024 * 1024,
            groups: GroupSettings::default(),
            limits: PartitionLimits::default(),
            connection_limits: Default::default(),
            fetch_session_slots: crate::fetch_sessions::DEFAULT_SLOTS,
            connections_max_idle_ms: 10 * 60 * 1000,
            request_read_timeout_ms: 30 * 1000,
            http_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9644))),
            http_basic_auth: false,
            http_tls: None,
            console: BTreeMap::new(),
            transaction_max_timeout_ms: crate::transactions::txn::DEFAULT_MAX_TIMEOUT_MS,
            transaction_abort_interval_ms: 10_000,
            transactional_id_expiration_ms: crate::transactions::txn::DEFAULT_ID_EXPIRATION_MS,
            transaction_remove_expired_interval_ms: 60 * 60 * 1000,
            super_users: Vec::new(),
            allow_everyone_if_no_acl: None,
            properties: BTreeMap::new(),
        }
    }
}

/// Parses Java-properties text: `name=value` or `name: value` lines, `#`/`!` comments.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).unwrap_or(line.len());
        let (name, value) = line.split_at(split);
        let value = value.get(1..).unwrap_or("");
        out.insert(name.trim().to_string(), value.trim().to_string());
    }
    out
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name: name.to_string(), value: value.to_string(), reason: reason.into() }
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|_| invalid(name, value, "expected a number"))
}

/// `HOST:PORT` for the HTTP listener, or `off` for none.
pub fn parse_http_listen(name: &str, value: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (host, port) = first_listener(name, value)?;
    format!("{host}:{port}")
        .parse()
        .or_else(|_| resolve(&host, port))
        .map(Some)
        .map_err(|_| invalid(name, value, "expected HOST:PORT or off"))
}

fn positive(name: &str, value: &str) -> Result<usize, ConfigError> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(name, value, "expected a number above 0")),
    }
}

/// The first `host:port` of a Kafka listener list such as `PLAINTEXT://localhost:9092,SSL://…`.
pub fn first_listener(name: &str, value: &str) -> Result<(String, u16), ConfigError> {
    let first = value.split(',').next().unwrap_or("").trim();
    let address = first.split_once("://").map(|(_, rest)| rest).unwrap_or(first);
    let (host, port) =
        address.rsplit_once(':').ok_or_else(|| invalid(name, value, "expected [PROTOCOL://]host:port"))?;
    let port = port.parse().map_err(|_| invalid(name, value, "the port is not a number"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

impl BrokerConfig {
    /// `allow.everyone.if.no.acl.found` as it applies: as given, else true only when no
    /// listener authenticates its clients (everyone is `User:ANONYMOUS` there).
    pub fn allow_everyone_if_no_acl(&self) -> bool {
        self.allow_everyone_if_no_acl.unwrap_or_else(|| {
            !self.listeners.iter().any(|l| {
                l.protocol.uses_sasl()
                    || l.tls.as_ref().is_some_and(|t| t.client_auth != crate::listener_config::ClientAuth::None)
            })
        })
    }

    /// Reads a `server.properties` file over the defaults.
    pub fn from_file(path: &Path) -> Result<BrokerConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        BrokerConfig::from_properties(parse_properties(&text))
    }

    /// Applies Kafka property names over the defaults.
    pub fn from_properties(properties: BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        let mut retention_hours = None;
        let mut retention_minutes = None;
        let mut retention_ms = None;
        for (name, value) in &properties {
            let v = value.as_str();
            match name.as_str() {
                "node.id" | "broker.id" => config.node_id = number(name, v)?,
                listener if crate::listener_config::is_listener_property(listener) => {}
                "super.users" => {
                    config.super_users =
                        v.split(';').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect();
                    if let Some(bad) = config.super_users.iter().find(|u| !u.contains(':')) {
                        return Err(invalid(
                            name,
                            v,
                            format!("{bad} is not a principal; write User:NAME, separated by ;"),
                        ));
                    }
                }
                "allow.everyone.if.no.acl.found" => {
                    config.allow_everyone_if_no_acl =
                        Some(v.parse().map_err(|_| invalid(name, v, "expected true or false"))?)
                }
                // runnel has one authorizer, always on; Kafka's class names are accepted.
                "authorizer.class.name" => {}
                "connection.failed.authentication.delay.ms" => config.failed_authentication_delay_ms = number(name, v)?,
                "connections.max.reauth.ms" => {
                    config.connections_max_reauth_ms = number(name, v)?;
                    if config.connections_max_reauth_ms < 0 {
                        return Err(invalid(name, v, "must be 0 (no re-authentication) or more"));
                    }
                }
                "log.dirs" | "log.dir" => {
                    let first = v.split(',').next().unwrap_or("").trim();
                    if first.is_empty() {
                        return Err(invalid(name, v, "expected a directory"));
                    }
                    config.data_dir = PathBuf::from(first);
                }
                "num.partitions" => {
                    config.num_partitions = number(name, v)?;
                    if config.num_partitions < 1 {
                        return Err(invalid(name, v, "must be at least 1"));
                    }
                }
                "auto.create.topics.enable" => {
                    config.auto_create_topics = v.parse().map_err(|_| invalid(name, v, "expected true or false"))?
                }
                "log.segment.bytes" => {
                    config.log.segment_bytes = number(name, v)?;
                    if config.log.segment_bytes < 14 {
                        return Err(invalid(name, v, "must be at least 14 bytes"));
                    }
                }
                "log.roll.ms" => config.log.segment_ms = number(name, v)?,
                "log.roll.hours" => config.log.segment_ms = number::<i64>(name, v)? * 3_600_000,
                "log.retention.ms" => retention_ms = Some(number::<i64>(name, v)?),
                "log.retention.minutes" => retention_minutes = Some(number::<i64>(name, v)?),
                "log.retention.hours" => retention_hours = Some(number::<i64>(name, v)?),
                "log.retention.bytes" => config.log.retention_bytes = number(name, v)?,
                "log.index.interval.bytes" => config.log.index_interval_bytes = number(name, v)?,
                "log.retention.check.interval.ms" => config.retention_check_interval_ms = number(name, v)?,
                "log.cleaner.enable" => {
                    config.cleaner.enable = v.parse().map_err(|_| invalid(name, v, "expected true or false"))?
                }
                "log.cleaner.backoff.ms" => config.cleaner.backoff_ms = positive(name, v)? as u64,
                "log.cleaner.dedupe.buffer.size" => config.cleaner.dedupe_buffer_size = positive(name, v)?,
                "log.cleaner.io.max.bytes.per.second" => {
                    // Kafka's default is a double's maximum: anything that large means no limit.
                    let rate: f64 = number(name, v)?;
                    config.cleaner.io_max_bytes_per_second =
                        if rate >= u64::MAX as f64 { 0 } else { rate.max(1.0) as u64 };
                }
                "log.recovery.checkpoint.min.bytes" => config.recovery_checkpoint_min_bytes = positive(name, v)? as u64,
                "log.flush.offset.checkpoint.interval.ms" => {
                    config.recovery_checkpoint_interval_ms = positive(name, v)? as u64
                }
                "message.max.bytes" => config.log.max_message_bytes = number(name, v)?,
                "socket.request.max.bytes" => config.socket_request_max_bytes = number(name, v)?,
                "group.initial.rebalance.delay.ms" => config.groups.initial_rebalance_delay_ms = number(name, v)?,
                "group.min.session.timeout.ms" => config.groups.min_session_timeout_ms = number(name, v)?,
                "group.max.session.timeout.ms" => config.groups.max_session_timeout_ms = number(name, v)?,
                "offsets.retention.minutes" => {
                    config.groups.offsets_retention_ms = number::<i64>(name, v)?.saturating_mul(60_000)
                }
                "offsets.topic.segment.bytes" => config.groups.segment_bytes = positive(name, v)? as u64,
                "group.consumer.session.timeout.ms" => config.groups.consumer_session_timeout_ms = number(name, v)?,
                "group.consumer.heartbeat.interval.ms" => {
                    config.groups.consumer_heartbeat_interval_ms = number(name, v)?
                }
                "offset.metadata.max.bytes" => config.groups.max_metadata_bytes = number(name, v)?,
                "max.partitions.per.request" => config.limits.per_request = positive(name, v)?,
                "max.broker.partitions" => config.limits.per_broker = positive(name, v)?,
                "max.incremental.fetch.session.cache.slots" => config.fetch_session_slots = number(name, v)?,
                "max.connections.per.ip" => config.connection_limits.per_ip = number(name, v)?,
                "max.connections.per.ip.overrides" => {
                    config.connection_limits.per_ip_overrides =
                        crate::connection_limits::ConnectionLimitSettings::parse_overrides(v)
                            .map_err(|e| invalid(name, v, e))?
                }
                "max.connections" => config.connection_limits.total = number(name, v)?,
                "connections.max.idle.ms" => config.connections_max_idle_ms = positive(name, v)? as u64,
                "request.read.timeout.ms" => config.request_read_timeout_ms = positive(name, v)? as u64,
                "http.listen" => config.http_listen = parse_http_listen(name, v)?,
                "http.authentication" => {
                    config.http_basic_auth = match v.to_ascii_lowercase().as_str() {
                        "basic" => true,
                        "none" => false,
                        _ => return Err(invalid(name, v, "expected basic or none")),
                    }
                }
                "http.ssl.keystore.location" => {
                    config.http_tls = Some(crate::listener_config::TlsSettings {
                        keystore: crate::listener_config::Pem::File(PathBuf::from(v)),
                        key: None,
                        truststore: None,
                        client_auth: crate::listener_config::ClientAuth::None,
                    })
                }
                "transaction.max.timeout.ms" => config.transaction_max_timeout_ms = positive(name, v)? as i32,
                "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                    config.transaction_abort_interval_ms = positive(name, v)? as u64
                }
                "transactional.id.expiration.ms" => config.transactional_id_expiration_ms = positive(name, v)? as i64,
                "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                    config.transaction_remove_expired_interval_ms = positive(name, v)? as u64
                }
                console if console.starts_with("console.") => {
                    config.console.insert(console.to_string(), v.to_string());
                }
                "compression.type" => {
                    config.log.compression = crate::recompress::parse_compression_type(v).ok_or_else(|| {
                        invalid(name, v, "expected one of uncompressed, zstd, lz4, snappy, gzip, producer")
                    })?
                }
                "log.cleanup.policy" => crate::topic_config::validate("cleanup.policy", v)
                    .map_err(|_| invalid(name, v, "expected delete, compact or both"))?,
                "log.message.timestamp.type" => {
                    config.log.log_append_time = match v {
                        "LogAppendTime" => true,
                        "CreateTime" => false,
                        _ => return Err(invalid(name, v, "expected CreateTime or LogAppendTime")),
                    }
                }
                other => tracing::debug!(property = other, "ignoring a property a single node has no use for"),
            }
        }
        config.listeners = crate::listener_config::parse(&properties)?;
        crate::listener_config::check_global_mechanisms(&properties)?;
        // Kafka's precedence: ms over minutes over hours.
        if let Some(ms) =
            retention_ms.or(retention_minutes.map(|m| m * 60_000)).or(retention_hours.map(|h| h * 3_600_000))
        {
            config.log.retention_ms = if ms < 0 { -1 } else { ms };
        }
        config.properties = properties;
        Ok(config)
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, std::io::Error> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other("no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_property_names_set_the_matching_settings() {
        let text = "# a comment\nnode.id=3\nlisteners=PLAINTEXT://127.0.0.1:19092\n\
                    advertised.listeners=PLAINTEXT://broker.example:9092\nlog.dirs=/tmp/x,/tmp/y\n\
                    num.partitions=4\nauto.create.topics.enable=false\nlog.segment.bytes=1048576\n\
                    log.retention.hours=1\nlog.retention.bytes=5000\nmessage.max.bytes=2000000\n\
                    socket.request.max.bytes=3000000\nlog.flush.interval.messages=1\n";
        let config = BrokerConfig::from_properties(parse_properties(text)).expect("valid");
        assert_eq!(config.node_id, 3);
        assert_eq!(config.listeners[0].bind, "127.0.0.1:19092".parse().expect("addr"));
        assert_eq!(config.listeners[0].advertised, Some(("broker.example".to_string(), 9092)));
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.num_partitions, 4);
        assert!(!config.auto_create_topics);
        assert_eq!(config.log.segment_bytes, 1_048_576);
        assert_eq!(config.log.retention_ms, 3_600_000);
        assert_eq!(config.log.retention_bytes, 5000);
        assert_eq!(config.log.max_message_bytes, 2_000_000);
        assert_eq!(config.socket_request_max_bytes, 3_000_000);
    }

    #[test]
    fn limits_and_connection_timeouts_are_settable_and_must_be_positive() {
        let text = "max.partitions.per.request=50\nmax.broker.partitions=700\nconnections.max.idle.ms=1500\n\
                    request.read.timeout.ms=250";
        let config = BrokerConfig::from_properties(parse_properties(text)).expect("valid");
        assert_eq!(config.limits.per_request, 50);
        assert_eq!(config.limits.per_broker, 700);
        assert_eq!(config.connections_max_idle_ms, 1500);
        assert_eq!(config.request_read_timeout_ms, 250);
        let err = BrokerConfig::from_properties(parse_properties("max.broker.partitions=0")).expect_err("zero");
        assert_eq!(err.to_string(), "config max.broker.partitions=0: expected a number above 0");
    }

    #[test]
    fn a_sasl_listener_and_its_mechanisms_are_read_with_kafkas_names() {
        let config = BrokerConfig::from_properties(parse_properties(
            "listeners=SASL_PLAINTEXT://127.0.0.1:9093\nsasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN\n",
        ))
        .expect("valid");
        assert_eq!(config.listeners[0].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(config.listeners[0].sasl_mechanisms, ["SCRAM-SHA-512", "PLAIN"]);
        let mapped = BrokerConfig::from_properties(parse_properties(
            "listeners=CLIENT://:9092\nlistener.security.protocol.map=CLIENT:SASL_PLAINTEXT\n",
        ))
        .expect("valid");
        assert_eq!(mapped.listeners[0].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(mapped.listeners[0].sasl_mechanisms, ["SCRAM-SHA-256", "SCRAM-SHA-512"]);
        assert_eq!(BrokerConfig::default().listeners[0].protocol, SecurityProtocol::Plaintext);
        let gssapi =
            BrokerConfig::from_properties(parse_properties("sasl.enabled.mechanisms=GSSAPI")).expect_err("not served");
        assert!(gssapi.to_string().contains("GSSAPI is not served"), "{gssapi}");
    }

    #[test]
    fn the_http_listener_defaults_to_9644_and_can_be_moved_or_turned_off() {
        assert_eq!(BrokerConfig::default().http_listen, Some("127.0.0.1:9644".parse().expect("addr")));
        let moved = BrokerConfig::from_properties(parse_properties("http.listen=0.0.0.0:9000")).expect("valid");
        assert_eq!(moved.http_listen, Some("0.0.0.0:9000".parse().expect("addr")));
        let off = BrokerConfig::from_properties(parse_properties("http.listen=off")).expect("valid");
        assert_eq!(off.http_listen, None);
        let err = BrokerConfig::from_properties(parse_properties("http.listen=nowhere")).expect_err("invalid");
        assert!(err.to_string().starts_with("config http.listen=nowhere"), "{err}");
    }

    #[test]
    fn retention_ms_wins_over_hours_and_bad_values_name_the_property() {
        let config =
            BrokerConfig::from_properties(parse_properties("log.retention.hours=1\nlog.retention.ms=500")).expect("ok");
        assert_eq!(config.log.retention_ms, 500);
        let err = BrokerConfig::from_properties(parse_properties("num.partitions=lots")).expect_err("invalid");
        assert_eq!(err.to_string(), "config num.partitions=lots: expected a number");
    }

    #[test]
    fn group_properties_set_the_coordinator_settings() {
        let text = "group.initial.rebalance.delay.ms=3000\ngroup.min.session.timeout.ms=1000\n\
                    group.max.session.timeout.ms=60000\noffsets.retention.minutes=2\noffset.metadata.max.bytes=10";
        let groups = BrokerConfig::from_properties(parse_properties(text)).expect("valid").groups;
        assert_eq!(
            groups,
            GroupSettings {
                initial_rebalance_delay_ms: 3000,
                min_session_timeout_ms: 1000,
                max_session_timeout_ms: 60000,
                offsets_retention_ms: 120_000,
                max_metadata_bytes: 10,
                ..GroupSettings::default()
            }
        );
    }

    #[test]
    fn transaction_properties_set_the_coordinator_settings() {
        let defaults = BrokerConfig::default();
        assert_eq!(
            (defaults.transactional_id_expiration_ms, defaults.transaction_remove_expired_interval_ms),
            (604_800_000, 3_600_000),
            "Kafka's defaults: a week, an hour"
        );
        let text = "transaction.max.timeout.ms=60000
transaction.abort.timed.out.transaction.cleanup.interval.ms=500
\
                    transactional.id.expiration.ms=1000
transaction.remove.expired.transaction.cleanup.interval.ms=200";
        let config = BrokerConfig::from_properties(parse_properties(text)).expect("valid");
        assert_eq!(config.transaction_max_timeout_ms, 60_000);
        assert_eq!(config.transaction_abort_interval_ms, 500);
        assert_eq!(config.transactional_id_expiration_ms, 1000);
        assert_eq!(config.transaction_remove_expired_interval_ms, 200);
        assert!(BrokerConfig::from_properties(parse_properties("transactional.id.expiration.ms=0")).is_err());
    }
}
