//! The newest messages of each room, shared by every reader waiting for them: one consumer per
//! room follows its end, keeps its last messages in memory, and wakes the readers waiting for
//! more. A thousand people long-polling a room cost the chat one Kafka consumer, not a
//! thousand. A room's follower stops once nobody has waited on it for a minute.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::store::Message;

/// How many of a room's newest messages are kept for readers that are a little behind.
const RECENT: usize = 1000;
/// A follower nobody has waited on for this long stops.
const IDLE: Duration = Duration::from_secs(60);

/// One room's follower: its newest messages and the offset after the last one.
struct RoomTail {
    /// The offset after the newest message read (the room's log end as far as it knows).
    end: watch::Sender<i64>,
    recent: Mutex<VecDeque<Message>>,
    last_waiter: Mutex<Instant>,
}

impl RoomTail {
    /// Up to `max` messages from `start`, if the kept ones reach back that far.
    fn messages_from(&self, start: i64, max: usize) -> Option<Vec<Message>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let end = *self.end.borrow();
        let oldest = recent.front().map_or(end, |m| m.offset);
        if start < oldest {
            return None;
        }
        Some(recent.iter().filter(|m| m.offset >= start).take(max).cloned().collect())
    }
}

type Rooms = Arc<Mutex<HashMap<String, Arc<RoomTail>>>>;

/// Every room's follower, started on the first reader waiting in that room.
pub struct Tails {
    config: ClientConfig,
    rooms: Rooms,
}

/// What a waiting read got from the followers.
pub enum TailRead {
    /// Messages from the asked offset (empty if none came within the wait).
    Messages(Vec<Message>),
    /// The asked offset is older than what the follower keeps: read it from the cluster.
    TooOld,
}

impl Tails {
    /// Followers whose consumers use `config` (brokers and security settings).
    pub fn new(config: ClientConfig) -> Tails {
        Tails { config, rooms: Rooms::default() }
    }

    /// Messages of `topic` from `start`, waiting up to `wait` for the first one. `end` is the
    /// room's log end just read from the cluster, where a new follower starts.
    pub async fn read(&self, topic: &str, start: i64, end: i64, wait: Duration, max: usize) -> TailRead {
        let tail = match self.follow(topic, end) {
            Ok(tail) => tail,
            Err(e) => {
                tracing::warn!(topic, error = %e, "could not follow a room; reading it directly");
                return TailRead::TooOld;
            }
        };
        let mut changes = tail.end.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tail.messages_from(start, max) {
                None => return TailRead::TooOld,
                Some(messages) if !messages.is_empty() => return TailRead::Messages(messages),
                Some(_) => {}
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The wait is over, or the follower stopped: nothing new.
                _ => return TailRead::Messages(tail.messages_from(start, max).unwrap_or_default()),
            }
        }
    }

    /// Starts following `topic` at `end`, unless a follower already does.
    pub fn start(&self, topic: &str, end: i64) -> anyhow::Result<()> {
        self.follow(topic, end).map(drop)
    }

    /// The room's end as its follower knows it, if one follows `topic`: a reader then needs
    /// nothing from the cluster.
    pub fn end_of(&self, topic: &str) -> Option<i64> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner()).get(topic).map(|tail| *tail.end.borrow())
    }

    /// The follower of `topic`, started at `end` if there is none. Marked as waited on under
    /// the followers' lock, so it cannot stop between this and the reader's wait.
    fn follow(&self, topic: &str, end: i64) -> anyhow::Result<Arc<RoomTail>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tail) = rooms.get(topic) {
            *tail.last_waiter.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            return Ok(tail.clone());
        }
        // librdkafka's consumer needs a group id even to assign; it never joins or commits.
        let consumer: BaseConsumer = self
            .config
            .clone()
            .set("group.id", "chat.follower")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "500")
            .create()?;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, 0, Offset::Offset(end))?;
        consumer.assign(&list)?;
        let (sender, _) = watch::channel(end);
        let tail = Arc::new(RoomTail {
            end: sender,
            recent: Mutex::new(VecDeque::new()),
            last_waiter: Mutex::new(Instant::now()),
        });
        rooms.insert(topic.to_string(), tail.clone());
        let (topic, follower, all) = (topic.to_string(), tail.clone(), self.rooms.clone());
        std::thread::Builder::new()
            .name("chat-follower".into())
            .spawn(move || run(&consumer, &topic, &follower, &all))?;
        Ok(tail)
    }
}

/// Follows one room until nobody has waited on it for [`IDLE`]; then forgets it, so the next
/// reader starts a new follower.
fn run(consumer: &BaseConsumer, topic: &str, tail: &Arc<RoomTail>, rooms: &Rooms) {
    loop {
        {
            let mut rooms = rooms.lock().unwrap_or_else(|p| p.into_inner());
            let idle = tail.last_waiter.lock().unwrap_or_else(|p| p.into_inner()).elapsed() > IDLE;
            if idle && tail.end.receiver_count() == 0 {
                rooms.remove(topic);
                tracing::debug!(topic, "stopped following an idle room");
                return;
            }
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let message = crate::store::to_message(&m);
                let next = message.offset + 1;
                let mut recent = tail.recent.lock().unwrap_or_else(|p| p.into_inner());
                recent.push_back(message);
                while recent.len() > RECENT {
                    recent.pop_front();
                }
                drop(recent);
                tail.end.send_replace(next);
            }
            Some(Err(e)) => {
                tracing::warn!(topic, error = %e, "following a room");
                std::thread::sleep(Duration::from_millis(200));
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_with(offsets: std::ops::Range<i64>) -> RoomTail {
        let recent = offsets
            .clone()
            .map(|offset| Message { offset, user: "u".into(), text: "t".into(), timestamp: 0, id: offset.to_string() })
            .collect();
        RoomTail {
            end: watch::channel(offsets.end).0,
            recent: Mutex::new(recent),
            last_waiter: Mutex::new(Instant::now()),
        }
    }

    fn offsets(messages: Option<Vec<Message>>) -> Option<Vec<i64>> {
        messages.map(|m| m.iter().map(|m| m.offset).collect())
    }

    #[test]
    fn kept_messages_answer_from_their_oldest_and_older_ones_go_to_the_cluster() {
        let tail = tail_with(10..15);
        assert_eq!(offsets(tail.messages_from(12, 100)), Some(vec![12, 13, 14]));
        assert_eq!(offsets(tail.messages_from(10, 2)), Some(vec![10, 11]));
        assert_eq!(offsets(tail.messages_from(15, 100)), Some(vec![]), "nothing new yet: wait");
        assert_eq!(offsets(tail.messages_from(9, 100)), None, "older than what is kept");
        let fresh = tail_with(20..20);
        assert_eq!(offsets(fresh.messages_from(20, 100)), Some(vec![]));
        assert_eq!(offsets(fresh.messages_from(19, 100)), None);
    }
}
