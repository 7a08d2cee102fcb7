//! Request frames: the 4-byte size prefix and the request header, decoded without trusting
//! a single byte. A malformed frame is an error for its connection, never a panic.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

/// Why a frame cannot be served; the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    /// The size prefix exceeds `socket.request.max.bytes`.
    #[error("frame of {size} bytes exceeds socket.request.max.bytes {max}")]
    TooLarge {
        /// Declared size.
        size: usize,
        /// Configured limit.
        max: usize,
    },
    /// Fewer bytes than the fixed part of a request header.
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    /// An API key no Kafka version defines.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// The header or body does not decode.
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        /// The API.
        api: ApiKey,
        /// Its version.
        version: i16,
        /// Decoder message.
        reason: String,
    },
}

/// The fixed start of every request header, readable before the version is known to be valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead {
    /// Raw API key.
    pub api_key: i16,
    /// Requested version.
    pub api_version: i16,
    /// Echoed in the response.
    pub correlation_id: i32,
}

/// Checks a size prefix against the limit.
pub fn frame_len(size: i32, max: usize) -> Result<usize, FrameError> {
    let size = usize::try_from(size).map_err(|_| FrameError::NegativeSize(size))?;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    Ok(size)
}

/// Reads API key, version and correlation id from the start of a frame body.
pub fn peek_head(frame: &[u8]) -> Result<RequestHead, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::TooShort(frame.len()));
    }
    Ok(RequestHead {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// Decodes the request header of a frame whose API and version are supported, leaving `frame`
/// at the start of the body.
pub fn decode_header(api: ApiKey, version: i16, frame: &mut Bytes) -> Result<RequestHeader, FrameError> {
    let header_version = api.request_header_version(version);
    RequestHeader::decode(frame, header_version).map_err(|e| FrameError::Malformed {
        api,
        version,
        reason: e.to_string(),
    })
}

/// Decodes a request body.
pub fn decode_body<T: Decodable>(api: ApiKey, version: i16, body: &mut Bytes) -> Result<T, FrameError> {
    let request =
        T::decode(body, version).map_err(|e| FrameError::Malformed { api, version, reason: e.to_string() })?;
    if body.has_remaining() {
        tracing::debug!(?api, version, trailing = body.remaining(), "ignoring trailing bytes after a request body");
    }
    Ok(request)
}
