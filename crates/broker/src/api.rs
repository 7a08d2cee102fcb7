//! The API table and the one `match` that routes a request to its handler.
//!
//! ApiVersions answers from [`SUPPORTED`], the same table the router checks, so the versions
//! the broker advertises are exactly the versions it serves.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchRequest, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::broker::Broker;
use crate::fetch_response::{FetchAnswer, FramePart};
use crate::frame::{self, FrameError, RequestHead};
use crate::handlers;

/// (API, lowest version, highest version) served. Ranges cover what librdkafka 2.x, Java
/// kafka-clients 3.x/4.x, kafka-python and aiokafka negotiate.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::AlterReplicaLogDirs, 1, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::AlterUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 0, 3),
    (ApiKey::CreateAcls, 0, 3),
    (ApiKey::DeleteAcls, 0, 3),
];

/// The version range served for `api`, if any.
pub fn supported_range(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED.iter().find(|(key, _, _)| *key == api).map(|(_, min, max)| (*min, *max))
}

/// Everything a handler may need besides the request itself.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The broker.
    pub broker: Arc<Broker>,
    /// The request's API version (handlers fill version-dependent fields from it).
    pub version: i16,
    /// The client's `client.id`, for logs.
    pub client_id: String,
    /// The client's address as Kafka shows it in DescribeGroups (`/127.0.0.1`).
    pub client_host: String,
    /// The listener the request came through (what Metadata advertises to this client).
    pub listener: Arc<crate::listener::Listener>,
    /// Who sent it (`User:alice`, `User:ANONYMOUS`).
    pub principal: Arc<str>,
}

impl RequestContext {
    /// Whether the client may perform `operation` on resource `name` of `resource_type`.
    pub fn allowed(
        &self,
        operation: crate::security::acl::Operation,
        resource_type: crate::security::acl::ResourceType,
        name: &str,
    ) -> bool {
        let host = self.client_host.strip_prefix('/').unwrap_or(&self.client_host);
        self.broker.authorizer.authorize(&self.principal, host, operation, resource_type, name)
    }

    /// Whether the client may perform `operation` on the cluster.
    pub fn allowed_on_cluster(&self, operation: crate::security::acl::Operation) -> bool {
        self.allowed(operation, crate::security::acl::ResourceType::Cluster, crate::security::authorizer::CLUSTER)
    }

    /// Whether the client may perform `operation` on topic `name`.
    pub fn allowed_on_topic(&self, operation: crate::security::acl::Operation, name: &str) -> bool {
        self.allowed(operation, crate::security::acl::ResourceType::Topic, name)
    }

    /// Whether the client may perform `operation` on group `name`.
    pub fn allowed_on_group(&self, operation: crate::security::acl::Operation, name: &str) -> bool {
        self.allowed(operation, crate::security::acl::ResourceType::Group, name)
    }

    /// Whether the client may perform `operation` on transactional id `name`.
    pub fn allowed_on_transactional_id(&self, operation: crate::security::acl::Operation, name: &str) -> bool {
        self.allowed(operation, crate::security::acl::ResourceType::TransactionalId, name)
    }
}

/// A response that may have to wait (fsync for acks=all, long-poll fetch).
pub type Pending<R> = Pin<Box<dyn Future<Output = R> + Send + 'static>>;

/// What a handler produces.
pub enum Handled<R> {
    /// The response, now.
    Ready(R),
    /// The response, once work that must finish completes (an fsync), even if the client
    /// leaves meanwhile.
    Later(Pending<R>),
    /// The response, once something happens or a deadline passes (a long-poll fetch, a
    /// rebalance). It only serves this client: cancelled at once when the connection closes.
    Wait(Pending<R>),
    /// No response at all (Produce with acks=0).
    Silent,
}

