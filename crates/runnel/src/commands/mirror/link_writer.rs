//! The mirror's own connection to a single-broker target: pipelined Produce requests of batches
//! it builds itself, as an idempotent producer so that the broker refuses any batch that does
//! not follow the last one it took (a request that failed cannot leave a hole that a later one
//! papers over).
//!
//! Two placements: an offset-preserving mirror's batches keep their source offsets, which a
//! runnel target takes only from a client named `runnel-mirror-link:<link>` and only into
//! topics whose `runnel.mirror.link` config names that link; a translating mirror's batches are
//! appended where the target's log ends, and each answer says where.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::Compression;
use runnel_broker::topic_config::MIRROR_CLIENT_PREFIX;

use super::link_batch::BatchBuilder;
use crate::commands::wire::{ClientSecurity, Connection, describe_code};

/// How long the target may take to answer a produce request before the connection counts as
/// broken.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (produce answers are small).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Where the target puts a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// At the source's offsets (an offset-preserving mirror of a runnel target).
    SourceOffsets,
    /// At the target's log end, wherever that is (a translating mirror).
    Appended,
}

/// A batch sent, and what the mirror needs when it is acknowledged.
#[derive(Debug, Clone)]
pub struct SentBatch {
    /// The source topic.
    pub source: Arc<str>,
    /// Its copy on the target.
    pub target: Arc<str>,
    /// The partition (the same on both sides).
    pub partition: i32,
    /// The first record's source offset (its target offset too when offsets are preserved).
    pub base_offset: i64,
    /// The last record's source offset.
    pub last_offset: i64,
    /// Appended batches: the records (by index in the batch) whose source offset does not
    /// follow the previous record's, with that offset: where the offset translation starts a
    /// new run. Empty when offsets are preserved.
    pub source_jumps: Vec<(u32, i64)>,
    /// The first record's offset on the target, once acknowledged.
    pub target_base: i64,
    /// Records in the batch.
    pub records: u64,
    /// Key and value bytes in the batch.
    pub bytes: u64,
    /// The last record's timestamp.
    pub last_timestamp: i64,
}

/// Why the target did not take a batch.
#[derive(Debug)]
pub enum LinkFailure {
    /// The topic is not (or no longer) a mirror topic of this link: promoted, or never one.
    NotMirrorTopic { target: Arc<str>, message: String },
    /// Anything else (connection lost, a batch out of step): the mirror starts over from the
    /// target's log ends.
    Broken(anyhow::Error),
    /// An appended batch refused for good (too large for the topic, not authorised): sending
    /// it again would be refused again.
    Refused(anyhow::Error),
}

impl From<anyhow::Error> for LinkFailure {
    fn from(error: anyhow::Error) -> Self {
        LinkFailure::Broken(error)
    }
}

/// A request in flight.
struct InFlight {
    correlation_id: i32,
    sent_at: Instant,
    batches: Vec<SentBatch>,
}

/// One connection to the target, with the requests sent on it and not yet answered.
pub struct LinkWriter {
    stream: TcpStream,
    answers: Receiver<anyhow::Result<Bytes>>,
    in_flight: VecDeque<InFlight>,
    producer: (i64, i16),
    sequences: HashMap<(Arc<str>, i32), i32>,
    placement: Placement,
    produce_version: i16,
    correlation_id: i32,
    client_id: StrBytes,
    compression: Compression,
}

