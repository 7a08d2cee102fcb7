//! One module per subcommand, and what the client commands share.

pub mod bench;
pub mod client;
pub mod cluster;
pub mod output;
pub mod plan;
pub mod serve;
pub mod storage;
pub mod topic;
