//! Recovery: turning a partition directory, however the last process ended, into an open log.
//!
//! Steps, in order: remove leftovers of interrupted rewrites (`*.tmp`); open every segment,
//! trusting the indexes of all but the last; scan the last segment batch by batch, checking
//! CRCs and cutting a torn tail, unless the broker shut down cleanly; then rebuild the
//! idempotent producer table from the newest snapshot plus the batch headers after it.

use std::fs;
use std::path::Path;

use crate::batch::{BatchHeader, HEADER_LEN};
use crate::config::LogConfig;
use crate::error::LogError;
use crate::producer_state::ProducerState;
use crate::segment::Segment;

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
    /// Whether the last segment was scanned with CRC checks.
    pub scanned: bool,
}

/// The pieces of an opened log, handed to `PartitionLog`.
pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    pub producers: ProducerState,
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
    let offsets = segment_base_offsets(dir)?;
    let mut segments = Vec::with_capacity(offsets.len().max(1));
    let mut truncated_bytes = 0;
    let last = offsets.len().saturating_sub(1);
    for (i, &base) in offsets.iter().enumerate() {
        let full_scan = i == last && !clean_shutdown;
        let (mut segment, cut) = Segment::open(dir, base, config.index_interval_bytes, full_scan)
            .map_err(|e| LogError::io(format!("open segment {}", crate::segment::file_stem(base)), e))?;
        if i != last {
            // An older segment's indexes are trusted at the next start: keep rebuilt ones.
            segment.persist_indexes().map_err(|e| {
                LogError::io(format!("write indexes of segment {}", crate::segment::file_stem(base)), e)
            })?;
        }
        truncated_bytes += cut;
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
    let producers = rebuild_producer_state(dir, &segments, next_offset)?;
    Ok(Recovered {
        report: RecoveryReport {
            log_start_offset,
            next_offset,
            truncated_bytes,
            segments: segments.len(),
            scanned: !clean_shutdown,
        },
        segments,
        producers,
    })
}

/// Loads the newest snapshot and replays the batch headers that follow it.
fn rebuild_producer_state(dir: &Path, segments: &[Segment], next_offset: i64) -> Result<ProducerState, LogError> {
    let (mut state, from) = ProducerState::load_latest_snapshot(dir, next_offset)
        .map_err(|e| LogError::io("load producer snapshot", e))?
        .unwrap_or_default();
    for segment in segments.iter().filter(|s| s.next_offset() > from) {
        replay_headers(segment, from, |h| state.record(h, h.base_offset))
            .map_err(|e| LogError::io(format!("replay producer state from segment {}", segment.base_offset()), e))?;
    }
    Ok(state)
}

/// Calls `f` with the header of every batch of `segment` ending at or after `from`.
fn replay_headers(segment: &Segment, from: i64, mut f: impl FnMut(&BatchHeader)) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let Some(mut pos) = segment.position_of(from.max(segment.base_offset()))? else { return Ok(()) };
    let file = segment.file_handle()?;
    let mut header = [0u8; HEADER_LEN];
    while pos + HEADER_LEN as u64 <= segment.size() {
        file.read_exact_at(&mut header, pos)?;
        let h = BatchHeader::parse(&header).map_err(std::io::Error::other)?;
        if h.has_producer_id() {
            f(&h);
        }
        pos += h.total_len() as u64;
    }
    Ok(())
}