impl LinkWriter {
    /// Connects to the target at `brokers` and takes a producer id: as the mirror of `link`
    /// for batches at their source offsets, or as a plain idempotent producer (`link` None)
    /// for appended ones.
    pub fn connect(
        brokers: &str,
        security: &ClientSecurity,
        link: Option<&str>,
        compression: Compression,
    ) -> anyhow::Result<LinkWriter> {
        let (client_id, placement) = match link {
            Some(link) => (format!("{MIRROR_CLIENT_PREFIX}{link}"), Placement::SourceOffsets),
            None => ("runnel-mirror".to_string(), Placement::Appended),
        };
        let mut connection = Connection::bootstrap_with(brokers, &client_id, security)
            .with_context(|| format!("connect to the target at {brokers}"))?;
        let (_, answer): (i16, InitProducerIdResponse) = connection.call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default().with_transaction_timeout_ms(60_000),
        )?;
        if answer.error_code != 0 {
            bail!("the target gave the mirror no producer id: {}", describe_code(answer.error_code));
        }
        let produce_version = connection.version(ApiKey::Produce, 9)?;
        anyhow::ensure!(produce_version >= 3, "the target serves Produce v{produce_version} only (v2 batches need 3)");
        let (stream, correlation_id) = connection.into_stream()?;
        stream.set_read_timeout(None)?;
        let reader = stream.try_clone().context("share the target connection with its reader")?;
        let (tx, answers) = sync_channel(256);
        std::thread::spawn(move || read_answers(reader, tx));
        Ok(LinkWriter {
            stream,
            answers,
            in_flight: VecDeque::new(),
            producer: (answer.producer_id.0, answer.producer_epoch),
            sequences: HashMap::new(),
            placement,
            produce_version,
            correlation_id,
            client_id: StrBytes::from_string(client_id),
            compression,
        })
    }

    /// The batches sent and not yet answered, oldest first.
    pub fn unanswered(&self) -> impl Iterator<Item = &SentBatch> {
        self.in_flight.iter().flat_map(|request| request.batches.iter())
    }

    /// Whether every request sent has been answered.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Sends one request with one batch per partition (acks=all).
    pub fn send(&mut self, batches: Vec<(SentBatch, BatchBuilder)>) -> anyhow::Result<()> {
        let mut topics: Vec<TopicProduceData> = Vec::new();
        let mut sent = Vec::with_capacity(batches.len());
        for (meta, builder) in batches {
            let sequence = self.sequences.entry((meta.target.clone(), meta.partition)).or_insert(0);
            let bytes = builder.finish(self.producer, *sequence, self.compression)?;
            // A record's sequence is the base sequence plus its offset delta in the batch.
            *sequence = sequence.wrapping_add((builder.last_offset() - builder.base_offset() + 1) as i32) & i32::MAX;
            let data = PartitionProduceData::default().with_index(meta.partition).with_records(Some(bytes));
            match topics.iter_mut().find(|t| *t.name.0 == *meta.target) {
                Some(topic) => topic.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(meta.target.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
            sent.push(meta);
        }
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(topics);
        self.correlation_id += 1;
        let version = self.produce_version;
        let mut frame = BytesMut::new();
        frame.extend_from_slice(&[0; 4]);
        RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(self.client_id.clone()))
            .encode(&mut frame, ApiKey::Produce.request_header_version(version))?;
        request.encode(&mut frame, version)?;
        let size = i32::try_from(frame.len() - 4).context("a produce request above 2 GiB")?;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&frame).context("send records to the target")?;
        self.in_flight.push_back(InFlight {
            correlation_id: self.correlation_id,
            sent_at: Instant::now(),
            batches: sent,
        });
        Ok(())
    }

    /// The batches acknowledged so far, waiting until at most `keep` requests remain in
    /// flight, and the failure that stopped the wait, if any: the request it concerns and
    /// those after it stay unanswered ([`LinkWriter::unanswered`]).
    pub fn acknowledged(&mut self, keep: usize) -> (Vec<SentBatch>, Option<LinkFailure>) {
        let mut done = Vec::new();
        let failure = self.take_answers(keep, &mut done).err();
        (done, failure)
    }

    fn take_answers(&mut self, keep: usize, done: &mut Vec<SentBatch>) -> Result<(), LinkFailure> {
        while let Some(oldest) = self.in_flight.front() {
            let answer = if self.in_flight.len() > keep {
                let left = ANSWER_TIMEOUT.saturating_sub(oldest.sent_at.elapsed());
                match self.answers.recv_timeout(left) {
                    Ok(answer) => answer,
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(anyhow!("the target did not answer within {ANSWER_TIMEOUT:?}").into());
                    }
                    Err(RecvTimeoutError::Disconnected) => return Err(anyhow!("the target connection closed").into()),
                }
            } else {
                match self.answers.try_recv() {
                    Ok(answer) => answer,
                    Err(TryRecvError::Empty) if oldest.sent_at.elapsed() > ANSWER_TIMEOUT => {
                        return Err(anyhow!("the target did not answer within {ANSWER_TIMEOUT:?}").into());
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Err(anyhow!("the target connection closed").into()),
                }
            };
            let mut request = self.in_flight.pop_front().expect("an oldest request");
            match answer.map_err(LinkFailure::from).and_then(|body| self.check(&mut request, body)) {
                Ok(()) => done.append(&mut request.batches),
                Err(failure) => {
                    self.in_flight.push_front(request);
                    return Err(failure);
                }
            }
        }
        Ok(())
    }

    /// Checks one answer: every batch taken (at its own offsets, when they are preserved), with
    /// where it went.
    fn check(&self, request: &mut InFlight, mut body: Bytes) -> Result<(), LinkFailure> {
        let version = self.produce_version;
        let header = ResponseHeader::decode(&mut body, ApiKey::Produce.response_header_version(version))
            .context("decode a produce answer's header")?;
        if header.correlation_id != request.correlation_id {
            return Err(anyhow!(
                "the target answered request {} with {}",
                request.correlation_id,
                header.correlation_id
            )
            .into());
        }
        let response = ProduceResponse::decode(&mut body, version).context("decode a produce answer")?;
        for batch in &mut request.batches {
            let answer = response
                .responses
                .iter()
                .filter(|t| *t.name.0 == *batch.target)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == batch.partition)
                .ok_or_else(|| anyhow!("the target did not answer for {}-{}", batch.target, batch.partition))?;
            let message = answer.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
            let preserving = self.placement == Placement::SourceOffsets;
            if preserving && answer.error_code == ResponseError::PolicyViolation.code() {
                return Err(LinkFailure::NotMirrorTopic { target: batch.target.clone(), message });
            }
            if answer.error_code != 0 {
                let refusal = anyhow!(
                    "the target refused {}-{} (the batch from source offset {}): {} {message}",
                    batch.target,
                    batch.partition,
                    batch.base_offset,
                    describe_code(answer.error_code)
                );
                return Err(if !preserving && refused_for_good(answer.error_code) {
                    LinkFailure::Refused(refusal)
                } else {
                    LinkFailure::Broken(refusal)
                });
            }
            batch.target_base = answer.base_offset;
            if self.placement == Placement::SourceOffsets && answer.base_offset != batch.base_offset {
                return Err(anyhow!(
                    "the target put {}-{} offset {} at {}: it does not keep mirror offsets",
                    batch.target,
                    batch.partition,
                    batch.base_offset,
                    answer.base_offset
                )
                .into());
            }
        }
        Ok(())
    }
}

