//! Kafka's per-log-dir offset checkpoint files, in Kafka's format:
//!
//! - `log-start-offset-checkpoint`: the log start offsets DeleteRecords set inside a segment,
//!   which the segments alone cannot tell after a restart. Written whole before a DeleteRecords
//!   is acknowledged and after a topic is deleted; entries of topics that no longer exist are
//!   dropped at start.
//! - `recovery-point-offset-checkpoint`: per partition, the offset below which everything is
//!   fsynced, written after each recovery checkpoint round (see `server`). A restart after a
//!   crash compares it with what recovery found.
//!
//!
//! ```text
//! 0                  <- version
//! 2                  <- entries
//! orders 0 1500      <- topic partition offset
//! orders 3 200
//! ```
//!
//! Each is written whole (temp, fsync, rename, fsync dir).

use std::collections::BTreeMap;
use std::path::Path;

use runnel_log::durable_file::write_atomically;

/// The log start offsets' file in the data directory.
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";

/// The recovery points' file in the data directory.
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";

/// Offsets by (topic, partition).
pub type Offsets = BTreeMap<(String, i32), i64>;

/// Parses the file's text; a malformed file is an error naming the line.
pub fn parse(text: &str) -> Result<Offsets, String> {
    let mut lines = text.lines();
    let version = lines.next().map(str::trim);
    if version != Some("0") {
        return Err(format!("unsupported version {version:?}, expected 0"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| "the second line must be the entry count".to_string())?;
    let mut out = Offsets::new();
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let entry = match fields.as_slice() {
            [topic, partition, offset] => partition.parse().ok().zip(offset.parse().ok()).map(|(p, o)| (topic, p, o)),
            _ => None,
        };
        let (topic, partition, offset) =
            entry.ok_or_else(|| format!("line {}: expected `topic partition offset`", i + 3))?;
        out.insert((topic.to_string(), partition), offset);
    }
    if out.len() != count {
        return Err(format!("says {count} entries but holds {}", out.len()));
    }
    Ok(out)
}

/// The file's text for these entries.
pub fn format(entries: &Offsets) -> String {
    let mut text = format!("0\n{}\n", entries.len());
    for ((topic, partition), offset) in entries {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Reads the checkpoint `file` in `dir`; none means no entries.
pub fn read(dir: &Path, file: &str) -> Result<Offsets, String> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Offsets::new()),
        Err(e) => Err(format!("read {}: {e}", path.display())),
    }
}

/// Writes the checkpoint `file` in `dir` durably.
pub fn write(dir: &Path, file: &str, entries: &Offsets) -> Result<(), String> {
    let path = dir.join(file);
    write_atomically(&path, format(entries).as_bytes()).map_err(|e| format!("write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_what_was_written_in_kafkas_format() {
        let entries = Offsets::from([(("orders".to_string(), 0), 1500), (("orders".to_string(), 3), 200)]);
        assert_eq!(format(&entries), "0\n2\norders 0 1500\norders 3 200\n");
        assert_eq!(parse(&format(&entries)), Ok(entries));
        assert!(parse("1\n0\n").is_err());
        assert!(parse("0\n2\norders 0 1500\n").is_err());
        assert!(parse("0\n1\norders zero 1500\n").unwrap_err().contains("line 3"));
    }
}
