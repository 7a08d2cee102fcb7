//! Rooms on a Kafka cluster, through rdkafka: posting produces a record, reading assigns the
//! room's partition at an offset and polls, a bookmark is a committed offset of the user's
//! consumer group. The store keeps no state of its own, so any number of chat servers can
//! serve the same rooms. Readers waiting for new messages share one follower per room
//! ([`crate::tail`]) instead of a consumer each.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::error::ApiError;
use crate::rules;
use crate::tail::{TailRead, Tails};

/// How long a call to the cluster may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How far back a retried post is looked for, in messages.
const RETRY_WINDOW: i64 = 200;

/// A message as the API returns it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    /// Its offset in the room: its place in the room's one order.
    pub offset: i64,
    /// Who wrote it.
    pub user: String,
    /// What they wrote.
    pub text: String,
    /// When the broker received it, in ms since the epoch.
    pub timestamp: i64,
    /// The client's message id (a retried post carries the same one).
    pub id: String,
}

/// A room and how many of its messages a user has not read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Room {
    /// Room name.
    pub name: String,
    /// Log end offset minus the user's bookmark.
    pub unread: i64,
}

/// The chat's view of a Kafka cluster.
pub struct ChatStore {
    brokers: String,
    /// librdkafka properties for every client (security settings, say).
    properties: Vec<(String, String)>,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Rooms known to exist, so a post does not ask the cluster to create its room each time.
    known_rooms: std::sync::Mutex<std::collections::HashSet<String>>,
    /// One follower per room with readers waiting for its next messages.
    tails: Tails,
    /// Held while a room's first waiting reader starts its follower.
    starting_follower: tokio::sync::Mutex<()>,
}

/// A client configuration for `brokers` with `properties` over runnel's defaults.
fn client_config(brokers: &str, properties: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("log_level", "3");
    for (key, value) in properties {
        config.set(key, value);
    }
    config
}

fn unavailable(brokers: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("the Kafka cluster at {brokers} did not answer: {e}"))
}

impl ChatStore {
    /// Clients for the cluster at `brokers`.
    pub fn connect(brokers: &str) -> anyhow::Result<ChatStore> {
        ChatStore::connect_with(brokers, &[])
    }

    /// Clients for the cluster at `brokers`, each with the librdkafka `properties` (the
    /// chat's own SASL and TLS settings, say).
    pub fn connect_with(brokers: &str, properties: &[(String, String)]) -> anyhow::Result<ChatStore> {
        let config = client_config(brokers, properties);
        let producer: FutureProducer =
            config.clone().set("acks", "all").set("enable.idempotence", "true").set("linger.ms", "0").create()?;
        let admin = config.create()?;
        Ok(ChatStore {
            brokers: brokers.to_string(),
            properties: properties.to_vec(),
            producer,
            admin,
            known_rooms: Default::default(),
            tails: Tails::new(config),
            starting_follower: tokio::sync::Mutex::new(()),
        })
    }

