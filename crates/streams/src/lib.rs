//! runnel-streams: stream processing on Kafka topics, on rdkafka, against runnel or any Kafka
//! cluster.
//!
//! Build a topology with [`StreamsBuilder`], test it with [`TestDriver`], run it with
//! [`run`](runtime::run).
//!
//! Modules: `serdes` (bytes to types), `record` (records in and out), `builder` (sources and the
//! built topology), `stream` (stateless operators), `grouped` (aggregations), `table` (tables
//! and their changes), `store` (state stores), `context` (what processors reach), `graph`
//! (the processor graph), `task` (a sub-topology on one partition), `driver` (the test
//! driver), `runtime` (running against Kafka), `error`.

mod builder;
mod context;
mod driver;
mod error;
mod graph;
mod grouped;
mod record;
pub mod runtime;
pub mod serdes;
mod store;
mod stream;
mod table;
mod task;

pub use builder::{StreamsBuilder, Topology};
pub use context::TaskContext;
pub use driver::{DRIVER_APPLICATION_ID, TestDriver};
pub use error::StreamsError;
pub use graph::Data;
pub use grouped::KGroupedStream;
pub use record::{Header, OutRecord, RawRecord, Record};
pub use store::{KeyValueStore, MemoryStore};
pub use stream::{KStream, Predicate};
pub use table::{Change, KTable};
pub use task::TaskId;
