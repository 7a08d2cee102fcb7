//! Process and disk figures, read at scrape time: the `process_*` metrics every Prometheus
//! client library exports (from `/proc/self`), and the data directory's free space.

use std::path::Path;

/// What a scrape reports about the process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub resident_bytes: u64,
    /// Virtual memory, bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The open-file limit.
    pub max_fds: u64,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

/// Reads `/proc/self`; fields that cannot be read are 0.
pub fn process_stats() -> ProcessStats {
    let mut stats = ProcessStats::default();
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = rustix::param::page_size() as u64;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        stats.cpu_seconds = (field(14) + field(15)) as f64 / ticks;
        stats.virtual_bytes = field(23);
        stats.resident_bytes = field(24) * page;
        let boot = boot_time_seconds();
        stats.start_time_seconds = boot + field(22) as f64 / ticks;
    }
    stats.open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    stats.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(0);
    stats
}

fn boot_time_seconds() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| text.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

/// (free bytes for unprivileged writers, total bytes) of the file system holding `dir`.
pub fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some((stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_itself_and_the_disk_has_room() {
        let stats = process_stats();
        assert!(stats.resident_bytes > 1024 * 1024, "{stats:?}");
        assert!(stats.open_fds >= 3, "{stats:?}");
        assert!(stats.start_time_seconds > 1.6e9, "{stats:?}");
        let (free, total) = disk_space(Path::new(".")).expect("statvfs");
        assert!(free <= total && total > 0);
    }
}
