//! Window definitions (tumbling, hopping, session), how results are emitted, windowed keys and
//! their serde, and the byte layouts window stores use.

use std::time::Duration;

use crate::serdes::{Serde, SerdeError};

/// Fixed-size windows: tumbling (`advance == size`) or hopping (`advance < size`), aligned
/// to the epoch. A record at `t` belongs to every window with `start <= t < start + size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    /// Window length, ms.
    pub size_ms: i64,
    /// Distance between window starts, ms.
    pub advance_ms: i64,
    /// How long after its end a window still accepts late records, ms.
    pub grace_ms: i64,
}

/// A duration in whole milliseconds, as window bounds and timestamps count them.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl TimeWindows {
    /// Back-to-back windows of `size`, accepting records up to `grace` after they end.
    pub fn tumbling(size: Duration, grace: Duration) -> Self {
        Self::hopping(size, size, grace)
    }

    /// Overlapping windows of `size` starting every `advance`.
    pub fn hopping(size: Duration, advance: Duration, grace: Duration) -> Self {
        let (size_ms, advance_ms) = (ms(size), ms(advance));
        assert!(size_ms > 0, "a window's size must be at least 1 ms");
        assert!(advance_ms > 0 && advance_ms <= size_ms, "advance must be between 1 ms and the window size");
        TimeWindows { size_ms, advance_ms, grace_ms: ms(grace) }
    }

    /// The starts of the windows holding a record at `timestamp`, oldest first.
    pub fn starts_for(&self, timestamp: i64) -> Vec<i64> {
        let last = timestamp - timestamp.rem_euclid(self.advance_ms);
        let mut starts = Vec::new();
        let mut start = last;
        while start > timestamp - self.size_ms && start >= 0 {
            starts.push(start);
            start -= self.advance_ms;
        }
        starts.reverse();
        starts
    }
}

/// Session windows: a key's records at most `gap` apart form one session; a record between
/// two sessions merges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    /// Inactivity that ends a session, ms.
    pub gap_ms: i64,
    /// How long after it closes a session still accepts late records, ms.
    pub grace_ms: i64,
}

impl SessionWindows {
    /// Sessions ended by `gap` of inactivity, accepting records up to `grace` late.
    pub fn with_gap(gap: Duration, grace: Duration) -> Self {
        SessionWindows { gap_ms: ms(gap), grace_ms: ms(grace) }
    }
}

/// When a windowed aggregation writes its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Emit {
    /// Every update of a window, at once.
    #[default]
    OnUpdate,
    /// Once per window, when it closes (its end plus grace passed in stream time): the final
    /// result only (Kafka Streams' `EmitStrategy.onWindowClose()`).
    OnWindowClose,
}

/// A window: `[start, end)` for time windows; for sessions, the first and last record times,
/// both included (Kafka Streams' conventions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// Start, ms since the epoch.
    pub start: i64,
    /// End, ms since the epoch.
    pub end: i64,
}

/// A key and the window its aggregate belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: Window,
}

/// The serde of windowed keys: the key's bytes, then start and end as 8-byte big-endian
/// integers.
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowedSerde<S>(pub S);

impl<K, S: Serde<K>> Serde<Windowed<K>> for WindowedSerde<S> {
    fn serialize(&self, value: &Windowed<K>) -> Option<Vec<u8>> {
        let mut bytes = self.0.serialize(&value.key).unwrap_or_default();
        bytes.extend_from_slice(&value.window.start.to_be_bytes());
        bytes.extend_from_slice(&value.window.end.to_be_bytes());
        Some(bytes)
    }
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let bytes = bytes.ok_or_else(|| SerdeError("null where a windowed key was expected".into()))?;
        let split =
            bytes.len().checked_sub(16).ok_or_else(|| SerdeError("a windowed key takes 16 bytes or more".into()))?;
        let (key, times) = bytes.split_at(split);
        let start = i64::from_be_bytes(times[..8].try_into().expect("8 bytes"));
        let end = i64::from_be_bytes(times[8..].try_into().expect("8 bytes"));
        Ok(Windowed { key: self.0.deserialize(Some(key))?, window: Window { start, end } })
    }
}

/// How a windowed aggregation's store is read back: for final results of closed windows.
pub(crate) struct WindowStore<K, A> {
    /// The store's name.
    pub name: String,
    /// The keys' serde.
    pub key: std::sync::Arc<dyn Serde<K>>,
    /// The aggregates' serde.
    pub aggregate: std::sync::Arc<dyn Serde<A>>,
}

impl<K: crate::graph::Data, A: crate::graph::Data> WindowStore<K, A> {
    /// Decodes a closed window's key and aggregate and writes its final result downstream.
    pub(crate) fn emit_final(
        &self,
        ctx: &mut crate::context::TaskContext,
        down: &crate::graph::Downstream<Windowed<K>, crate::table::Change<A>>,
        key_bytes: &[u8],
        aggregate: &[u8],
        window: Window,
        timestamp: i64,
    ) {
        let key = match self.key.deserialize(Some(key_bytes)) {
            Ok(key) => key,
            Err(e) => return ctx.store_decode_failed(&self.name, e),
        };
        let value = match self.aggregate.deserialize(Some(aggregate)) {
            Ok(value) => value,
            Err(e) => return ctx.store_decode_failed(&self.name, e),
        };
        let change = crate::table::Change { new: Some(value), old: None };
        down.forward(
            ctx,
            crate::record::Record { key: Windowed { key, window }, value: change, timestamp, headers: Vec::new() },
        );
    }
}

/// A timestamp as 8 bytes that sort as the numbers do (the sign bit flipped).
pub(crate) fn ordered(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// The timestamp [`ordered`] encoded.
pub(crate) fn from_ordered(bytes: &[u8]) -> i64 {
    let array: [u8; 8] = bytes.try_into().expect("an ordered timestamp is 8 bytes");
    (u64::from_be_bytes(array) ^ (1 << 63)) as i64
}

/// `key` with its length in front, so that one key's entries form one prefix range.
pub(crate) fn length_prefixed(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + key.len());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serdes::Utf8;

    #[test]
    fn hopping_windows_hold_a_record_in_every_window_covering_it() {
        let w = TimeWindows::hopping(Duration::from_millis(10), Duration::from_millis(5), Duration::ZERO);
        assert_eq!(w.starts_for(12), vec![5, 10]);
        assert_eq!(w.starts_for(3), vec![0], "no window starts before the epoch");
        let t = TimeWindows::tumbling(Duration::from_millis(10), Duration::ZERO);
        assert_eq!(t.starts_for(19), vec![10]);
    }

    #[test]
    fn ordered_timestamps_sort_as_numbers_and_windowed_keys_round_trip() {
        assert!(ordered(-1) < ordered(0) && ordered(0) < ordered(1) && ordered(1) < ordered(256));
        assert_eq!(from_ordered(&ordered(-42)), -42);
        let key = Windowed { key: "room".to_string(), window: Window { start: 60_000, end: 120_000 } };
        let bytes = WindowedSerde(Utf8).serialize(&key);
        assert_eq!(WindowedSerde(Utf8).deserialize(bytes.as_deref()), Ok(key));
    }
}
