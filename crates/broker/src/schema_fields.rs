//! The field encodings of Kafka's internal-topic schemas (`__consumer_offsets`,
//! `__transaction_state`): big-endian integers, and strings and bytes behind a signed length
//! (-1: null), each read with a check that the whole field is there.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a field could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The record ends inside this field.
    #[error("truncated while reading {0}")]
    Truncated(&'static str),
    /// A string that is not UTF-8.
    #[error("a string that is not UTF-8")]
    NotUtf8,
}

/// Writes a string with its i16 length (cut at 32,767 bytes, the schema's limit).
pub fn put_string(buf: &mut BytesMut, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    buf.put_i16(len as i16);
    buf.put_slice(&s.as_bytes()[..len]);
}

/// Writes a string, or -1 for none.
pub fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

/// Writes bytes with their i32 length.
pub fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

fn need(buf: &[u8], len: usize, what: &'static str) -> Result<(), FieldError> {
    if buf.remaining() < len { Err(FieldError::Truncated(what)) } else { Ok(()) }
}

/// Reads an i8 (`what` names it in the error).
pub fn get_i8(buf: &mut &[u8], what: &'static str) -> Result<i8, FieldError> {
    need(buf, 1, what)?;
    Ok(buf.get_i8())
}

/// Reads an i16.
pub fn get_i16(buf: &mut &[u8], what: &'static str) -> Result<i16, FieldError> {
    need(buf, 2, what)?;
    Ok(buf.get_i16())
}

/// Reads an i32.
pub fn get_i32(buf: &mut &[u8], what: &'static str) -> Result<i32, FieldError> {
    need(buf, 4, what)?;
    Ok(buf.get_i32())
}

/// Reads an i64.
pub fn get_i64(buf: &mut &[u8], what: &'static str) -> Result<i64, FieldError> {
    need(buf, 8, what)?;
    Ok(buf.get_i64())
}

/// Reads a string, `None` for a negative length.
pub fn get_nullable_string(buf: &mut &[u8]) -> Result<Option<String>, FieldError> {
    let len = get_i16(buf, "string length")?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    need(buf, len, "string")?;
    let s = std::str::from_utf8(&buf[..len]).map_err(|_| FieldError::NotUtf8)?.to_string();
    buf.advance(len);
    Ok(Some(s))
}

/// Reads a string, empty for a null one.
pub fn get_string(buf: &mut &[u8]) -> Result<String, FieldError> {
    Ok(get_nullable_string(buf)?.unwrap_or_default())
}

/// Reads bytes, empty for null ones.
pub fn get_bytes(buf: &mut &[u8]) -> Result<Bytes, FieldError> {
    let len = get_i32(buf, "bytes length")?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    let len = len as usize;
    need(buf, len, "bytes")?;
    let b = Bytes::copy_from_slice(&buf[..len]);
    buf.advance(len);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_short_input_names_the_field() {
        let mut buf = BytesMut::new();
        put_string(&mut buf, "héllo");
        put_nullable_string(&mut buf, None);
        put_bytes(&mut buf, b"\x00\x01");
        buf.put_i64(-5);
        let mut read: &[u8] = &buf;
        assert_eq!(get_string(&mut read), Ok("héllo".to_string()));
        assert_eq!(get_nullable_string(&mut read), Ok(None));
        assert_eq!(get_bytes(&mut read), Ok(Bytes::from_static(b"\x00\x01")));
        assert_eq!(get_i64(&mut read, "offset"), Ok(-5));
        assert_eq!(get_i32(&mut read, "epoch"), Err(FieldError::Truncated("epoch")));
        let mut bad: &[u8] = &[0, 1, 0xff];
        assert_eq!(get_string(&mut bad), Err(FieldError::NotUtf8));
    }
}
