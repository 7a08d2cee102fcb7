//! runnel's partition log: Kafka's on-disk format, crash-safe, no networking.
//!
//! - [`batch`]: the v2 record batch header, validation (CRC-32C) and offset patching.
//! - [`segment`]: one `.log` segment with its indexes; append, fetch slices, timestamp search.
//! - [`offset_index`], [`time_index`]: the sparse `.index` and `.timeindex` formats.
//! - [`partition_log`]: a partition's segments, append, read, roll, retention, durability.
//! - [`recovery`]: opening a log after any kind of shutdown.
//! - [`producer_state`]: idempotent producer sequences, open transactions, and their snapshots.
//! - [`control`]: transaction markers (control batches).
//! - [`txn_index`]: the aborted-transaction index (`.txnindex`).
//! - [`durable_file`]: temp -> fsync -> rename -> fsync(dir) file rewrites.
//! - [`open_files`]: segment files opened on use, within a bound on open descriptors.
//! - [`config`], [`error`]: settings and errors.
//! - [`testing`]: real record batches for tests and benchmarks.

pub mod batch;
pub mod cleaner;
pub mod config;
pub mod control;
pub mod durable_file;
pub mod error;
pub mod offset_index;
pub mod open_files;
pub mod partition_log;
pub mod producer_state;
pub mod recovery;
pub mod segment;
pub mod testing;
pub mod time_index;
pub mod txn_index;

pub use config::LogConfig;
pub use error::LogError;
pub use partition_log::{AppendResult, PartitionLog, Prepared, PreparedWrite, RecoveryCheckpoint};
pub use recovery::RecoveryReport;
pub use segment::FileSlice;
