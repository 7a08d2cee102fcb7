//! Recovery: turning a partition directory, however the last process ended, into an open log.
//!
//! Steps, in order: remove leftovers of interrupted rewrites (`*.tmp`); open every segment,
//! trusting its indexes (an index file only names batches already fsynced); after a crash,
//! check the last segment batch by batch from its last index entry (its last recovery
//! checkpoint, or its start), checking CRCs and cutting a torn tail; then rebuild the
//! producer table from the newest snapshot plus the batch headers after it, and with it the
//! aborted-transaction index entries of the batches replayed. So a restart after a crash
//! reads what was written since the last checkpoint, not the whole segment.

use std::fs;
use std::path::Path;

use crate::batch::{BatchHeader, HEADER_LEN};
use crate::config::LogConfig;
use crate::control::{self, ControlType};
use crate::error::LogError;
use crate::producer_state::ProducerState;
use crate::segment::Segment;
use crate::txn_index::{self, AbortedTxn};

/// What recovery found and did; logged by the broker and checked by tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offset the next append gets.
    pub next_offset: i64,
    /// Bytes cut from segment tails (torn or corrupt writes).
    pub truncated_bytes: u64,
    /// Number of segments opened.
    pub segments: usize,
    /// Whether the last segment's tail was scanned with CRC checks (after a crash).
    pub scanned: bool,
    /// Bytes CRC-checked: after a crash, the last segment from its last recovery checkpoint
    /// (or from its start when it has none).
    pub checked_bytes: u64,
}

/// The pieces of an opened log, handed to `PartitionLog`.
pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    pub producers: ProducerState,
    /// Every aborted transaction still in the log, by marker offset.
    pub aborted: Vec<AbortedTxn>,
    pub report: RecoveryReport,
}

/// Base offsets of the `.log` files in `dir`, sorted.
fn segment_base_offsets(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut offsets = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| LogError::io(format!("list {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(format!("list {}", dir.display()), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tmp") {
            fs::remove_file(entry.path()).map_err(|e| LogError::io(format!("remove {name}"), e))?;
        } else if let Some(stem) = name.strip_suffix(".log")
            && let Ok(offset) = stem.parse::<i64>()
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Opens the log in `dir` (creating it when absent). `clean_shutdown` skips the CRC scan.
pub(crate) fn recover(dir: &Path, config: &LogConfig, clean_shutdown: bool) -> Result<Recovered, LogError> {
    fs::create_dir_all(dir).map_err(|e| LogError::io(format!("create {}", dir.display()), e))?;
    crate::cleaner::finish_interrupted(dir)?;
    let offsets = segment_base_offsets(dir)?;
    let mut segments = Vec::with_capacity(offsets.len().max(1));
    let mut truncated_bytes = 0;
    let mut checked_bytes = 0;
    let last = offsets.len().saturating_sub(1);
    for (i, &base) in offsets.iter().enumerate() {
        let full_scan = i == last && !clean_shutdown;
        let (mut segment, opened) = Segment::open(dir, base, config.index_interval_bytes, full_scan)
            .map_err(|e| LogError::io(format!("open segment {}", crate::segment::file_stem(base)), e))?;
        if i != last {
            // An older segment's indexes are trusted at the next start: keep rebuilt ones.
            segment.persist_indexes().map_err(|e| {
                LogError::io(format!("write indexes of segment {}", crate::segment::file_stem(base)), e)
            })?;
        }
        truncated_bytes += opened.truncated;
        checked_bytes += opened.checked;
        segments.push(segment);
    }
    if segments.is_empty() {
        segments.push(
            Segment::create(dir, 0, config.index_interval_bytes)
                .map_err(|e| LogError::io("create first segment", e))?,
        );
    }
    if truncated_bytes > 0
        && let Some(segment) = segments.last_mut()
    {
        segment.sync_all().map_err(|e| LogError::io("sync recovered segment", e))?;
    }
    let log_start_offset = segments[0].base_offset();
    let next_offset = segments.last().map(Segment::next_offset).unwrap_or(0);
    let (producers, aborted) = rebuild_producer_state(dir, &segments, next_offset)?;
    Ok(Recovered {
        report: RecoveryReport {
            log_start_offset,
            next_offset,
            truncated_bytes,
            segments: segments.len(),
            scanned: !clean_shutdown,
            checked_bytes,
        },
        segments,
        producers,
        aborted,
    })
}

/// Loads the newest snapshot and replays the batch headers that follow it. The aborted
/// transactions whose markers lie in the replayed range are derived again and their segments'
/// indexes rewritten, so an index entry lost in a crash, or one for a cut tail, is set right.
fn rebuild_producer_state(
    dir: &Path,
    segments: &[Segment],
    next_offset: i64,
) -> Result<(ProducerState, Vec<AbortedTxn>), LogError> {
    let (mut state, from) = ProducerState::load_latest_snapshot(dir, next_offset)
        .map_err(|e| LogError::io("load producer snapshot", e))?
        .unwrap_or_default();
    let mut aborted = Vec::new();
    for segment in segments {
        let base = segment.base_offset();
        let io = |e| LogError::io(format!("recover the transaction index of segment {base}"), e);
        let mut entries = txn_index::load(dir, base).map_err(io)?;
        if segment.next_offset() > from {
            let before = entries.len();
            entries.retain(|e| e.last_offset < from);
            let mut derived = false;
            replay_headers(segment, from, |h, marker| {
                if let Some(done) = state.record(h, h.base_offset, marker)
                    && done.aborted
                {
                    let last_stable_offset = state.first_unstable_offset().unwrap_or(done.last_offset + 1);
                    let (producer_id, first_offset, last_offset) =
                        (done.producer_id, done.first_offset, done.last_offset);
                    entries.push(AbortedTxn { producer_id, first_offset, last_offset, last_stable_offset });
                    derived = true;
                }
            })
            .map_err(|e| LogError::io(format!("replay producer state from segment {base}"), e))?;
            if derived || entries.len() != before {
                txn_index::rewrite(dir, base, &entries).map_err(io)?;
            }
        }
        aborted.extend(entries);
    }
    Ok((state, aborted))
}

/// Calls `f` with the header of every batch of `segment` ending at or after `from` that has a
/// producer id, and for a control batch the type of its marker.
fn replay_headers(
    segment: &Segment,
    from: i64,
    mut f: impl FnMut(&BatchHeader, Option<ControlType>),
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let Some(mut pos) = segment.position_of(from.max(segment.base_offset()))? else { return Ok(()) };
    let file = segment.file_handle()?;
    let mut header = [0u8; HEADER_LEN];
    while pos + HEADER_LEN as u64 <= segment.size() {
        file.read_exact_at(&mut header, pos)?;
        let h = BatchHeader::parse(&header).map_err(std::io::Error::other)?;
        if h.has_producer_id() {
            let marker = if h.is_control() {
                let mut whole = vec![0u8; h.total_len()];
                file.read_exact_at(&mut whole, pos)?;
                control::control_type(&h, &whole)
            } else {
                None
            };
            f(&h, marker);
        }
        pos += h.total_len() as u64;
    }
    Ok(())
}
