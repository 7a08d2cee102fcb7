//! One module per subcommand, and what the client commands share.

pub mod acl;
pub mod bench;
pub mod chat;
pub mod client;
pub mod client_tls;
pub mod cluster;
pub mod consume;
pub mod group;
pub mod http_security;
pub mod logging;
pub mod metrics_http;
pub mod mirror;
pub mod monitor;
pub mod output;
pub mod plan;
pub mod produce;
pub mod serve;
pub mod stop_signal;
pub mod storage;
pub mod topic;
pub mod transaction;
pub mod user;
pub mod wire;
