//! Log compaction (`cleanup.policy=compact`), as Kafka's log cleaner does it: keep the last
//! record of every key, with its offset unchanged.
//!
//! A pass works in three steps:
//!
//! 1. **Plan** (under the partition lock, no I/O): the cleanable segments are the closed ones
//!    from the log start, stopping at the first that reaches past the last stable offset or
//!    holds records younger than `min.compaction.lag.ms`; the active segment is never cleaned.
//!    The dirty part starts at the cleaner's checkpoint (the first offset the last pass did not
//!    see). A pass runs when dirty bytes are at least `min.cleanable.dirty.ratio` of the
//!    cleanable bytes, or when dirty data is older than `max.compaction.lag.ms`.
//! 2. **Clean** (no lock; reads closed segment files, which never change): map every key of the
//!    dirty part to its last offset (bounded in memory: the pass stops at a segment boundary
//!    when the map is full), then rewrite each cleanable segment into `<base>.log.cleaned`,
//!    keeping a record when no later record has its key. Tombstones (null values) go once
//!    their batch is older than `delete.retention.ms`; records of aborted transactions go; a
//!    transaction marker goes once none of its transaction's records is left and it is older
//!    than `delete.retention.ms`; the last batch of each producer stays whole, so idempotent
//!    producer state survives a restart. Batches that lose no record are copied byte for byte;
//!    others are re-encoded with their codec, base offset of the first record kept and the
//!    original last offset (so sequence numbers still line up).
//! 3. **Swap** (under the partition lock), crash-safe at every step: each `.cleaned` file is
//!    fsynced and renamed to `.log.swap` (the mark of a complete cleaned segment), the old
//!    indexes are removed, `.swap` is renamed over `.log` (atomic), the directory fsynced, and
//!    the new indexes written. At open, a `.cleaned` file is discarded (the old segment stands)
//!    and a `.swap` file completes its swap, so a crash at any step reopens to the old data or
//!    the cleaned data, never a mix.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::durable_file::sync_dir;
use crate::error::LogError;
use crate::segment::{Segment, segment_path};
use crate::txn_index::AbortedTxn;

/// Suffix of a cleaned segment being written.
pub const CLEANED_SUFFIX: &str = "log.cleaned";
/// Suffix of a cleaned segment complete and waiting to replace its `.log`.
pub const SWAP_SUFFIX: &str = "log.swap";

/// One closed segment a pass reads.
#[derive(Debug, Clone)]
pub struct SourceSegment {
    /// Its base offset.
    pub base_offset: i64,
    /// The open `.log` file (closed segments never change).
    pub file: Arc<fs::File>,
    /// Bytes of batches in it.
    pub size: u64,
    /// The offset after its last batch.
    pub next_offset: i64,
}

/// What a pass will clean, taken under the partition lock by [`crate::PartitionLog::clean_plan`].
#[derive(Debug, Clone)]
pub struct CleanPlan {
    /// The partition directory.
    pub dir: PathBuf,
    /// The cleanable segments, from the log start.
    pub segments: Vec<SourceSegment>,
    /// First offset not seen by the previous pass: the keys from here on decide.
    pub dirty_from: i64,
    /// Aborted transactions in the log: their records go.
    pub aborted: Vec<AbortedTxn>,
    /// (producer id, base offset) of each producer's last batch: kept whole.
    pub last_batches: HashMap<i64, i64>,
    /// `delete.retention.ms`: tombstones older than this go.
    pub delete_retention_ms: i64,
    /// `index.interval.bytes` of the new segments.
    pub index_interval_bytes: u64,
}

/// Limits and clock of one pass.
#[derive(Debug, Clone, Copy)]
pub struct PassSettings {
    /// Now, in ms since the epoch (tombstone expiry).
    pub now_ms: i64,
    /// Most memory the key map may take (`log.cleaner.dedupe.buffer.size`).
    pub max_map_bytes: usize,
    /// Most bytes read per second (`log.cleaner.io.max.bytes.per.second`; 0: no limit): the
    /// pass sleeps between segments to stay under it.
    pub max_bytes_per_second: u64,
}

/// A cleaned segment written as `<base>.log.cleaned`, waiting for its swap.
#[derive(Debug)]
pub struct CleanedSegment {
    /// Base offset of the segment it replaces.
    pub base_offset: i64,
    /// The new segment (at the `.cleaned` path until the swap); empty when nothing is left,
    /// and then removed after the swap.
    pub segment: Segment,
}

/// The outcome of a pass, before the swap.
#[derive(Debug)]
pub struct Cleaned {
    /// The segments rewritten, in order.
    pub segments: Vec<CleanedSegment>,
    /// What the pass did.
    pub stats: CleanStats,
}

/// What a pass did, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// First offset the next pass treats as dirty.
    pub cleaned_to: i64,
    /// Bytes read from the old segments.
    pub bytes_read: u64,
    /// Bytes written to the new ones.
    pub bytes_written: u64,
    /// Records dropped.
    pub records_removed: u64,
}

