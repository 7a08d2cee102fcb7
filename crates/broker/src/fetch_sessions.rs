//! Fetch sessions (KIP-227): a consumer of many partitions names them once, in a full fetch
//! that opens a session; its later fetches carry only the partitions whose fetch position
//! changed (and those it forgets), and the answer only the partitions with something new
//! (records, an error, or a moved high watermark, last stable offset or log start). The cache
//! holds `max.incremental.fetch.session.cache.slots` sessions; when it is full, the least
//! recently used session idle longer than `min.incremental.fetch.session.eviction.ms` makes
//! room, else the client gets session id 0 and goes on with full fetches, as in Kafka.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use uuid::Uuid;

use crate::fetch_response::FetchAnswer;

/// Kafka's `max.incremental.fetch.session.cache.slots` default.
pub const DEFAULT_SLOTS: usize = 1000;
/// Kafka's `min.incremental.fetch.session.eviction.ms` default.
pub const DEFAULT_MIN_EVICTION: Duration = Duration::from_secs(120);

/// The epoch of a full fetch that asks for a new session.
const INITIAL_EPOCH: i32 = 0;
/// The epoch of a fetch that wants no session (and closes the one named).
const FINAL_EPOCH: i32 = -1;

/// One partition of a session, with what the client was last told of it.
#[derive(Debug, Clone)]
struct SessionPartition {
    topic: TopicName,
    topic_id: Uuid,
    partition: i32,
    fetch_offset: i64,
    log_start_offset: i64,
    max_bytes: i32,
    /// (high watermark, last stable offset, log start) last answered.
    sent: Option<(i64, i64, i64)>,
    /// The partition's change count when it was last answered with the client at its end
    /// and nothing to return: while the count stays, an incremental fetch need not look.
    idle_at: Option<u64>,
}

#[derive(Debug)]
struct Session {
    next_epoch: i32,
    partitions: Vec<SessionPartition>,
    /// `partitions` as request topics, kept until a fetch names or forgets a partition: an
    /// idle incremental fetch names none, and reuses it.
    topics: Option<Arc<Vec<FetchTopic>>>,
    last_used: Instant,
}

/// How a Fetch relates to sessions.
#[derive(Debug)]
pub enum SessionFetch {
    /// No session: answer every partition asked for, session id 0.
    Sessionless,
    /// A full fetch that opened session `id` (0 when the cache had no room).
    Full {
        /// The new session's id, or 0.
        id: i32,
    },
    /// An incremental fetch of session `id`: read `topics` (every partition of the
    /// session), answer only what changed.
    Incremental {
        /// The session.
        id: i32,
        /// The session's partitions, grouped by topic as a full request names them.
        topics: Arc<Vec<FetchTopic>>,
        /// For each partition of `topics`, in order: the change count at which it was last
        /// seen idle (the client at its end, nothing new). While the partition's count is
        /// still that, it has nothing to answer and need not be read.
        idle_at: Vec<Option<u64>>,
    },
    /// A session error (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
    Refused(ResponseError),
}

/// The broker's fetch session cache.
#[derive(Debug)]
pub struct FetchSessions {
    sessions: Mutex<HashMap<i32, Session>>,
    slots: usize,
    min_eviction: Duration,
    /// Incremental fetches served since start.
    pub incremental_fetches: AtomicU64,
    /// Partitions an incremental fetch left unread since start, because they had not changed
    /// since their session saw them idle: what sessions save the broker.
    pub idle_partitions_skipped: AtomicU64,
}