impl<R: Send + 'static> Handled<R> {
    /// Turns the response into what the connection writes, with `encode`.
    fn into_reply(self, encode: impl FnOnce(R) -> ReplyFrame + Send + 'static) -> Reply {
        match self {
            Handled::Ready(response) => Reply::Ready(encode(response)),
            Handled::Later(future) => Reply::Later(Box::pin(async move { encode(future.await) })),
            Handled::Wait(future) => Reply::Wait(Box::pin(async move { encode(future.await) })),
            Handled::Silent => Reply::Silent,
        }
    }
}

/// An encoded response frame (size prefix included) as parts to send in order, or why the
/// connection must close.
pub type ReplyFrame = Result<Vec<FramePart>, String>;

/// What the connection writes for a request.
pub enum Reply {
    /// A frame to write now.
    Ready(ReplyFrame),
    /// A frame to write once ready; later requests' frames wait behind it. The work runs to
    /// its end even if the client leaves.
    Later(Pending<ReplyFrame>),
    /// Like `Later`, but cancelled when the connection closes (see [`Handled::Wait`]).
    Wait(Pending<ReplyFrame>),
    /// Nothing to write.
    Silent,
}

/// Encodes a response with its header into a size-prefixed frame.
pub fn encode_response<R: Encodable>(api: ApiKey, version: i16, correlation_id: i32, response: &R) -> ReplyFrame {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut buf, api.response_header_version(version))
        .map_err(|e| format!("encode {api:?} v{version} response header: {e}"))?;
    response.encode(&mut buf, version).map_err(|e| format!("encode {api:?} v{version} response: {e}"))?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| format!("{api:?} response too large"))?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(vec![FramePart::Bytes(buf.freeze())])
}

/// Like `run`, for Fetch: its handler builds a [`FetchAnswer`] that encodes itself, leaving
/// record bytes in the log files.
fn run_fetch(
    ctx: RequestContext,
    correlation_id: i32,
    body: &mut Bytes,
    handler: fn(&RequestContext, FetchRequest) -> Handled<FetchAnswer>,
) -> Result<Reply, FrameError> {
    let version = ctx.version;
    let request = frame::decode_body::<FetchRequest>(ApiKey::Fetch, version, body)?;
    Ok(handler(&ctx, request).into_reply(move |answer| Ok(answer.encode(version, correlation_id))))
}

fn run<Req, Resp>(
    ctx: RequestContext,
    api: ApiKey,
    correlation_id: i32,
    body: &mut Bytes,
    handler: fn(&RequestContext, Req) -> Handled<Resp>,
) -> Result<Reply, FrameError>
where
    Req: Decodable,
    Resp: Encodable + Send + 'static,
{
    let version = ctx.version;
    let request = frame::decode_body::<Req>(api, version, body)?;
    Ok(handler(&ctx, request).into_reply(move |response| encode_response(api, version, correlation_id, &response)))
}

/// Like `run`, for requests that may do heavy file work (creating or deleting topics, and
/// Metadata, which may auto-create): the handler runs on the blocking pool, so the threads that
/// accept connections and serve everyone else never wait on it. The work runs to its end even
/// if the connection closes or the broker shuts down meanwhile; only the wait for its answer is
/// dropped (a creation is all or nothing, so abandoning it at exit loses nothing).
fn run_blocking<Req, Resp>(
    ctx: RequestContext,
    api: ApiKey,
    correlation_id: i32,
    body: &mut Bytes,
    handler: fn(&RequestContext, Req) -> Handled<Resp>,
) -> Result<Reply, FrameError>
where
    Req: Decodable + Send + 'static,
    Resp: Encodable + Send + 'static,
{
    let version = ctx.version;
    let request = frame::decode_body::<Req>(api, version, body)?;
    Ok(Reply::Wait(Box::pin(async move {
        let handled = tokio::task::spawn_blocking(move || handler(&ctx, request))
            .await
            .map_err(|e| format!("{api:?} handler failed: {e}"))?;
        let response = match handled {
            Handled::Ready(response) => response,
            Handled::Later(future) | Handled::Wait(future) => future.await,
            Handled::Silent => return Ok(Vec::new()),
        };
        encode_response(api, version, correlation_id, &response)
    })))
}

