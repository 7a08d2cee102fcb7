//! Rewrites the group log at startup with only its live records: the latest commit of each
//! partition and the latest metadata of each group. Without it every commit ever made would be
//! replayed at every start.
//!
//! Crash safety: the new log is written and fsynced in `<log>.compacting`; then the old log is
//! renamed to `<log>.old`, the new one into place, and the old one removed. A crash at any
//! point leaves either the old log or the complete new one, and [`finish_interrupted`] tidies
//! up at the next start.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use runnel_log::durable_file::sync_dir;

use super::group::Group;
use super::records::{Record, RecordKey, RecordValue};

fn sibling(log_dir: &Path, suffix: &str) -> PathBuf {
    let mut name = log_dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    log_dir.with_file_name(name)
}

/// Where a compaction writes the new log.
pub fn compacting_dir(log_dir: &Path) -> PathBuf {
    sibling(log_dir, ".compacting")
}

fn old_dir(log_dir: &Path) -> PathBuf {
    sibling(log_dir, ".old")
}

/// Completes or discards a compaction a crash interrupted.
pub fn finish_interrupted(log_dir: &Path) -> io::Result<()> {
    let compacting = compacting_dir(log_dir);
    let old = old_dir(log_dir);
    let parent = log_dir.parent().unwrap_or(Path::new("."));
    if compacting.exists() {
        if log_dir.exists() {
            // The old log was never moved aside, so the new one may be incomplete.
            std::fs::remove_dir_all(&compacting)?;
        } else {
            // The old log was moved aside only after the new one was complete.
            std::fs::rename(&compacting, log_dir)?;
            sync_dir(parent)?;
        }
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// The records that rebuild `groups` exactly: each group's metadata, then its offsets.
pub fn live_records(groups: &HashMap<String, Group>) -> Vec<Record> {
    let mut ids: Vec<&String> = groups.keys().collect();
    ids.sort();
    let mut records = Vec::new();
    for id in ids {
        let group = &groups[id];
        if group.has_metadata() {
            records.push(Record {
                key: RecordKey::Group { group: id.clone() },
                value: Some(RecordValue::Group(group.stored())),
            });
        }
        if let Some(consumer) = &group.consumer {
            records.extend(consumer.live_records());
        }
        for ((topic, partition), offset) in &group.offsets {
            records.push(Record {
                key: RecordKey::Offset { group: id.clone(), topic: topic.clone(), partition: *partition },
                value: Some(RecordValue::Offset(offset.clone())),
            });
        }
    }
    records
}

/// Moves the complete, fsynced log in `compacting_dir(log_dir)` into place of `log_dir`.
pub fn swap_in(log_dir: &Path) -> io::Result<()> {
    let parent = log_dir.parent().unwrap_or(Path::new("."));
    let old = old_dir(log_dir);
    std::fs::rename(log_dir, &old)?;
    sync_dir(parent)?;
    std::fs::rename(compacting_dir(log_dir), log_dir)?;
    sync_dir(parent)?;
    std::fs::remove_dir_all(&old)
}
