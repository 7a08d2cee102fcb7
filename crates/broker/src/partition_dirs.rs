//! Partition directories, `<data>/<topic>-<index>` as in Kafka: making them away, and finding
//! the ones no topic owns.
//!
//! A topic's partitions are created before `topics.json` names them, so a crash or a failure
//! midway leaves directories that no topic owns ("strays", as Kafka calls them). They hold no
//! acknowledged record (nothing could be produced to a topic that did not exist) and are
//! removed at startup. Deletion first renames a directory to `<topic>-<index>.<id>-delete`, so
//! a crash never leaves data a later topic of the same name could adopt.

use std::ops::Range;
use std::path::{Path, PathBuf};

use runnel_log::durable_file::sync_dir;
use uuid::Uuid;

use crate::topics::{TopicError, validate_name};

/// The directory of one partition.
pub fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{index}"))
}

fn io_error(action: String) -> impl FnOnce(std::io::Error) -> TopicError {
    move |e| TopicError::Storage(format!("{action}: {e}"))
}

/// Renames the existing directories of partitions `indexes` of `topic` out of the way (to be
/// removed), durably: one directory fsync for all of them.
pub fn discard(data_dir: &Path, topic: &str, indexes: Range<i32>, id: Uuid) -> Result<(), TopicError> {
    let mut renamed = false;
    for index in indexes {
        let dir = partition_dir(data_dir, topic, index);
        if !dir.exists() {
            continue;
        }
        let target = data_dir.join(format!("{topic}-{index}.{}-delete", id.simple()));
        std::fs::rename(&dir, &target).map_err(io_error(format!("rename {} for deletion", dir.display())))?;
        renamed = true;
    }
    if renamed {
        sync_dir(data_dir).map_err(io_error(format!("sync {}", data_dir.display())))?;
    }
    Ok(())
}

/// Removes the directories of partitions `indexes` of `topic` that a failed creation made.
/// What cannot be removed now is a stray, removed at the next start.
pub fn remove_created(data_dir: &Path, topic: &str, indexes: Range<i32>) {
    for index in indexes {
        let dir = partition_dir(data_dir, topic, index);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove a partition of a failed creation")
            }
        }
    }
    let _ = sync_dir(data_dir);
}

/// Removes directories renamed for deletion. Failures are logged and retried at the next start.
pub fn remove_deleted_leftovers(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with("-delete")
            && let Err(e) = std::fs::remove_dir_all(entry.path())
        {
            tracing::warn!(dir = %entry.path().display(), error = %e, "could not remove a deleted partition's files");
        }
    }
}

/// The (topic, index) a directory name stands for, if it is a partition directory's name.
pub fn parse_name(name: &str) -> Option<(&str, i32)> {
    let (topic, index) = name.rsplit_once('-')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) || (index.len() > 1 && index.starts_with('0')) {
        return None;
    }
    let index = index.parse::<i32>().ok()?;
    validate_name(topic).ok()?;
    Some((topic, index))
}

/// Whether a directory holds only what runnel writes in a partition directory: such a
/// directory can be removed without destroying anything else somebody keeps there.
fn holds_only_partition_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().all(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        entry.file_type().is_ok_and(|t| t.is_file())
            && [".log", ".index", ".timeindex", ".snapshot", ".tmp"].iter().any(|ext| name.ends_with(ext))
    })
}

/// Removes partition directories that no topic owns (`owned(topic, index)` is false), left by
/// a creation that failed or crashed midway. `keep` names directories of runnel's own logs.
/// Directories holding anything but partition files are left alone, with a warning.
/// Returns how many were removed.
pub fn remove_strays(data_dir: &Path, keep: &[&str], owned: impl Fn(&str, i32) -> bool) -> Result<usize, TopicError> {
    let entries = std::fs::read_dir(data_dir).map_err(io_error(format!("list {}", data_dir.display())))?;
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if keep.contains(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Some((topic, index)) = parse_name(name) else { continue };
        if owned(topic, index) {
            continue;
        }
        let path = entry.path();
        if !holds_only_partition_files(&path) {
            tracing::warn!(dir = %path.display(), "a directory named like a partition of no topic holds other files; left alone");
            continue;
        }
        std::fs::remove_dir_all(&path).map_err(io_error(format!("remove stray partition {}", path.display())))?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(data_dir).map_err(io_error(format!("sync {}", data_dir.display())))?;
        tracing::warn!(
            removed,
            "removed partition directories no topic owns (left by a creation that failed or crashed midway)"
        );
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directory_names_parse_to_topic_and_index() {
        assert_eq!(parse_name("events-0"), Some(("events", 0)));
        assert_eq!(parse_name("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(parse_name("events-"), None);
        assert_eq!(parse_name("events-01"), None);
        assert_eq!(parse_name("events-x"), None);
        assert_eq!(parse_name("events-0.abc-delete"), None);
        assert_eq!(parse_name("bad name-0"), None);
        assert_eq!(parse_name("events-99999999999"), None);
    }

    #[test]
    fn strays_are_removed_and_owned_or_foreign_directories_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["events-0", "events-1", "events-2", "__consumer_offsets-0", "photos-0"] {
            std::fs::create_dir(dir.path().join(name)).expect("mkdir");
            std::fs::write(dir.path().join(name).join("00000000000000000000.log"), b"").expect("segment");
        }
        std::fs::write(dir.path().join("photos-0").join("holiday.jpg"), b"jpeg").expect("foreign file");
        let removed =
            remove_strays(dir.path(), &["__consumer_offsets-0"], |topic, index| topic == "events" && index < 2)
                .expect("remove strays");
        assert_eq!(removed, 1);
        assert!(dir.path().join("events-0").exists());
        assert!(dir.path().join("events-1").exists());
        assert!(!dir.path().join("events-2").exists());
        assert!(dir.path().join("__consumer_offsets-0").exists());
        assert!(dir.path().join("photos-0").join("holiday.jpg").exists());
    }
}