/// Routes one request frame (without its size prefix). Errors close the connection.
pub fn dispatch(
    broker: &Arc<Broker>,
    session: &crate::connection::Session,
    peer: SocketAddr,
    mut frame_bytes: Bytes,
) -> Result<(RequestHead, Reply), FrameError> {
    let started = std::time::Instant::now();
    let head = frame::peek_head(&frame_bytes)?;
    let api = ApiKey::try_from(head.api_key).map_err(|_| FrameError::UnknownApiKey(head.api_key))?;
    let Some((min, max)) = supported_range(api) else {
        return Err(FrameError::Malformed { api, version: head.api_version, reason: "API not supported".into() });
    };
    if head.api_version < min || head.api_version > max {
        if api == ApiKey::ApiVersions {
            // KIP-511: answer a newer ApiVersions with v0 and UNSUPPORTED_VERSION, so the client
            // learns our range and retries with a version we speak.
            let response = handlers::api_versions::unsupported_version();
            return Ok((head, Reply::Ready(encode_response(api, 0, head.correlation_id, &response))));
        }
        return Err(FrameError::Malformed {
            api,
            version: head.api_version,
            reason: format!("version not supported (this broker serves {min} to {max})"),
        });
    }
    let header = frame::decode_header(api, head.api_version, &mut frame_bytes)?;
    let ctx = RequestContext {
        broker: broker.clone(),
        version: head.api_version,
        client_id: header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        client_host: format!("/{}", peer.ip()),
        listener: session.listener.clone(),
        principal: session.principal.clone(),
    };
    let body = &mut frame_bytes;
    let id = head.correlation_id;
    use handlers::*;
    let reply = match api {
        ApiKey::Produce => run(ctx, api, id, body, produce::handle)?,
        ApiKey::Fetch => run_fetch(ctx, id, body, fetch::handle)?,
        ApiKey::ListOffsets => run(ctx, api, id, body, list_offsets::handle)?,
        ApiKey::Metadata => run_blocking(ctx, api, id, body, metadata::handle)?,
        ApiKey::ApiVersions => run(ctx, api, id, body, api_versions::handle)?,
        ApiKey::CreateTopics => run_blocking(ctx, api, id, body, create_topics::handle)?,
        ApiKey::DeleteTopics => run_blocking(ctx, api, id, body, delete_topics::handle)?,
        ApiKey::InitProducerId => run(ctx, api, id, body, init_producer_id::handle)?,
        ApiKey::OffsetForLeaderEpoch => run(ctx, api, id, body, offset_for_leader_epoch::handle)?,
        ApiKey::DescribeConfigs => run(ctx, api, id, body, describe_configs::handle)?,
        ApiKey::CreatePartitions => run_blocking(ctx, api, id, body, create_partitions::handle)?,
        ApiKey::ElectLeaders => run(ctx, api, id, body, replica_management::elect_leaders)?,
        ApiKey::AlterPartitionReassignments => {
            run(ctx, api, id, body, replica_management::alter_partition_reassignments)?
        }
        ApiKey::ListPartitionReassignments => {
            run(ctx, api, id, body, replica_management::list_partition_reassignments)?
        }
        ApiKey::AlterReplicaLogDirs => run(ctx, api, id, body, replica_management::alter_replica_log_dirs)?,
        ApiKey::DescribeTopicPartitions => run(ctx, api, id, body, describe_topic_partitions::handle)?,
        ApiKey::DescribeLogDirs => run(ctx, api, id, body, describe_log_dirs::handle)?,
        ApiKey::DeleteRecords => run_blocking(ctx, api, id, body, delete_records::handle)?,
        ApiKey::AlterConfigs => run_blocking(ctx, api, id, body, alter_configs::handle)?,
        ApiKey::IncrementalAlterConfigs => run_blocking(ctx, api, id, body, incremental_alter_configs::handle)?,
        ApiKey::DescribeCluster => run(ctx, api, id, body, describe_cluster::handle)?,
        ApiKey::FindCoordinator => run(ctx, api, id, body, find_coordinator::handle)?,
        ApiKey::JoinGroup => run(ctx, api, id, body, join_group::handle)?,
        ApiKey::SyncGroup => run(ctx, api, id, body, sync_group::handle)?,
        ApiKey::Heartbeat => run(ctx, api, id, body, heartbeat::handle)?,
        ApiKey::LeaveGroup => run(ctx, api, id, body, leave_group::handle)?,
        ApiKey::OffsetCommit => run(ctx, api, id, body, offset_commit::handle)?,
        ApiKey::OffsetFetch => run(ctx, api, id, body, offset_fetch::handle)?,
        ApiKey::ListGroups => run(ctx, api, id, body, list_groups::handle)?,
        ApiKey::DescribeGroups => run(ctx, api, id, body, describe_groups::handle)?,
        ApiKey::DeleteGroups => run(ctx, api, id, body, delete_groups::handle)?,
        ApiKey::OffsetDelete => run(ctx, api, id, body, offset_delete::handle)?,
        ApiKey::ConsumerGroupHeartbeat => run(ctx, api, id, body, consumer_group_heartbeat::handle)?,
        ApiKey::ConsumerGroupDescribe => run(ctx, api, id, body, consumer_group_describe::handle)?,
        ApiKey::AddPartitionsToTxn => run(ctx, api, id, body, add_partitions_to_txn::handle)?,
        ApiKey::EndTxn => run(ctx, api, id, body, end_txn::handle)?,
        ApiKey::AddOffsetsToTxn => run(ctx, api, id, body, add_offsets_to_txn::handle)?,
        ApiKey::TxnOffsetCommit => run(ctx, api, id, body, txn_offset_commit::handle)?,
        ApiKey::DescribeTransactions => run(ctx, api, id, body, describe_transactions::handle)?,
        ApiKey::ListTransactions => run(ctx, api, id, body, list_transactions::handle)?,
        ApiKey::DescribeProducers => run(ctx, api, id, body, describe_producers::handle)?,
        ApiKey::SaslHandshake => run(ctx, api, id, body, sasl::handshake)?,
        ApiKey::SaslAuthenticate => run(ctx, api, id, body, sasl::authenticate)?,
        ApiKey::DescribeUserScramCredentials => run(ctx, api, id, body, scram_credentials::describe)?,
        ApiKey::AlterUserScramCredentials => run_blocking(ctx, api, id, body, scram_credentials::alter)?,
        ApiKey::DescribeAcls => run(ctx, api, id, body, acls::describe)?,
        ApiKey::CreateAcls => run_blocking(ctx, api, id, body, acls::create)?,
        ApiKey::DeleteAcls => run_blocking(ctx, api, id, body, acls::delete)?,
        _ => return Err(FrameError::Malformed { api, version: head.api_version, reason: "API not supported".into() }),
    };
    Ok((head, timed(broker, head.api_key, started, reply)))
}

/// Counts the request in the broker's metrics once its response is ready. Only a deferred
/// reply takes a reference to the broker along.
fn timed(broker: &Arc<Broker>, api_key: i16, started: std::time::Instant, reply: Reply) -> Reply {
    let deferred = |future: Pending<ReplyFrame>| -> Pending<ReplyFrame> {
        let broker = broker.clone();
        Box::pin(async move {
            let frame = future.await;
            broker.metrics.observe_request(api_key, started.elapsed());
            frame
        })
    };
    match reply {
        Reply::Later(future) => Reply::Later(deferred(future)),
        Reply::Wait(future) => Reply::Wait(deferred(future)),
        now @ (Reply::Ready(_) | Reply::Silent) => {
            broker.metrics.observe_request(api_key, started.elapsed());
            now
        }
    }
}
