//! The broker's log cleaner: compacts the partitions of `cleanup.policy=compact` topics in the
//! background, one partition at a time on one thread (Kafka's `log.cleaner.threads=1`), and
//! keeps how far each is cleaned in `cleaner-offset-checkpoint` (Kafka's file), so a restart
//! does not clean again what is clean. The cleaning itself is `runnel_log::cleaner`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use runnel_log::cleaner::{CleanStats, PassSettings};

use crate::dynamic_broker_config::DynamicBrokerConfigs;
use crate::offset_checkpoint::{self, Offsets};
use crate::partition::Partition;
use crate::topics::TopicRegistry;

/// The cleaner checkpoint's file in the data directory.
pub const FILE_NAME: &str = "cleaner-offset-checkpoint";

/// The cleaner's settings (`log.cleaner.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerSettings {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.backoff.ms`: the pause between rounds over the partitions.
    pub backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: memory for one pass's key map.
    pub dedupe_buffer_size: usize,
    /// `log.cleaner.io.max.bytes.per.second` (0: unlimited).
    pub io_max_bytes_per_second: u64,
}

impl Default for CleanerSettings {
    fn default() -> Self {
        CleanerSettings {
            enable: true,
            backoff_ms: 15_000,
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_max_bytes_per_second: 0,
        }
    }
}

impl CleanerSettings {
    /// These settings with the dynamic broker configs Kafka lets change at runtime applied
    /// (`log.cleaner.backoff.ms`, `log.cleaner.dedupe.buffer.size`,
    /// `log.cleaner.io.max.bytes.per.second`); values that do not parse are ignored.
    pub fn with_dynamic(mut self, dynamic: &DynamicBrokerConfigs) -> CleanerSettings {
        let get = |name: &str| dynamic.get(name).map(|(value, _)| value.trim().to_string());
        if let Some(ms) = get("log.cleaner.backoff.ms").and_then(|v| v.parse::<u64>().ok()) {
            self.backoff_ms = ms.max(1);
        }
        if let Some(bytes) = get("log.cleaner.dedupe.buffer.size").and_then(|v| v.parse::<usize>().ok()) {
            self.dedupe_buffer_size = bytes.max(1);
        }
        if let Some(rate) = get("log.cleaner.io.max.bytes.per.second").and_then(|v| v.parse::<f64>().ok()) {
            self.io_max_bytes_per_second = if rate >= u64::MAX as f64 { 0 } else { rate.max(1.0) as u64 };
        }
        self
    }
}

/// One partition's pass, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanedPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// What the pass did.
    pub stats: CleanStats,
    /// How long it took, in ms.
    pub took_ms: u64,
}

/// How far each partition is cleaned, and the file that keeps it.
#[derive(Debug)]
pub struct LogCleaner {
    dir: PathBuf,
    cleaned_to: Mutex<Offsets>,
}

impl LogCleaner {
    /// Loads the checkpoint in `dir` (none: nothing cleaned yet).
    pub fn open(dir: &Path) -> Result<LogCleaner, String> {
        Ok(LogCleaner { dir: dir.to_path_buf(), cleaned_to: Mutex::new(offset_checkpoint::read(dir, FILE_NAME)?) })
    }

    /// One round: a pass over every partition of every compacted topic, and over runnel's own
    /// logs (`internal`: the group and transaction logs), with enough dirty data. A failed
    /// pass is logged and the partition tried again next round.
    pub fn run_round(
        &self,
        topics: &TopicRegistry,
        internal: &[&Partition],
        settings: &CleanerSettings,
        now_ms: i64,
    ) -> Vec<CleanedPartition> {
        let pass = PassSettings {
            now_ms,
            max_map_bytes: settings.dedupe_buffer_size,
            max_bytes_per_second: settings.io_max_bytes_per_second,
        };
        let mut done = Vec::new();
        let all = topics.all();
        let partitions =
            all.iter().flat_map(|t| t.partitions.iter().map(|p| p.as_ref())).chain(internal.iter().copied());
        for partition in partitions {
            let key = (partition.topic().to_string(), partition.index());
            let first_dirty = self.cleaned_to.lock().unwrap_or_else(|p| p.into_inner()).get(&key).copied().unwrap_or(0);
            let started = std::time::Instant::now();
            match partition.clean(first_dirty, pass) {
                Ok(Some(stats)) => {
                    let took_ms = started.elapsed().as_millis() as u64;
                    done.push(CleanedPartition { topic: key.0.clone(), partition: key.1, stats, took_ms });
                    self.cleaned_to.lock().unwrap_or_else(|p| p.into_inner()).insert(key, stats.cleaned_to);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(topic = %key.0, partition = key.1, error = %e, "log cleaning failed"),
            }
        }
        if !done.is_empty() {
            let mut entries = self.cleaned_to.lock().unwrap_or_else(|p| p.into_inner());
            let internal_names: Vec<&str> = internal.iter().map(|p| p.topic()).collect();
            entries.retain(|(topic, index), _| {
                internal_names.contains(&topic.as_str())
                    || topics.get(topic).is_some_and(|t| t.partition(*index).is_some())
            });
            if let Err(e) = offset_checkpoint::write(&self.dir, FILE_NAME, &entries) {
                tracing::warn!(error = %e, "could not write the cleaner checkpoint; the next start cleans again");
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_dynamic_cleaner_settings_apply_over_the_static_ones() {
        let dynamic = DynamicBrokerConfigs {
            cluster_default: BTreeMap::from([("log.cleaner.backoff.ms".to_string(), "500".to_string())]),
            broker: BTreeMap::from([
                ("log.cleaner.io.max.bytes.per.second".to_string(), "1048576.0".to_string()),
                ("log.cleaner.dedupe.buffer.size".to_string(), "not a number".to_string()),
            ]),
        };
        let settings = CleanerSettings::default().with_dynamic(&dynamic);
        assert_eq!(
            settings,
            CleanerSettings { backoff_ms: 500, io_max_bytes_per_second: 1_048_576, ..CleanerSettings::default() }
        );
        let unlimited = DynamicBrokerConfigs {
            broker: BTreeMap::from([(
                "log.cleaner.io.max.bytes.per.second".to_string(),
                "1.7976931348623157E308".to_string(),
            )]),
            ..DynamicBrokerConfigs::default()
        };
        assert_eq!(CleanerSettings::default().with_dynamic(&unlimited).io_max_bytes_per_second, 0);
    }
}
