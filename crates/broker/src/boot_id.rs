//! The machine's boot id, kept in the data directory. A start that finds the id it recorded
//! last time knows the machine has not restarted since the previous run: what that run wrote
//! and did not fsync is still in the page cache, even if the process was killed. A start after
//! a power cut or an operating-system crash finds another id (or none), and must assume that
//! anything not fsynced is gone.

use std::io;
use std::path::Path;

/// The file in the data directory holding the boot id of the broker's last start.
pub const BOOT_ID_FILE: &str = ".runnel_boot_id";

/// Where Linux publishes the current boot's id.
const CURRENT_BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// Whether the machine has not restarted since the broker last started on `dir` (`false` when
/// that cannot be known: no previous id, or a system without boot ids), recording this boot's
/// id for the next start.
pub fn same_boot_as_last_start(dir: &Path) -> io::Result<bool> {
    let Ok(current) = std::fs::read_to_string(CURRENT_BOOT_ID) else { return Ok(false) };
    let current = current.trim();
    let path = dir.join(BOOT_ID_FILE);
    let previous = std::fs::read_to_string(&path).ok();
    let same = previous.as_deref().map(str::trim) == Some(current);
    if !same {
        runnel_log::durable_file::write_atomically(&path, current.as_bytes())?;
    }
    Ok(same)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_second_start_in_the_same_boot_knows_it_and_another_boots_id_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!same_boot_as_last_start(dir.path()).unwrap(), "a first start knows nothing of the last");
        assert!(same_boot_as_last_start(dir.path()).unwrap(), "the second start in the same boot");
        std::fs::write(dir.path().join(BOOT_ID_FILE), "00000000-0000-0000-0000-000000000000").unwrap();
        assert!(!same_boot_as_last_start(dir.path()).unwrap(), "an id left by another boot");
        assert!(same_boot_as_last_start(dir.path()).unwrap(), "which the start replaced with its own");
    }
}
