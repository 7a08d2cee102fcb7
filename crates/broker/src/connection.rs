//! One client connection: frames in, responses out, in request order.
//!
//! The reader handles each request as it arrives (so appends from pipelined produce requests
//! keep their order) and hands the writer the reply: a ready frame, or a task that finishes
//! later (an acks=all fsync, a waiting fetch). The writer writes replies strictly in request
//! order. A malformed frame closes this connection only.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use runnel_log::FileSlice;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api::{self, Reply, ReplyFrame};
use crate::broker::Broker;
use crate::fetch_response::FramePart;
use crate::frame;

/// Replies queued per connection before the reader stops reading (backpressure).
const MAX_IN_FLIGHT: usize = 64;

enum Queued {
    Ready(ReplyFrame),
    Later(JoinHandle<ReplyFrame>),
}

/// Serves one connection until the client leaves, a frame is malformed, or shutdown.
pub async fn serve(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr, mut shutdown: watch::Receiver<bool>) {
    let span = tracing::info_span!("connection", %peer);
    async move {
        let _ = stream.set_nodelay(true);
        let (mut reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::channel::<Queued>(MAX_IN_FLIGHT);
        let writer_task = tokio::spawn(write_replies(writer, rx).in_current_span());
        let max = broker.config.socket_request_max_bytes;
        loop {
            let mut size = [0u8; 4];
            let read = tokio::select! {
                read = reader.read_exact(&mut size) => read,
                _ = shutdown.changed() => break,
            };
            if let Err(e) = read {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    tracing::debug!(error = %e, "connection read failed");
                }
                break;
            }
            let len = match frame::frame_len(i32::from_be_bytes(size), max) {
                Ok(len) => len,
                Err(e) => {
                    tracing::warn!(error = %e, "closing connection");
                    break;
                }
            };
            let mut body = BytesMut::with_capacity(len);
            let read = tokio::select! {
                read = read_body(&mut reader, &mut body, len) => read,
                _ = shutdown.changed() => break,
            };
            if read.is_err() {
                break;
            }
            let queued = match api::dispatch(&broker, peer, body.freeze()) {
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
                        Reply::Silent => continue,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "closing connection after a bad request");
                    break;
                }
            };
            if tx.send(queued).await.is_err() {
                break;
            }
        }
        drop(tx);
        let _ = writer_task.await;
    }
    .instrument(span)
    .await
}

/// Reads a `len`-byte request body into `body`'s spare capacity (no zeroing first).
async fn read_body(reader: &mut OwnedReadHalf, body: &mut BytesMut, len: usize) -> std::io::Result<()> {
    while body.len() < len {
        let n = (&mut *reader).take((len - body.len()) as u64).read_buf(body).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

async fn write_replies(writer: OwnedWriteHalf, mut rx: mpsc::Receiver<Queued>) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(queued) = rx.recv().await {
        let frame = match queued {
            Queued::Ready(frame) => frame,
            Queued::Later(task) => match task.await {
                Ok(frame) => frame,
                Err(e) => Err(format!("request task failed: {e}")),
            },
        };
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

/// Writes a frame's parts in order: bytes through the buffer, file ranges with `sendfile`
/// straight from the page cache to the socket.
async fn write_parts(writer: &mut BufWriter<OwnedWriteHalf>, parts: &[FramePart]) -> std::io::Result<()> {
    for part in parts {
        match part {
            FramePart::Bytes(bytes) => writer.write_all(bytes).await?,
            FramePart::File(slice) => {
                writer.flush().await?;
                send_file(writer.get_ref().as_ref(), slice).await?;
            }
        }
    }
    Ok(())
}

async fn send_file(stream: &TcpStream, slice: &FileSlice) -> std::io::Result<()> {
    let mut offset = slice.position;
    let mut left = slice.len;
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*slice.file, Some(&mut offset), left).map_err(std::io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment file ended before the range a fetch was promised",
                ));
            }
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
