//! runnel's Kafka-protocol broker: one node, Kafka's wire protocol, runnel's partition log.
//!
//! - [`server`]: the accept loop and clean shutdown; [`connection`]: one client, responses in order.
//! - [`frame`]: size prefixes and request headers; [`api`]: the API table and the router.
//! - [`fetch_response`]: the Fetch response, encoded without copying record bytes.
//! - [`groups`]: consumer groups: the coordinator and its durable log.
//! - [`handlers`]: one module per Kafka API.
//! - [`broker`]: shared state; [`topics`]: the topic registry; [`partition`]: group commit.
//! - [`metrics`]: Prometheus metrics, counted on the request path and read at scrape time.
//! - [`limits`]: partitions per request and per broker; [`partition_dirs`]: partition
//!   directories, and removing the ones no topic owns.
//! - [`topic_config`]: topic configs; [`config`]: `server.properties`; [`meta_properties`]: cluster id.
//! - [`listener_config`]: Kafka's listener settings; [`listener`]: a listener being served;
//!   [`transport`]: plain TCP and TLS streams; [`security`]: SASL, TLS and credentials.
//! - [`producer_ids`]: InitProducerId's allocator; [`error_codes`]: internal errors to Kafka codes.

pub mod api;
pub mod authorized_operations;
pub mod boot_id;
pub mod broker;
pub mod config;
pub mod config_report;
pub mod connection;
pub mod connection_limits;
pub mod dynamic_broker_config;
pub mod error_codes;
pub mod fetch_response;
pub mod fetch_sessions;
pub mod frame;
pub mod groups;
pub mod handlers;
pub mod internal_log;
pub mod limits;
pub mod listener;
pub mod listener_config;
pub mod log_cleaner;
pub mod meta_properties;
pub mod metrics;
pub mod offset_checkpoint;
pub mod partition;
pub mod partition_dirs;
pub mod producer_ids;
pub mod recompress;
pub mod schema_fields;
pub mod security;
pub mod server;
pub mod topic_config;
pub mod topics;
pub mod transactions;
pub mod transport;

pub use broker::{Broker, BrokerError};
pub use config::BrokerConfig;
