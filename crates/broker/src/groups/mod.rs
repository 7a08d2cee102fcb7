//! Consumer groups, classic and KIP-848: the coordinator, their state machines, and the
//! durable group log.
//!
//! - [`coordinator`]: all groups, the log, replay at startup, offset commits.
//! - [`group`]: one group's state machine; [`member`]: one member and its waiting answers.
//! - [`records`]: `__consumer_offsets` records in Kafka's schemas; [`compaction`]: its rewrite at startup.
//! - [`lag`]: consumer lag from committed offsets and log end offsets.
//! - [`clock`]: the injected clock; [`settings`]: `group.*` and `offsets.*` properties.
//! - [`consumer_protocol`]: topics out of a consumer's subscription.
//! - [`consumer_group`]: a KIP-848 consumer group; [`assignor`]: its server-side assignors;
//!   [`consumer_records`]: its group log records.

pub mod assignor;
pub mod clock;
pub mod compaction;
pub mod consumer_group;
pub mod consumer_protocol;
pub mod consumer_records;
pub mod coordinator;
pub mod group;
pub mod lag;
pub mod member;
pub mod records;
pub mod settings;

pub use coordinator::GroupCoordinator;
pub use settings::GroupSettings;

/// The internal topic name of the group log, as in Kafka. Not listed in Metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
