//! One client connection: frames in, responses out, in request order.
//!
//! The reader handles each request as it arrives (so appends from pipelined produce requests
//! keep their order) and hands the writer the reply: a ready frame, or a task that finishes
//! later (an acks=all fsync, a waiting fetch). The writer writes replies strictly in request
//! order. A malformed frame closes this connection only.
//!
//! Nothing a client does holds resources after it leaves: when the connection closes, its
//! waiting requests (long-poll fetches, rebalance waits) are cancelled at once. A connection
//! with nothing in flight and no request for `connections.max.idle.ms` is closed, as Kafka
//! does, and so is one whose request frame is not complete `request.read.timeout.ms` after
//! its first byte.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use tracing::Instrument;

use crate::api::{self, Reply, ReplyFrame};
use crate::broker::Broker;
use crate::fetch_response::FramePart;
use crate::frame;
use crate::listener::Listener;
use crate::security::sasl::{Authenticator, Intercepted};
use crate::security::tls::certificate_principal;
use crate::transport::{ConnectionRead, ConnectionWrite, split_tls};

/// Kafka's name for a client that proved no identity.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Who is on a connection and through which listener: what each of its requests is served as.
#[derive(Debug, Clone)]
pub struct Session {
    /// The listener the client came through.
    pub listener: Arc<Listener>,
    /// Kafka's principal (`User:alice`, `User:CN=alice,O=example`, `User:ANONYMOUS`).
    pub principal: Arc<str>,
}

impl Session {
    /// A session on `listener` before the client proved anything.
    pub fn anonymous(listener: Arc<Listener>) -> Session {
        Session { listener, principal: Arc::from(ANONYMOUS) }
    }
}

/// Replies queued per connection before the reader stops reading (backpressure).
const MAX_IN_FLIGHT: usize = 64;

/// How often a connection whose reply queue is full checks whether its client left.
const CLOSED_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// How long the writer may go on writing replies after the reader stopped for a reason that
/// leaves the client able to read them (a bad frame, shutdown).
const WRITER_GRACE: Duration = Duration::from_secs(5);

enum Queued {
    Ready(ReplyFrame),
    Later(JoinHandle<ReplyFrame>),
}

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The client closed the connection or it failed: nobody reads replies any more.
    Gone,
    /// No request for `connections.max.idle.ms` with nothing in flight.
    Idle,
    /// A frame stayed incomplete past `request.read.timeout.ms`.
    SlowFrame,
    /// A frame that cannot be served.
    BadFrame,
    /// SASL authentication failed (its answer is written before the close).
    AuthenticationFailed,
    /// The broker is shutting down.
    Shutdown,
}

/// Serves one connection of `listener` until the client leaves, a frame is malformed, it
/// times out, or shutdown. A TLS listener first completes the handshake (within
/// `request.read.timeout.ms`); a client whose handshake fails (a plaintext client on a TLS
/// port, an untrusted certificate) is logged, counted as a failed authentication and closed.
pub async fn serve(
    broker: Arc<Broker>,
    listener: Arc<Listener>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let span = tracing::info_span!("connection", %peer, listener = %listener.name);
    broker.metrics.connections.fetch_add(1, Ordering::Relaxed);
    broker.metrics.connections_accepted.fetch_add(1, Ordering::Relaxed);
    let counted = broker.clone();
    async move {
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = listener.tls.clone() else {
            let (reader, writer) = stream.into_split();
            return serve_stream(&broker, Session::anonymous(listener), peer, reader, writer, shutdown).await;
        };
        let handshake = Duration::from_millis(broker.config.request_read_timeout_ms);
        let tls = match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "TLS handshake failed; closing the connection");
                broker.metrics.failed_authentications.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => {
                tracing::info!(%peer, timeout_ms = handshake.as_millis() as u64, "TLS handshake not complete in time; closing the connection");
                return;
            }
        };
        let mut session = Session::anonymous(listener);
        if let Some(principal) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(certificate_principal) {
            tracing::debug!(%peer, principal, "client certificate accepted");
            session.principal = Arc::from(principal);
        }
        match split_tls(tls) {
            Ok((reader, writer)) => serve_stream(&broker, session, peer, reader, writer, shutdown).await,
            Err(e) => tracing::warn!(%peer, error = %e, "cannot watch a TLS connection's socket; closing it"),
        }
    }
    .instrument(span)
    .await;
    counted.metrics.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Serves requests over an established stream until the connection must stop.
async fn serve_stream<R: ConnectionRead, W: ConnectionWrite>(
    broker: &Arc<Broker>,
    session: Session,
    peer: SocketAddr,
    reader: R,
    writer: W,
    shutdown: watch::Receiver<bool>,
) {
    let (tx, rx) = mpsc::channel::<Queued>(MAX_IN_FLIGHT);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut writer_task = tokio::spawn(write_replies(writer, rx, in_flight.clone()).in_current_span());
    let mut waits = Vec::new();
    let stop = read_requests(broker, session, peer, reader, shutdown, &tx, &in_flight, &mut waits).await;
    tracing::debug!(?stop, "connection closing");
    // Waiting requests serve only this client: release them now, whatever the reason.
    for wait in &waits {
        wait.abort();
    }
    drop(tx);
    match stop {
        Stop::BadFrame | Stop::Shutdown | Stop::AuthenticationFailed => {
            if tokio::time::timeout(WRITER_GRACE, &mut writer_task).await.is_err() {
                writer_task.abort();
            }
        }
        Stop::Gone | Stop::Idle | Stop::SlowFrame => writer_task.abort(),
    }
}

