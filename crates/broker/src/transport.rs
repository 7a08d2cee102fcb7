//! The byte streams a connection is served over: plain TCP, where fetched segment ranges go
//! out with `sendfile` straight from the page cache, and TLS (rustls), where they are read and
//! encrypted. Both let the connection notice a client that closed while its replies wait.

use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use runnel_log::FileSlice;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter, Interest, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::server::TlsStream;

/// The read side of a client connection.
pub trait ConnectionRead: AsyncRead + Unpin + Send + 'static {
    /// Waits for the socket to become readable or closed; true when the client closed its side
    /// (or the socket failed), even with requests still unread.
    fn read_closed(&self) -> impl Future<Output = bool> + Send;
}

/// The write side of a client connection.
pub trait ConnectionWrite: AsyncWrite + Unpin + Send + Sized + 'static {
    /// Writes `slice` of a segment file after what `writer` buffered.
    fn write_file(writer: &mut BufWriter<Self>, slice: &FileSlice) -> impl Future<Output = io::Result<()>> + Send;
}

impl ConnectionRead for OwnedReadHalf {
    async fn read_closed(&self) -> bool {
        self.ready(Interest::READABLE).await.map_or(true, |ready| ready.is_read_closed())
    }
}

impl ConnectionWrite for OwnedWriteHalf {
    async fn write_file(writer: &mut BufWriter<Self>, slice: &FileSlice) -> io::Result<()> {
        writer.flush().await?;
        send_file(writer.get_ref().as_ref(), slice).await
    }
}

async fn send_file(stream: &TcpStream, slice: &FileSlice) -> io::Result<()> {
    let mut offset = slice.position;
    let mut left = slice.len;
    while left > 0 {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*slice.file, Some(&mut offset), left).map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(file_ended()),
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn file_ended() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "segment file ended before the range a fetch was promised")
}

/// The read side of a TLS connection, with a second handle on its socket that only watches
/// for the client closing (TLS hides the socket behind the stream's halves).
pub struct TlsRead {
    half: ReadHalf<TlsStream<TcpStream>>,
    probe: TcpStream,
}

/// Splits a TLS connection into its two sides.
pub fn split_tls(stream: TlsStream<TcpStream>) -> io::Result<(TlsRead, WriteHalf<TlsStream<TcpStream>>)> {
    let socket = stream.get_ref().0.as_fd().try_clone_to_owned()?;
    let probe = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    let (half, write) = tokio::io::split(stream);
    Ok((TlsRead { half, probe }, write))
}

impl AsyncRead for TlsRead {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.half).poll_read(cx, buf)
    }
}

impl ConnectionRead for TlsRead {
    async fn read_closed(&self) -> bool {
        self.probe.ready(Interest::READABLE).await.map_or(true, |ready| ready.is_read_closed())
    }
}

/// Bytes of a segment file read per write through TLS.
const TLS_FILE_CHUNK: usize = 64 * 1024;

impl ConnectionWrite for WriteHalf<TlsStream<TcpStream>> {
    async fn write_file(writer: &mut BufWriter<Self>, slice: &FileSlice) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut chunk = vec![0u8; TLS_FILE_CHUNK.min(slice.len)];
        let mut offset = slice.position;
        let mut left = slice.len;
        while left > 0 {
            let want = left.min(chunk.len());
            // From the page cache, as sendfile would read it; TLS must encrypt it in memory.
            let n = slice.file.read_at(&mut chunk[..want], offset)?;
            if n == 0 {
                return Err(file_ended());
            }
            writer.write_all(&chunk[..n]).await?;
            offset += n as u64;
            left -= n;
        }
        Ok(())
    }
}
