//! Consumer groups (the classic protocol): the coordinator, its state machine, and the
//! durable group log.
//!
//! - [`coordinator`]: all groups, the log, replay at startup, offset commits.
//! - [`group`]: one group's state machine; [`member`]: one member and its waiting answers.
//! - [`records`]: `__consumer_offsets` records in Kafka's schemas; [`compaction`]: its rewrite at startup.
//! - [`lag`]: consumer lag from committed offsets and log end offsets.
//! - [`clock`]: the injected clock; [`settings`]: `group.*` and `offsets.*` properties.
//! - [`consumer_protocol`]: topics out of a consumer's subscription.

pub mod clock;
pub mod compaction;
pub mod consumer_protocol;
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