    /// Bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    fn consumer(&self, group: &str) -> Result<BaseConsumer, ApiError> {
        client_config(&self.brokers, &self.properties)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "1000")
            .create()
            .map_err(|e| unavailable(&self.brokers, e))
    }

    /// Runs `work` with a fresh consumer of `group` on the blocking pool (rdkafka's calls
    /// block), then closes the consumer off the request's path.
    async fn with_consumer<T: Send + 'static>(
        &self,
        group: String,
        work: impl FnOnce(&BaseConsumer, &str) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let consumer = self.consumer(&group)?;
        let brokers = self.brokers.clone();
        tokio::task::spawn_blocking(move || {
            let result = work(&consumer, &brokers);
            close_later(consumer);
            result
        })
        .await
        .map_err(|e| unavailable(&self.brokers, e))?
    }

    async fn ensure_room(&self, room: &str) -> Result<(), ApiError> {
        if self.known_rooms.lock().is_ok_and(|known| known.contains(room)) {
            return Ok(());
        }
        let name = rules::topic(room);
        let topic = NewTopic::new(&name, 1, TopicReplication::Fixed(1));
        let results = self
            .admin
            .create_topics(&[topic], &AdminOptions::new())
            .await
            .map_err(|e| unavailable(&self.brokers, e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, e)) => return Err(unavailable(&self.brokers, e)),
            }
        }
        if let Ok(mut known) = self.known_rooms.lock() {
            known.insert(room.to_string());
        }
        Ok(())
    }

    /// Posts a message; returns its offset. A post retried with the same `id` returns the
    /// first one's offset instead of adding the message again.
    pub async fn post(&self, room: &str, user: &str, text: &str, id: Option<String>) -> Result<i64, ApiError> {
        self.ensure_room(room).await?;
        if let Some(id) = &id {
            let (topic, room_name) = (rules::topic(room), room.to_string());
            let recent = self
                .with_consumer("chat.reader".into(), move |consumer, brokers| {
                    let (low, high) = room_offsets(consumer, &topic, &room_name, brokers)?;
                    let start = (high - RETRY_WINDOW).max(low);
                    poll_messages(consumer, &topic, start, high, 0, RETRY_WINDOW as usize, brokers)
                })
                .await?;
            if let Some(earlier) = recent.iter().find(|m| &m.id == id) {
                return Ok(earlier.offset);
            }
        }
        let id = id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let headers = OwnedHeaders::new()
            .insert(Header { key: "user", value: Some(user.as_bytes()) })
            .insert(Header { key: "id", value: Some(id.as_bytes()) });
        let topic = rules::topic(room);
        let record = FutureRecord::to(&topic).key(room).payload(text).headers(headers).partition(0);
        let delivery = self.producer.send(record, TIMEOUT).await.map_err(|(e, _)| unavailable(&self.brokers, e))?;
        Ok(delivery.offset)
    }

    /// Reads up to `max` messages: after `after` if given, else from the user's bookmark, else
    /// (a newcomer) from the beginning. Waits up to `wait_ms` when there is nothing new. One
    /// consumer of the user's group looks up the room, the bookmark, and reads.
    pub async fn read(
        &self,
        room: &str,
        user: &str,
        after: Option<i64>,
        wait_ms: u64,
        max: usize,
    ) -> Result<Vec<Message>, ApiError> {
        let (topic, room) = (rules::topic(room), room.to_string());
        if let Some(after) = after.filter(|_| wait_ms > 0) {
            // A reader waiting after a message it has: the room's follower answers, from memory.
            // The first reader of a room starts it; the others wait for that, not each asking
            // the cluster.
            let end = match self.tails.end_of(&topic) {
                Some(end) => end,
                None => {
                    let _starting = self.starting_follower.lock().await;
                    match self.tails.end_of(&topic) {
                        Some(end) => end,
                        None => {
                            let (name, room) = (topic.clone(), room.clone());
                            let (_, end) = self
                                .with_consumer("chat.reader".into(), move |consumer, brokers| {
                                    room_offsets(consumer, &name, &room, brokers)
                                })
                                .await?;
                            if let Err(e) = self.tails.start(&topic, end) {
                                tracing::warn!(topic, error = %e, "could not follow a room; reading it directly");
                            }
                            end
                        }
                    }
                }
            };
            let wait = Duration::from_millis(wait_ms);
            if let TailRead::Messages(messages) = self.tails.read(&topic, after + 1, end, wait, max).await {
                return Ok(messages);
            }
        }
        self.with_consumer(rules::bookmark_group(user), move |consumer, brokers| {
            let (low, high) = room_offsets(consumer, &topic, &room, brokers)?;
            let start = match after {
                Some(after) => after + 1,
                None => bookmark(consumer, &topic, brokers)?.unwrap_or(low),
            };
            poll_messages(consumer, &topic, start.max(low), high, wait_ms, max, brokers)
        })
        .await
    }

    /// Commits a user's bookmark: `offset` and every message before it are read.
    pub async fn mark_read(&self, room: &str, user: &str, offset: i64) -> Result<(), ApiError> {
        let (topic, room) = (rules::topic(room), room.to_string());
        self.with_consumer(rules::bookmark_group(user), move |consumer, brokers| {
            let (low, high) = room_offsets(consumer, &topic, &room, brokers)?;
            if offset < low - 1 || offset >= high {
                return Err(ApiError::BadRequest(format!(
                    "offset {offset} is not a message of room {room} (its messages are {low} to {})",
                    high - 1
                )));
            }
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&topic, 0, Offset::Offset(offset + 1)).map_err(|e| unavailable(brokers, e))?;
            consumer.commit(&list, CommitMode::Sync).map_err(|e| unavailable(brokers, e))
        })
        .await
    }

    /// Every room, with the user's unread count.
    pub async fn rooms(&self, user: &str) -> Result<Vec<Room>, ApiError> {
        self.with_consumer(rules::bookmark_group(user), move |consumer, brokers| {
            let metadata = consumer.fetch_metadata(None, TIMEOUT).map_err(|e| unavailable(brokers, e))?;
            let mut topics: Vec<String> = metadata
                .topics()
                .iter()
                .filter(|t| t.name().starts_with(rules::TOPIC_PREFIX) && !t.partitions().is_empty())
                .map(|t| t.name().to_string())
                .collect();
            topics.sort();
            let mut list = TopicPartitionList::new();
            for topic in &topics {
                list.add_partition(topic, 0);
            }
            let committed = consumer.committed_offsets(list, TIMEOUT).map_err(|e| unavailable(brokers, e))?;
            let mut rooms = Vec::new();
            for e in committed.elements() {
                let (low, high) =
                    consumer.fetch_watermarks(e.topic(), 0, TIMEOUT).map_err(|err| unavailable(brokers, err))?;
                let bookmark = e.offset().to_raw().filter(|o| *o >= 0).unwrap_or(low);
                rooms.push(Room {
                    name: e.topic().trim_start_matches(rules::TOPIC_PREFIX).to_string(),
                    unread: (high - bookmark.max(low)).max(0),
                });
            }
            Ok(rooms)
        })
        .await
    }
}