/// Calls `f` with each stored batch of a segment file (its header and bytes).
fn for_each_batch(
    segment: &SourceSegment,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<bool, LogError>,
) -> Result<(), LogError> {
    let io = |e| LogError::io(format!("read segment {} for cleaning", segment.base_offset), e);
    let mut pos = 0u64;
    let mut header = [0u8; HEADER_LEN];
    let mut whole = Vec::new();
    while pos + HEADER_LEN as u64 <= segment.size {
        segment.file.read_exact_at(&mut header, pos).map_err(io)?;
        let h = BatchHeader::parse(&header)?;
        whole.resize(h.total_len(), 0);
        segment.file.read_exact_at(&mut whole, pos).map_err(io)?;
        if !f(&h, &whole)? {
            break;
        }
        pos += h.total_len() as u64;
    }
    Ok(())
}

fn decode(mut bytes: &[u8]) -> Result<(Vec<Record>, Compression), LogError> {
    let set = RecordBatchDecoder::decode(&mut bytes).map_err(|e| batch::BatchError::Undecodable(e.to_string()))?;
    Ok((set.records, set.compression))
}

fn is_aborted(aborted: &[AbortedTxn], producer_id: i64, offset: i64) -> bool {
    aborted.iter().any(|a| a.producer_id == producer_id && (a.first_offset..=a.last_offset).contains(&offset))
}

/// Key -> last offset over the dirty segments, stopping at a segment boundary when the map
/// would pass `max_bytes`. Returns the map and the offset it covers up to.
fn build_key_map(plan: &CleanPlan, max_bytes: usize) -> Result<(HashMap<Bytes, i64>, i64), LogError> {
    let mut map: HashMap<Bytes, i64> = HashMap::new();
    let mut bytes = 0usize;
    let mut covered = plan.dirty_from;
    for segment in plan.segments.iter().filter(|s| s.next_offset > plan.dirty_from) {
        let mut added: Vec<(Bytes, i64)> = Vec::new();
        for_each_batch(segment, |h, whole| {
            if h.is_control() || h.last_offset() < plan.dirty_from {
                return Ok(true);
            }
            for record in decode(whole)?.0 {
                if record.offset >= plan.dirty_from
                    && !(h.is_transactional() && is_aborted(&plan.aborted, h.producer_id, record.offset))
                    && let Some(key) = record.key
                {
                    added.push((key, record.offset));
                }
            }
            Ok(true)
        })?;
        let more: usize = added.iter().map(|(k, _)| k.len() + 48).sum();
        if bytes + more > max_bytes && !map.is_empty() {
            break;
        }
        bytes += more;
        for (key, offset) in added {
            map.insert(key, offset);
        }
        covered = segment.next_offset;
    }
    Ok((map, covered))
}

/// Re-encodes the records kept from a batch: base offset of the first kept record, the
/// original last offset, timestamp type and (for batches without a producer) base sequence.
fn reencode(h: &BatchHeader, kept: &[Record], compression: Compression) -> Result<Vec<u8>, LogError> {
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression };
    RecordBatchEncoder::encode(&mut out, kept, &options).map_err(|e| batch::BatchError::Undecodable(e.to_string()))?;
    let mut bytes = Vec::from(out);
    let new_base = kept[0].offset;
    let last_delta = (h.last_offset() - new_base) as i32;
    batch::patch_for_compaction(&mut bytes, h.attributes, last_delta, (!h.has_producer_id()).then_some(-1));
    Ok(bytes)
}

