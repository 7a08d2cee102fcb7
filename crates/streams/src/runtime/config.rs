//! How an application runs: where the cluster is, its id, its processing guarantee.

use std::time::Duration;

/// Processing guarantees, as Kafka Streams names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// Each input record affects state and output at least once: after a crash, records since
    /// the last commit are processed again (counts may come out higher, never lower).
    AtLeastOnce,
    /// Kafka Streams' `exactly_once_v2`: one transactional producer per instance; output,
    /// changelog writes and input offsets commit together; input and restores read committed.
    ExactlyOnce,
}

/// An application's settings.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// Bootstrap servers.
    pub bootstrap_servers: String,
    /// The application id: the consumer group, and the prefix of internal topics and
    /// transactional ids. Instances with the same id share the work.
    pub application_id: String,
    /// At-least-once or exactly-once.
    pub guarantee: Guarantee,
    /// How often progress is committed (Kafka Streams' defaults: 30 s, or 100 ms exactly-once).
    pub commit_interval: Duration,
    /// How long a task reading several partitions waits for one that has no record yet and
    /// is not known to be at its end, before processing the others' records anyway (Kafka
    /// Streams' `max.task.idle.ms`).
    pub max_task_idle: Duration,
    /// Partitions of internal topics follow their inputs; this is their replication factor
    /// (-1: the cluster's default).
    pub replication_factor: i32,
    /// Extra librdkafka properties: unprefixed for every client (`security.protocol`, ...),
    /// `consumer.`, `producer.` or `admin.` in front for one kind only
    /// (`consumer.session.timeout.ms`), as Kafka Streams takes them.
    pub client_properties: Vec<(String, String)>,
    /// Where stores live on disk (`None`: in memory, rebuilt from their changelogs at every
    /// start). On disk, memory is bounded by the two sizes below however many keys the stores
    /// hold, and a restarted instance restores only what the changelogs gained since its
    /// last checkpoint. Kafka Streams' `state.dir`.
    pub state_dir: Option<std::path::PathBuf>,
    /// On disk: the block cache shared by every store of the instance.
    pub state_cache_bytes: u64,
    /// On disk: the in-memory write buffer (memtable) of each store of each task, flushed to
    /// disk when full.
    pub state_memtable_bytes: u64,
}

/// Which client a property is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    /// The group consumer and the restore consumer.
    Consumer,
    /// The producer.
    Producer,
    /// Metadata and topic creation.
    Admin,
}

impl ClientKind {
    fn prefix(self) -> &'static str {
        match self {
            ClientKind::Consumer => "consumer.",
            ClientKind::Producer => "producer.",
            ClientKind::Admin => "admin.",
        }
    }
}

/// The kind a property names in front, and the property itself.
fn split_kind(key: &str) -> (Option<ClientKind>, &str) {
    for kind in [ClientKind::Consumer, ClientKind::Producer, ClientKind::Admin] {
        if let Some(rest) = key.strip_prefix(kind.prefix()) {
            return (Some(kind), rest);
        }
    }
    (None, key)
}

impl StreamsConfig {
    /// Settings with Kafka Streams' defaults for `guarantee`.
    pub fn new(bootstrap_servers: &str, application_id: &str, guarantee: Guarantee) -> Self {
        let commit_interval = match guarantee {
            Guarantee::AtLeastOnce => Duration::from_secs(30),
            Guarantee::ExactlyOnce => Duration::from_millis(100),
        };
        StreamsConfig {
            bootstrap_servers: bootstrap_servers.to_string(),
            application_id: application_id.to_string(),
            guarantee,
            commit_interval,
            max_task_idle: Duration::from_secs(2),
            replication_factor: -1,
            client_properties: Vec::new(),
            state_dir: None,
            state_cache_bytes: 32 << 20,
            state_memtable_bytes: 8 << 20,
        }
    }

    /// Keeps the stores on disk under `dir` (see [`StreamsConfig::state_dir`]).
    pub fn with_state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Sets a librdkafka property on every client.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.client_properties.push((key.to_string(), value.to_string()));
        self
    }

    /// A client config of `kind` with `defaults`, which the extra properties override.
    pub(crate) fn client(&self, kind: ClientKind, defaults: &[(&str, &str)]) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers).set("log_level", "4");
        for (k, v) in defaults {
            config.set(*k, *v);
        }
        for (key, value) in &self.client_properties {
            match split_kind(key) {
                (Some(for_kind), key) if for_kind == kind => config.set(key, value),
                (None, key) => config.set(key, value),
                _ => &mut config,
            };
        }
        config
    }

    /// Whether inputs, restores and outputs are transactional.
    pub(crate) fn exactly_once(&self) -> bool {
        self.guarantee == Guarantee::ExactlyOnce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_properties_reach_only_their_kind_of_client() {
        let config = StreamsConfig::new("b:9092", "app", Guarantee::AtLeastOnce)
            .set("consumer.session.timeout.ms", "6000")
            .set("producer.linger.ms", "1")
            .set("client.id", "x");
        let consumer = config.client(ClientKind::Consumer, &[]);
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(consumer.get("linger.ms"), None);
        assert_eq!(consumer.get("client.id"), Some("x"));
        let producer = config.client(ClientKind::Producer, &[("linger.ms", "5")]);
        assert_eq!(producer.get("linger.ms"), Some("1"), "the application's property wins over the default");
        assert_eq!(producer.get("session.timeout.ms"), None);
    }
}
