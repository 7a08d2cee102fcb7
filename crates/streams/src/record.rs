//! Records as processors see them, and as a task hands them to the producer.

/// One header of a record: a name and an optional value.
pub type Header = (String, Option<Vec<u8>>);

/// A typed record flowing through a topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// Milliseconds since the epoch: the source record's timestamp, carried through.
    pub timestamp: i64,
    /// Headers, carried through from the source record.
    pub headers: Vec<Header>,
}

impl<K, V> Record<K, V> {
    /// A record with no headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Record { key, value, timestamp, headers: Vec::new() }
    }

    /// The same record with another key and value.
    pub fn with<K2, V2>(self, key: K2, value: V2) -> Record<K2, V2> {
        Record { key, value, timestamp: self.timestamp, headers: self.headers }
    }
}

/// A record read from a topic, before its source decodes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// The topic it came from (shared by its partition's records).
    pub topic: std::sync::Arc<str>,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Key bytes (`None`: null).
    pub key: Option<Vec<u8>>,
    /// Value bytes (`None`: null).
    pub value: Option<Vec<u8>>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Headers.
    pub headers: Vec<Header>,
}

/// A record a task writes: to an output topic, a repartition topic or a changelog.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRecord {
    /// The topic to write to (shared by the records a sink writes).
    pub topic: std::sync::Arc<str>,
    /// The partition, when the task decides it (changelogs: the task's own); otherwise the
    /// producer's partitioner picks by key (murmur2, as Java's clients and Kafka Streams do).
    pub partition: Option<i32>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Headers.
    pub headers: Vec<Header>,
}
