//! runnel-streams: stream processing on Kafka topics, on rdkafka, against runnel or any Kafka
//! cluster.
//!
//! Build a topology with [`StreamsBuilder`], test it with [`TestDriver`], run it with
//! [`KafkaStreams`](runtime::KafkaStreams). The guide is docs/streams.md.
//!
//! Modules: `serdes` (bytes to types), `record` (records in and out), `builder` (sources and
//! the built topology), `stream` (stateless operators), `grouped` (aggregations), `table`
//! (tables and their changes), `windows` (window kinds and windowed keys), `time_windowed`,
//! `sliding_windowed` and `session_windowed` (windowed aggregations), `table_joins` and
//! `stream_joins` (joins), `processor` (custom processors and punctuators), `store` and
//! `disk_store` (state stores), `context` (what processors reach), `graph` (the processor graph), `task` (a
//! sub-topology on one partition), `driver` (the test driver), `runtime` (running against
//! Kafka), `error`.

mod builder;
mod context;
mod disk_store;
mod driver;
mod error;
mod graph;
mod grouped;
mod processor;
mod record;
pub mod runtime;
pub mod serdes;
mod session_windowed;
mod sliding_windowed;
mod store;
mod stream;
mod stream_joins;
mod table;
mod table_joins;
mod task;
mod time_windowed;
mod windows;

pub use builder::{StreamsBuilder, Topology};
pub use context::TaskContext;
pub use disk_store::DiskStore;
pub use driver::{DRIVER_APPLICATION_ID, TestDriver};
pub use error::StreamsError;
pub use graph::Data;
pub use grouped::KGroupedStream;
pub use processor::{CustomProcessor, ProcessorContext, PunctuationType};
pub use record::{Header, OutRecord, RawRecord, Record};
pub use session_windowed::SessionWindowedStream;
pub use sliding_windowed::{SlidingWindowedStream, SlidingWindows};
pub use store::{KeyValueStore, MemoryStore};
pub use stream::{KStream, Predicate};
pub use stream_joins::{JoinWindows, StreamJoined};
pub use table::{Change, KTable};
pub use task::TaskId;
pub use time_windowed::TimeWindowedStream;
pub use windows::{Emit, SessionWindows, TimeWindows, Window, Windowed, WindowedSerde};