impl FetchSessions {
    /// A cache of up to `slots` sessions.
    pub fn new(slots: usize, min_eviction: Duration) -> FetchSessions {
        FetchSessions {
            sessions: Mutex::new(HashMap::new()),
            slots,
            min_eviction,
            incremental_fetches: AtomicU64::new(0),
            idle_partitions_skipped: AtomicU64::new(0),
        }
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens, continues or closes the session `request` names (Fetch v7+).
    pub fn begin(&self, request: &FetchRequest) -> SessionFetch {
        // librdkafka's fetches, every one: no session, and no lock taken.
        if request.session_id == 0 && request.session_epoch == FINAL_EPOCH {
            return SessionFetch::Sessionless;
        }
        let mut sessions = self.lock();
        let now = Instant::now();
        match (request.session_id, request.session_epoch) {
            (0, FINAL_EPOCH) => SessionFetch::Sessionless,
            (id, FINAL_EPOCH) => {
                sessions.remove(&id);
                SessionFetch::Sessionless
            }
            (0, INITIAL_EPOCH) | (_, INITIAL_EPOCH) => {
                if request.session_id != 0 {
                    sessions.remove(&request.session_id);
                }
                if sessions.len() >= self.slots && !self.evict(&mut sessions, now) {
                    return SessionFetch::Full { id: 0 };
                }
                let id = loop {
                    let id = (rand::random::<u32>() >> 1) as i32;
                    if id != 0 && !sessions.contains_key(&id) {
                        break id;
                    }
                };
                let partitions = request
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| session_partition(t, p)))
                    .collect();
                sessions.insert(id, Session { next_epoch: 1, partitions, topics: None, last_used: now });
                SessionFetch::Full { id }
            }
            (id, epoch) => {
                let Some(session) = sessions.get_mut(&id) else {
                    return SessionFetch::Refused(ResponseError::FetchSessionIdNotFound);
                };
                if epoch != session.next_epoch {
                    return SessionFetch::Refused(ResponseError::InvalidFetchSessionEpoch);
                }
                session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
                session.last_used = now;
                if !request.forgotten_topics_data.is_empty() || !request.topics.is_empty() {
                    session.topics = None;
                }
                for forgotten in &request.forgotten_topics_data {
                    session.partitions.retain(|p| {
                        !(same_topic(p, &forgotten.topic, forgotten.topic_id)
                            && forgotten.partitions.contains(&p.partition))
                    });
                }
                for topic in &request.topics {
                    for wanted in &topic.partitions {
                        match session
                            .partitions
                            .iter_mut()
                            .find(|p| same_topic(p, &topic.topic, topic.topic_id) && p.partition == wanted.partition)
                        {
                            Some(p) => {
                                p.fetch_offset = wanted.fetch_offset;
                                p.log_start_offset = wanted.log_start_offset;
                                p.max_bytes = wanted.partition_max_bytes;
                                p.idle_at = None;
                            }
                            None => session.partitions.push(session_partition(topic, wanted)),
                        }
                    }
                }
                self.incremental_fetches.fetch_add(1, Ordering::Relaxed);
                let topics = session.topics.get_or_insert_with(|| Arc::new(request_topics(&session.partitions)));
                SessionFetch::Incremental {
                    id,
                    topics: topics.clone(),
                    idle_at: session.partitions.iter().map(|p| p.idle_at).collect(),
                }
            }
        }
    }

    /// Frees a slot for a new session: the least recently used one, if it has been idle long
    /// enough; says whether it could.
    fn evict(&self, sessions: &mut HashMap<i32, Session>, now: Instant) -> bool {
        let oldest = sessions.iter().min_by_key(|(_, s)| s.last_used).map(|(id, s)| (*id, s.last_used));
        match oldest {
            Some((id, last_used)) if now.duration_since(last_used) >= self.min_eviction => {
                sessions.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Notes what `answer` tells the client of session `id`'s partitions; with `incremental`,
    /// first leaves out the partitions with nothing new since the last answer.
    pub fn answered(&self, id: i32, answer: &mut FetchAnswer, incremental: bool) {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(&id) else { return };
        // The answer lists the partitions in the session's order (it was built from the
        // session, or the session from the same request): walk both together, looking the
        // partition up only if the orders part.
        let mut next = 0;
        for topic in &mut answer.topics {
            let by_id = !topic.topic_id.is_nil();
            let is = |s: &SessionPartition, partition: i32| {
                s.partition == partition && if by_id { s.topic_id == topic.topic_id } else { s.topic.0 == topic.name }
            };
            topic.partitions.retain(|p| {
                let found = match session.partitions.get(next) {
                    Some(s) if is(s, p.partition_index) => Some(next),
                    _ => session.partitions.iter().position(|s| is(s, p.partition_index)),
                };
                let Some(at) = found else { return true };
                next = at + 1;
                let known = &mut session.partitions[at];
                let now = (p.high_watermark, p.last_stable_offset, p.log_start_offset);
                let changed = p.error_code != 0 || !p.records.is_empty() || known.sent != Some(now);
                known.sent = Some(now);
                // Idle: nothing returned because the client is at the end (not because the
                // answer ran out of room), so until the partition changes there is nothing.
                let at_end = p.error_code == 0 && p.records.is_empty() && known.fetch_offset >= p.high_watermark;
                known.idle_at = if at_end { p.changes } else { None };
                changed || !incremental
            });
        }
        answer.topics.retain(|t| !t.partitions.is_empty());
        answer.session_id = id;
    }
}

fn same_topic(p: &SessionPartition, name: &TopicName, id: Uuid) -> bool {
    if id.is_nil() { p.topic == *name } else { p.topic_id == id }
}

fn session_partition(topic: &FetchTopic, p: &FetchPartition) -> SessionPartition {
    SessionPartition {
        topic: topic.topic.clone(),
        topic_id: topic.topic_id,
        partition: p.partition,
        fetch_offset: p.fetch_offset,
        log_start_offset: p.log_start_offset,
        max_bytes: p.partition_max_bytes,
        sent: None,
        idle_at: None,
    }
}

/// Every partition of the session as request topics, grouped by topic.
fn request_topics(partitions: &[SessionPartition]) -> Vec<FetchTopic> {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in partitions {
        let partition = FetchPartition::default()
            .with_partition(p.partition)
            .with_fetch_offset(p.fetch_offset)
            .with_log_start_offset(p.log_start_offset)
            .with_partition_max_bytes(p.max_bytes);
        match topics.last_mut() {
            Some(last) if last.topic == p.topic && last.topic_id == p.topic_id => last.partitions.push(partition),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(p.topic.clone())
                    .with_topic_id(p.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch_response::{PartitionAnswer, TopicAnswer};
    use kafka_protocol::messages::fetch_request::ForgottenTopic;
    use kafka_protocol::protocol::StrBytes;

    fn name(n: &str) -> TopicName {
        TopicName(StrBytes::from_string(n.to_string()))
    }

    fn request(id: i32, epoch: i32, partitions: &[(&str, i32, i64)]) -> FetchRequest {
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (topic, partition, offset) in partitions {
            let p = FetchPartition::default().with_partition(*partition).with_fetch_offset(*offset);
            match topics.last_mut() {
                Some(t) if t.topic == name(topic) => t.partitions.push(p),
                _ => topics.push(FetchTopic::default().with_topic(name(topic)).with_partitions(vec![p])),
            }
        }
        FetchRequest::default().with_session_id(id).with_session_epoch(epoch).with_topics(topics)
    }

    fn answer(partitions: &[(&str, i32, i64)]) -> FetchAnswer {
        let topics = partitions
            .iter()
            .map(|(topic, partition, hwm)| TopicAnswer {
                name: StrBytes::from_string(topic.to_string()),
                topic_id: Uuid::nil(),
                partitions: vec![PartitionAnswer {
                    partition_index: *partition,
                    high_watermark: *hwm,
                    last_stable_offset: *hwm,
                    ..Default::default()
                }],
            })
            .collect();
        FetchAnswer { topics, ..Default::default() }
    }

    fn answered_partitions(answer: &FetchAnswer) -> Vec<i32> {
        answer.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.partition_index)).collect()
    }

    #[test]
    fn a_session_answers_only_what_changed_and_checks_its_epochs() {
        let sessions = FetchSessions::new(10, DEFAULT_MIN_EVICTION);
        let SessionFetch::Full { id } = sessions.begin(&request(0, 0, &[("t", 0, 0), ("t", 1, 0)])) else {
            panic!("a full fetch with epoch 0 opens a session")
        };
        assert!(id > 0);
        let mut full = answer(&[("t", 0, 5), ("t", 1, 7)]);
        sessions.answered(id, &mut full, false);
        assert_eq!((full.session_id, answered_partitions(&full)), (id, vec![0, 1]));

        // Epoch 1, nothing named: both partitions are read, only the one whose end moved answered.
        let SessionFetch::Incremental { topics, .. } = sessions.begin(&request(id, 1, &[])) else { panic!() };
        assert_eq!(topics[0].partitions.len(), 2, "the whole session is read");
        let mut next = answer(&[("t", 0, 5), ("t", 1, 9)]);
        sessions.answered(id, &mut next, true);
        assert_eq!(answered_partitions(&next), vec![1]);

        // A new position for partition 0, partition 1 forgotten.
        let mut forget = request(id, 2, &[("t", 0, 5)]);
        forget.forgotten_topics_data = vec![ForgottenTopic::default().with_topic(name("t")).with_partitions(vec![1])];
        let SessionFetch::Incremental { topics, .. } = sessions.begin(&forget) else { panic!() };
        assert_eq!(topics[0].partitions.len(), 1);
        assert_eq!(topics[0].partitions[0].fetch_offset, 5);

        // Wrong epochs and unknown sessions get Kafka's codes; epoch -1 closes the session.
        assert!(matches!(
            sessions.begin(&request(id, 7, &[])),
            SessionFetch::Refused(ResponseError::InvalidFetchSessionEpoch)
        ));
        assert!(matches!(
            sessions.begin(&request(id + 1, 1, &[])),
            SessionFetch::Refused(ResponseError::FetchSessionIdNotFound)
        ));
        assert!(matches!(sessions.begin(&request(id, -1, &[])), SessionFetch::Sessionless));
        assert!(sessions.is_empty());
        assert_eq!(sessions.incremental_fetches.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_partition_answered_at_its_end_is_idle_until_it_changes_or_is_named_again() {
        let sessions = FetchSessions::new(10, DEFAULT_MIN_EVICTION);
        let SessionFetch::Full { id } = sessions.begin(&request(0, 0, &[("t", 0, 5), ("t", 1, 3), ("t", 2, 9)])) else {
            panic!("a full fetch with epoch 0 opens a session")
        };
        // Partition 0: the client is at the end (5). Partition 1: behind (3 of 7), the answer
        // had no room for it. Partition 2: at its end but answered with an error.
        let mut full = answer(&[("t", 0, 5), ("t", 1, 7), ("t", 2, 9)]);
        for (at, changes) in [40, 41, 42].into_iter().enumerate() {
            full.topics[at].partitions[0].changes = Some(changes);
        }
        full.topics[2].partitions[0].error_code = ResponseError::NotLeaderOrFollower.code();
        sessions.answered(id, &mut full, false);
        let SessionFetch::Incremental { idle_at, .. } = sessions.begin(&request(id, 1, &[])) else { panic!() };
        assert_eq!(idle_at, vec![Some(40), None, None], "only the partition read to its end is idle");

        // Left out of an incremental answer (unchanged), it stays idle at the same count.
        let mut unchanged = answer(&[("t", 1, 7), ("t", 2, 9)]);
        sessions.answered(id, &mut unchanged, true);
        let SessionFetch::Incremental { idle_at, .. } = sessions.begin(&request(id, 2, &[])) else { panic!() };
        assert_eq!(idle_at[0], Some(40));

        // Named with a new position, it is looked at again.
        let SessionFetch::Incremental { idle_at, .. } = sessions.begin(&request(id, 3, &[("t", 0, 6)])) else {
            panic!()
        };
        assert_eq!(idle_at, vec![None, None, None]);
    }

    #[test]
    fn a_full_cache_evicts_only_sessions_idle_long_enough() {
        let sessions = FetchSessions::new(1, Duration::from_millis(50));
        assert!(matches!(sessions.begin(&request(0, 0, &[("t", 0, 0)])), SessionFetch::Full { id } if id > 0));
        assert!(matches!(sessions.begin(&request(0, 0, &[("t", 0, 0)])), SessionFetch::Full { id: 0 }));
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(sessions.begin(&request(0, 0, &[("t", 0, 0)])), SessionFetch::Full { id } if id > 0));
        assert_eq!(sessions.len(), 1);
    }
}