/// Step 2: writes the cleaned segments as `.cleaned` files, fsynced. Nothing is swapped.
pub fn clean(plan: &CleanPlan, settings: PassSettings) -> Result<Cleaned, LogError> {
    let (map, covered) = build_key_map(plan, settings.max_map_bytes)?;
    let mut cleaned = Cleaned {
        segments: Vec::new(),
        stats: CleanStats { cleaned_to: covered, bytes_read: 0, bytes_written: 0, records_removed: 0 },
    };
    let tombstone_horizon = settings.now_ms.saturating_sub(plan.delete_retention_ms);
    let started = std::time::Instant::now();
    // Per producer: whether a record of its current transaction survived so far in this pass.
    // A marker whose transaction kept nothing goes once past delete.retention.ms, as in Kafka.
    let mut txn_data_kept: HashMap<i64, bool> = HashMap::new();
    for source in plan.segments.iter().take_while(|s| s.next_offset <= covered) {
        if settings.max_bytes_per_second > 0 {
            let due = std::time::Duration::from_secs_f64(
                cleaned.stats.bytes_read as f64 / settings.max_bytes_per_second as f64,
            );
            std::thread::sleep(due.saturating_sub(started.elapsed()));
        }
        let path = segment_path(&plan.dir, source.base_offset, CLEANED_SUFFIX);
        let mut segment = Segment::create_at(&plan.dir, source.base_offset, plan.index_interval_bytes, &path)
            .map_err(|e| LogError::io(format!("create {}", path.display()), e))?;
        cleaned.stats.bytes_read += source.size;
        for_each_batch(source, |h, whole| {
            if h.is_control() {
                let kept_data = txn_data_kept.remove(&h.producer_id).unwrap_or(false);
                if !kept_data && h.max_timestamp < tombstone_horizon {
                    cleaned.stats.records_removed += 1;
                    return Ok(true);
                }
            }
            let keep_whole = h.is_control() || plan.last_batches.get(&h.producer_id) == Some(&h.base_offset);
            // Batches kept as they are are written from the read buffer, not copied.
            let stored: Option<Cow<[u8]>> = if keep_whole {
                Some(Cow::Borrowed(whole))
            } else {
                let (records, compression) = decode(whole)?;
                let total = records.len();
                let kept: Vec<Record> = records
                    .into_iter()
                    .filter(|r| {
                        if h.is_transactional() && is_aborted(&plan.aborted, h.producer_id, r.offset) {
                            return false;
                        }
                        let Some(key) = &r.key else { return true };
                        let latest = map.get(key).is_none_or(|&last| r.offset >= last);
                        let expired_tombstone = r.value.is_none() && h.max_timestamp < tombstone_horizon;
                        latest && !expired_tombstone
                    })
                    .collect();
                cleaned.stats.records_removed += (total - kept.len()) as u64;
                match kept.len() {
                    0 => None,
                    n if n == total => Some(Cow::Borrowed(whole)),
                    _ => Some(Cow::Owned(reencode(h, &kept, compression)?)),
                }
            };
            if h.is_transactional() && !h.is_control() && stored.is_some() {
                txn_data_kept.insert(h.producer_id, true);
            }
            if let Some(bytes) = stored {
                let header = BatchHeader::parse(&bytes)?;
                segment
                    .append(&header, &bytes[..16], &bytes[16..])
                    .map_err(|e| LogError::io(format!("write {}", path.display()), e))?;
            }
            Ok(true)
        })?;
        cleaned.stats.bytes_written += segment.size();
        segment
            .file_handle()
            .and_then(|f| f.sync_data())
            .map_err(|e| LogError::io(format!("sync {}", path.display()), e))?;
        cleaned.segments.push(CleanedSegment { base_offset: source.base_offset, segment });
    }
    Ok(cleaned)
}

/// Where a swap may stop early, for crash tests: the steps in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwapStep {
    /// Each `.cleaned` renamed to `.log.swap` and the directory fsynced.
    Marked,
    /// The old index files removed.
    IndexesRemoved,
    /// Each `.swap` renamed over its `.log` and the directory fsynced.
    Replaced,
}

/// Step 3 for one directory's files: marks, removes old indexes, replaces. Stops after
/// `stop_after` (crash tests).
pub fn swap_files(dir: &Path, cleaned: &Cleaned, stop_after: Option<SwapStep>) -> Result<(), LogError> {
    let io = |what: String| move |e| LogError::io(what, e);
    for c in &cleaned.segments {
        let (from, to) =
            (segment_path(dir, c.base_offset, CLEANED_SUFFIX), segment_path(dir, c.base_offset, SWAP_SUFFIX));
        fs::rename(&from, &to).map_err(io(format!("rename {}", from.display())))?;
    }
    sync_dir(dir).map_err(io(format!("sync {}", dir.display())))?;
    if stop_after == Some(SwapStep::Marked) {
        return Ok(());
    }
    for c in &cleaned.segments {
        for kind in ["index", "timeindex"] {
            let path = segment_path(dir, c.base_offset, kind);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(format!("remove {}", path.display()))(e));
                }
                _ => {}
            }
        }
    }
    if stop_after == Some(SwapStep::IndexesRemoved) {
        return Ok(());
    }
    for c in &cleaned.segments {
        let (swap, log) = (segment_path(dir, c.base_offset, SWAP_SUFFIX), segment_path(dir, c.base_offset, "log"));
        fs::rename(&swap, &log).map_err(io(format!("rename {}", swap.display())))?;
    }
    sync_dir(dir).map_err(io(format!("sync {}", dir.display())))
}

/// At open: discards `.cleaned` files (an unfinished pass) and completes every marked swap
/// (`.log.swap` over `.log`, the old indexes removed so they are rebuilt).
pub fn finish_interrupted(dir: &Path) -> Result<(), LogError> {
    let io = |what: String| move |e| LogError::io(what, e);
    let entries = fs::read_dir(dir).map_err(io(format!("list {}", dir.display())))?;
    let mut changed = false;
    for entry in entries {
        let entry = entry.map_err(io(format!("list {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(&format!(".{CLEANED_SUFFIX}")) {
            fs::remove_file(entry.path()).map_err(io(format!("remove {name}")))?;
            changed = true;
        } else if let Some(stem) = name.strip_suffix(&format!(".{SWAP_SUFFIX}"))
            && let Ok(base) = stem.parse::<i64>()
        {
            for kind in ["index", "timeindex"] {
                let _ = fs::remove_file(segment_path(dir, base, kind));
            }
            fs::rename(entry.path(), segment_path(dir, base, "log")).map_err(io(format!("rename {name}")))?;
            changed = true;
        }
    }
    if changed {
        sync_dir(dir).map_err(io(format!("sync {}", dir.display())))?;
    }
    Ok(())
}