/// Closes a consumer off the request's path: closing takes librdkafka about 100 ms.
fn close_later(consumer: BaseConsumer) {
    tokio::runtime::Handle::current().spawn_blocking(move || drop(consumer));
}

/// A record of a room as the API returns it.
pub(crate) fn to_message(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    let header = |name: &str| {
        m.headers()
            .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    Message {
        offset: m.offset(),
        user: header("user"),
        text: m.payload().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default(),
        timestamp: m.timestamp().to_millis().unwrap_or(0),
        id: header("id"),
    }
}

/// (log start, log end) of a room's partition; NotFound if the room does not exist.
fn room_offsets(consumer: &BaseConsumer, topic: &str, room: &str, brokers: &str) -> Result<(i64, i64), ApiError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(|e| unavailable(brokers, e))?;
    if metadata.topics().first().is_none_or(|t| t.error().is_some() || t.partitions().is_empty()) {
        return Err(ApiError::NotFound(format!("room {room} does not exist; post to it to create it")));
    }
    consumer.fetch_watermarks(topic, 0, TIMEOUT).map_err(|e| unavailable(brokers, e))
}

/// The committed offset of the consumer's group in a room: the user's bookmark, if set.
fn bookmark(consumer: &BaseConsumer, topic: &str, brokers: &str) -> Result<Option<i64>, ApiError> {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, 0);
    let committed = consumer.committed_offsets(list, TIMEOUT).map_err(|e| unavailable(brokers, e))?;
    Ok(committed.elements().first().and_then(|e| e.offset().to_raw()).filter(|o| *o >= 0))
}

/// Reads up to `max` messages from `start` (the room ends at `high`), waiting up to `wait_ms`
/// for new ones when there is nothing to read, and returning as soon as something arrived.
fn poll_messages(
    consumer: &BaseConsumer,
    topic: &str,
    start: i64,
    high: i64,
    wait_ms: u64,
    max: usize,
    brokers: &str,
) -> Result<Vec<Message>, ApiError> {
    if start >= high && wait_ms == 0 {
        return Ok(Vec::new());
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Offset(start)).map_err(|e| unavailable(brokers, e))?;
    consumer.assign(&list).map_err(|e| unavailable(brokers, e))?;
    let deadline = Instant::now() + Duration::from_millis(wait_ms.max(if start < high { 5_000 } else { 0 }));
    let mut messages = Vec::new();
    while messages.len() < max {
        // Once something arrived (or all that existed is read), return what is there now.
        let have_all_existing = messages.last().is_some_and(|m: &Message| m.offset + 1 >= high);
        let timeout = if have_all_existing || (!messages.is_empty() && start >= high) {
            Duration::from_millis(1)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        if timeout.is_zero() {
            break;
        }
        match consumer.poll(timeout) {
            Some(Ok(m)) => messages.push(to_message(&m)),
            Some(Err(e)) => return Err(unavailable(brokers, e)),
            None if !messages.is_empty() || Instant::now() >= deadline => break,
            None => {}
        }
    }
    Ok(messages)
}
