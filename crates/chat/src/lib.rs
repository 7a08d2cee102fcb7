//! The group chat of the user's notes, on Kafka: a room is a topic with one partition (one
//! order), a message is a record (key: room, value: text, headers: author and client message
//! id), a member's read position is the committed offset of that member's consumer group, and
//! clients poll in batches with a long-polling read.
//!
//! - [`rules`]: names and limits; [`store`]: rooms on a Kafka cluster through rdkafka;
//! - [`api`]: the JSON API over HTTP; [`error`]: 4xx answers with a JSON message;
//! - [`auth`]: signing in, so that a user speaks only for themself.

pub mod api;
pub mod auth;
pub mod error;
pub mod rules;
pub mod store;
pub mod tail;