/// Reads and dispatches requests until the connection must stop; says why.
#[allow(clippy::too_many_arguments)]
async fn read_requests<R: ConnectionRead>(
    broker: &Arc<Broker>,
    mut session: Session,
    peer: SocketAddr,
    mut reader: R,
    mut shutdown: watch::Receiver<bool>,
    tx: &mpsc::Sender<Queued>,
    in_flight: &AtomicUsize,
    waits: &mut Vec<AbortHandle>,
) -> Stop {
    let max = broker.config.socket_request_max_bytes;
    let mut authenticator = session
        .listener
        .protocol
        .uses_sasl()
        .then(|| Authenticator::new(&session.listener.sasl_mechanisms, broker.config.connections_max_reauth_ms));
    let mut reauthentications = 0;
    let idle = Duration::from_millis(broker.config.connections_max_idle_ms);
    let frame_timeout = Duration::from_millis(broker.config.request_read_timeout_ms);
    // One idle timer for the connection's life, re-armed only when it fires: requests cost no
    // timer registration.
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    let mut last_request = Instant::now();
    loop {
        // Reads are polled first below, so a client that never pauses still sees shutdown here.
        if shutdown.has_changed().unwrap_or(true) {
            return Stop::Shutdown;
        }
        let mut size = [0u8; 4];
        // The start of a frame: wait as long as the connection is not idle. One read usually
        // brings the whole size prefix.
        let got = loop {
            tokio::select! {
                biased;
                read = reader.read(&mut size) => match read {
                    Ok(0) => return Stop::Gone,
                    Ok(n) => break n,
                    Err(e) => {
                        tracing::debug!(error = %e, "connection read failed");
                        return Stop::Gone;
                    }
                },
                _ = shutdown.changed() => return Stop::Shutdown,
                _ = &mut idle_timer => {
                    if in_flight.load(Ordering::Relaxed) == 0 && last_request.elapsed() >= idle {
                        tracing::debug!(idle_ms = idle.as_millis() as u64, "closing an idle connection");
                        return Stop::Idle;
                    }
                    // Busy, or a request came since the timer was armed: idle from now at most.
                    idle_timer.as_mut().reset((last_request + idle).max(Instant::now() + idle / 10));
                }
            }
        };
        last_request = Instant::now();
        let deadline = last_request + frame_timeout;
        // The read is polled first: a frame already in the socket registers no timer.
        let body = tokio::select! {
            biased;
            read = tokio::time::timeout_at(deadline, read_frame(&mut reader, &mut size, got, frame_limit(max, authenticator.as_ref()))) => match read {
                Ok(Ok(body)) => body,
                Ok(Err(stop)) => return stop,
                Err(_) => {
                    tracing::info!(timeout_ms = frame_timeout.as_millis() as u64, "closing a connection whose request frame stayed incomplete");
                    return Stop::SlowFrame;
                }
            },
            _ = shutdown.changed() => return Stop::Shutdown,
        };
        let body = body.freeze();
        if let Some(authenticator) = authenticator.as_mut() {
            // A PLAIN password check runs PBKDF2 for milliseconds: let the runtime move other
            // connections off this worker meanwhile.
            let intercepted = if authenticator.next_token_is_plain()
                && tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            {
                tokio::task::block_in_place(|| authenticator.intercept(&broker.credentials, &body))
            } else {
                authenticator.intercept(&broker.credentials, &body)
            };
            match intercepted {
                Ok(Intercepted::Dispatch) => {}
                Ok(Intercepted::Reply(frame)) => {
                    if let Some(user) = authenticator.principal() {
                        tracing::debug!(%peer, user, "authenticated");
                        session.principal = Arc::from(format!("User:{user}"));
                    }
                    if authenticator.reauthentications() > reauthentications {
                        reauthentications = authenticator.reauthentications();
                        broker.metrics.successful_reauthentications.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, "re-authenticated");
                    }
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    if let Err(stop) = queue(tx, Queued::Ready(frame), &reader).await {
                        return stop;
                    }
                    continue;
                }
                Ok(Intercepted::Failed { reply, reason }) => {
                    tracing::warn!(%peer, reason, "authentication failed");
                    broker.metrics.failed_authentications.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(broker.config.failed_authentication_delay_ms)).await;
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    let _ = queue(tx, Queued::Ready(reply), &reader).await;
                    return Stop::AuthenticationFailed;
                }
                Ok(Intercepted::Refused(reason)) => {
                    tracing::warn!(%peer, reason, "closing an unauthenticated connection");
                    return Stop::BadFrame;
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "closing an unauthenticated connection after a bad request");
                    return Stop::BadFrame;
                }
            }
        }
        let queued = match api::dispatch(broker, &session, peer, body) {
            Ok((head, reply)) => {
                tracing::trace!(
                    api_key = head.api_key,
                    version = head.api_version,
                    correlation_id = head.correlation_id,
                    "request"
                );
                match reply {
                    Reply::Ready(frame) => Queued::Ready(frame),
                    Reply::Later(future) => Queued::Later(tokio::spawn(future.in_current_span())),
                    Reply::Wait(future) => {
                        let task = tokio::spawn(future.in_current_span());
                        waits.retain(|wait| !wait.is_finished());
                        waits.push(task.abort_handle());
                        Queued::Later(task)
                    }
                    Reply::Silent => continue,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "closing connection after a bad request");
                return Stop::BadFrame;
            }
        };
        in_flight.fetch_add(1, Ordering::Relaxed);
        if let Err(stop) = queue(tx, queued, &reader).await {
            return stop;
        }
    }
}