/// Whether a batch refused with `code` would be refused again however often it is sent: a
/// non-retriable error, except those of the producer's own sequence, which a new connection
/// (with a new producer id) starts afresh.
fn refused_for_good(code: i16) -> bool {
    let fresh_producer_fixes = [
        ResponseError::OutOfOrderSequenceNumber,
        ResponseError::DuplicateSequenceNumber,
        ResponseError::InvalidProducerEpoch,
        ResponseError::UnknownProducerId,
    ];
    ResponseError::try_from_code(code)
        .is_some_and(|e| !e.is_retriable() && !fresh_producer_fixes.iter().any(|f| f.code() == code))
}

impl Drop for LinkWriter {
    fn drop(&mut self) {
        // Ends the reader thread.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Reads answer frames until the connection ends, handing each body on in order.
fn read_answers(mut stream: TcpStream, answers: std::sync::mpsc::SyncSender<anyhow::Result<Bytes>>) {
    loop {
        let mut size = [0u8; 4];
        let body = stream.read_exact(&mut size).context("read an answer from the target").and_then(|()| {
            let size = usize::try_from(i32::from_be_bytes(size)).context("a negative answer size")?;
            anyhow::ensure!(size <= MAX_ANSWER_BYTES, "an answer of {size} bytes");
            let mut body = vec![0u8; size];
            stream.read_exact(&mut body).context("read an answer from the target")?;
            Ok(Bytes::from(body))
        });
        let failed = body.is_err();
        if answers.send(body).is_err() || failed {
            return;
        }
    }
}

/// The log end offsets of `partitions` (target topic, partition) on the target: where each
/// copy goes on.
pub fn log_ends(
    brokers: &str,
    security: &ClientSecurity,
    partitions: &[(Arc<str>, i32)],
) -> anyhow::Result<HashMap<(Arc<str>, i32), i64>> {
    let mut connection = Connection::bootstrap_with(brokers, "runnel-mirror", security)
        .with_context(|| format!("connect to the target at {brokers}"))?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (topic, partition) in partitions {
        let asked = ListOffsetsPartition::default().with_partition_index(*partition).with_timestamp(-1);
        match topics.iter_mut().find(|t| *t.name.0 == **topic) {
            Some(t) => t.partitions.push(asked),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![asked]),
            ),
        }
    }
    let request = ListOffsetsRequest::default().with_replica_id((-1).into()).with_topics(topics);
    let (version, response): (i16, ListOffsetsResponse) = connection.call(ApiKey::ListOffsets, 7, &request)?;
    anyhow::ensure!(version >= 1, "the target serves ListOffsets v0 only");
    let mut ends = HashMap::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            if p.error_code != 0 {
                bail!("the target's end of {}-{}: {}", topic.name.0, p.partition_index, describe_code(p.error_code));
            }
            let name = partitions.iter().find(|(t, _)| **t == *topic.name.0).map(|(t, _)| t.clone());
            if let Some(name) = name {
                ends.insert((name, p.partition_index), p.offset);
            }
        }
    }
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_that_a_new_connection_cannot_cure_stop_an_appending_mirror() {
        for refused in
            [ResponseError::MessageTooLarge, ResponseError::TopicAuthorizationFailed, ResponseError::PolicyViolation]
        {
            assert!(refused_for_good(refused.code()), "{refused:?}");
        }
        for retried in [
            ResponseError::NotLeaderOrFollower,
            ResponseError::KafkaStorageError,
            ResponseError::OutOfOrderSequenceNumber,
            ResponseError::UnknownProducerId,
            ResponseError::InvalidProducerEpoch,
        ] {
            assert!(!refused_for_good(retried.code()), "{retried:?}");
        }
    }
}
