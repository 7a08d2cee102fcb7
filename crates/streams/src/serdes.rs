//! Serdes: how keys and values become bytes on topics and in state stores, and back.
//!
//! The byte layouts match Kafka's own serdes where one exists (`I64` is Kafka's
//! `LongSerializer`, `Utf8` its `StringSerializer`), so topics are shared with Java and Python
//! applications unchanged. `None` bytes are Kafka's null.

use std::marker::PhantomData;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SerdeError(pub String);

/// Turns `T` into bytes and back. `None` bytes are a null key or value.
pub trait Serde<T>: Send + Sync + 'static {
    /// The bytes of `value`; `None` writes a null.
    fn serialize(&self, value: &T) -> Option<Vec<u8>>;
    /// Decodes bytes read from a topic or a store.
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError>;

    /// [`serialize`](Self::serialize) of a value the caller gives away: serdes whose type
    /// already is bytes (or text) hand them over without a copy.
    fn serialize_owned(&self, value: T) -> Option<Vec<u8>> {
        self.serialize(&value)
    }

    /// [`deserialize`](Self::deserialize) of bytes the caller gives away.
    fn deserialize_owned(&self, bytes: Option<Vec<u8>>) -> Result<T, SerdeError> {
        self.deserialize(bytes.as_deref())
    }
}

fn required<'a>(bytes: Option<&'a [u8]>, what: &str) -> Result<&'a [u8], SerdeError> {
    bytes.ok_or_else(|| SerdeError(format!("null where {what} was expected")))
}

/// Raw bytes, as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawBytes;

impl Serde<Vec<u8>> for RawBytes {
    fn serialize(&self, value: &Vec<u8>) -> Option<Vec<u8>> {
        Some(value.clone())
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Vec<u8>, SerdeError> {
        Ok(required(bytes, "bytes")?.to_vec())
    }
    fn serialize_owned(&self, value: Vec<u8>) -> Option<Vec<u8>> {
        Some(value)
    }
    fn deserialize_owned(&self, bytes: Option<Vec<u8>>) -> Result<Vec<u8>, SerdeError> {
        bytes.ok_or_else(|| SerdeError("null where bytes was expected".into()))
    }
}

/// UTF-8 text (Kafka's `StringSerde`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Utf8;

impl Serde<String> for Utf8 {
    fn serialize(&self, value: &String) -> Option<Vec<u8>> {
        Some(value.as_bytes().to_vec())
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<String, SerdeError> {
        String::from_utf8(required(bytes, "text")?.to_vec()).map_err(|e| SerdeError(format!("not UTF-8: {e}")))
    }
    fn serialize_owned(&self, value: String) -> Option<Vec<u8>> {
        Some(value.into_bytes())
    }
    fn deserialize_owned(&self, bytes: Option<Vec<u8>>) -> Result<String, SerdeError> {
        let bytes = bytes.ok_or_else(|| SerdeError("null where text was expected".into()))?;
        String::from_utf8(bytes).map_err(|e| SerdeError(format!("not UTF-8: {e}")))
    }
}

/// A 64-bit signed integer, 8 bytes big-endian (Kafka's `LongSerde`).
#[derive(Debug, Clone, Copy, Default)]
pub struct I64;

impl Serde<i64> for I64 {
    fn serialize(&self, value: &i64) -> Option<Vec<u8>> {
        Some(value.to_be_bytes().to_vec())
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<i64, SerdeError> {
        let bytes = required(bytes, "a 64-bit integer")?;
        let array: [u8; 8] =
            bytes.try_into().map_err(|_| SerdeError(format!("a 64-bit integer takes 8 bytes, not {}", bytes.len())))?;
        Ok(i64::from_be_bytes(array))
    }
}

/// JSON through serde.
pub struct Json<T>(PhantomData<fn() -> T>);

impl<T> Json<T> {
    /// A JSON serde for `T`.
    pub fn new() -> Self {
        Json(PhantomData)
    }
}

impl<T> Default for Json<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Json<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Json")
    }
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + 'static> Serde<T> for Json<T> {
    fn serialize(&self, value: &T) -> Option<Vec<u8>> {
        Some(serde_json::to_vec(value).expect("serde_json writes every Serialize value to a Vec"))
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<T, SerdeError> {
        serde_json::from_slice(required(bytes, "JSON")?).map_err(|e| SerdeError(format!("bad JSON: {e}")))
    }
}

/// A key or value that may be null: `None` is Kafka's null.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nullable<S>(pub S);

impl<T, S: Serde<T>> Serde<Option<T>> for Nullable<S> {
    fn serialize(&self, value: &Option<T>) -> Option<Vec<u8>> {
        value.as_ref().and_then(|v| self.0.serialize(v))
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        bytes.map(|b| self.0.deserialize(Some(b))).transpose()
    }
    fn serialize_owned(&self, value: Option<T>) -> Option<Vec<u8>> {
        value.and_then(|v| self.0.serialize_owned(v))
    }
    fn deserialize_owned(&self, bytes: Option<Vec<u8>>) -> Result<Option<T>, SerdeError> {
        bytes.map(|b| self.0.deserialize_owned(Some(b))).transpose()
    }
}

/// A key or value the application ignores: read as `()` whatever it holds, written as null.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ignore;

impl Serde<()> for Ignore {
    fn serialize(&self, _: &()) -> Option<Vec<u8>> {
        None
    }
    fn deserialize(&self, _: Option<&[u8]>) -> Result<(), SerdeError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i64_is_eight_bytes_big_endian_like_kafkas_long_serde() {
        assert_eq!(I64.serialize(&258), Some(vec![0, 0, 0, 0, 0, 0, 1, 2]));
        assert_eq!(I64.deserialize(Some(&[0, 0, 0, 0, 0, 0, 1, 2])), Ok(258));
        assert!(I64.deserialize(Some(&[1, 2])).is_err());
    }

    #[test]
    fn null_is_an_error_unless_the_serde_is_nullable() {
        assert!(Utf8.deserialize(None).is_err());
        assert_eq!(Nullable(Utf8).deserialize(None), Ok(None));
        assert_eq!(Nullable(Utf8).serialize(&None), None);
        assert_eq!(Nullable(Utf8).deserialize(Some(b"x")), Ok(Some("x".to_string())));
    }

    #[test]
    fn json_round_trips_and_names_bad_input() {
        let serde = Json::<Vec<u32>>::new();
        let bytes = serde.serialize(&vec![1, 2]).expect("bytes");
        assert_eq!(serde.deserialize(Some(&bytes)), Ok(vec![1, 2]));
        assert!(serde.deserialize(Some(b"{")).unwrap_err().0.contains("bad JSON"));
    }
}