/// Kafka's `sasl.server.max.receive.size` default: the largest frame a client that has not
/// signed in may send, so that nobody makes the broker buffer 100 MB before authenticating.
const SASL_MAX_RECEIVE_BYTES: usize = 512 * 1024;

/// The largest request frame taken now: `max`, or less until a SASL client has signed in.
fn frame_limit(max: usize, authenticator: Option<&Authenticator>) -> usize {
    match authenticator {
        Some(a) if a.principal().is_none() => max.min(SASL_MAX_RECEIVE_BYTES),
        _ => max,
    }
}

/// Hands a reply to the writer. While the queue is full (the client pipelined
/// [`MAX_IN_FLIGHT`] requests that wait), a client that closes meanwhile is noticed from the
/// socket's read-closed readiness, even with unread requests still buffered, so its waiting
/// requests are cancelled now rather than when the first of them completes.
async fn queue<R: ConnectionRead>(tx: &mpsc::Sender<Queued>, queued: Queued, reader: &R) -> Result<(), Stop> {
    let permit = loop {
        tokio::select! {
            biased;
            permit = tx.reserve() => break permit,
            closed = reader.read_closed() => {
                if closed {
                    return Err(Stop::Gone);
                }
                // Requests of a live client wait in the socket: look again in a while.
                tokio::select! {
                    biased;
                    permit = tx.reserve() => break permit,
                    _ = tokio::time::sleep(CLOSED_CHECK_INTERVAL) => {}
                }
            }
        }
    };
    permit.map(|permit| permit.send(queued)).map_err(|_| Stop::Gone)
}

/// Reads the rest of a frame whose first `got` size bytes are in `size`.
async fn read_frame<R: ConnectionRead>(
    reader: &mut R,
    size: &mut [u8; 4],
    got: usize,
    max: usize,
) -> Result<BytesMut, Stop> {
    if got < size.len() && reader.read_exact(&mut size[got..]).await.is_err() {
        return Err(Stop::Gone);
    }
    let len = match frame::frame_len(i32::from_be_bytes(*size), max) {
        Ok(len) => len,
        Err(e) => {
            tracing::warn!(error = %e, "closing connection");
            return Err(Stop::BadFrame);
        }
    };
    let mut body = BytesMut::with_capacity(len);
    read_body(reader, &mut body, len).await.map_err(|_| Stop::Gone)?;
    Ok(body)
}

/// Reads a `len`-byte request body into `body`'s spare capacity (no zeroing first).
async fn read_body<R: ConnectionRead>(reader: &mut R, body: &mut BytesMut, len: usize) -> std::io::Result<()> {
    while body.len() < len {
        let n = (&mut *reader).take((len - body.len()) as u64).read_buf(body).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

async fn write_replies<W: ConnectionWrite>(writer: W, mut rx: mpsc::Receiver<Queued>, in_flight: Arc<AtomicUsize>) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(queued) = rx.recv().await {
        let frame = match queued {
            Queued::Ready(frame) => frame,
            Queued::Later(task) => match task.await {
                Ok(frame) => frame,
                // Cancelled because the connection is closing: nothing more to write.
                Err(e) if e.is_cancelled() => break,
                Err(e) => Err(format!("request task failed: {e}")),
            },
        };
        in_flight.fetch_sub(1, Ordering::Relaxed);
        let parts = match frame {
            Ok(parts) => parts,
            Err(e) => {
                tracing::error!(error = %e, "could not encode a response; closing connection");
                break;
            }
        };
        if let Err(e) = write_parts(&mut writer, &parts).await {
            tracing::debug!(error = %e, "connection write failed");
            break;
        }
        if rx.is_empty() && writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
}

/// Writes a frame's parts in order: bytes through the buffer, file ranges as the transport
/// sends them (`sendfile` on plain TCP).
async fn write_parts<W: ConnectionWrite>(writer: &mut BufWriter<W>, parts: &[FramePart]) -> std::io::Result<()> {
    for part in parts {
        match part {
            FramePart::Bytes(bytes) => writer.write_all(bytes).await?,
            FramePart::File(slice) => W::write_file(writer, slice).await?,
        }
    }
    Ok(())
}
