//! Analytics over runnel's group chat (rooms are topics `chat.ROOM`, a message's key is its
//! room, its value the text, its `user` header the author):
//!
//! - messages per room per minute, written once per minute when the minute closes
//!   (`chat-analytics.messages-per-minute`, key `ROOM@MINUTE_START_MS`, value the count);
//! - each user's sessions in each room (a session ends after `--session-gap-s` of silence),
//!   written when they end (`chat-analytics.sessions`, key the room, value JSON);
//! - messages joined with a table of user profiles (topic `chat-analytics.profiles`, key the
//!   user, value JSON `{"name": ..., "country": ...}`), keyed by user
//!   (`chat-analytics.enriched`, value JSON).
//!
//! ```sh
//! cargo run --release -p runnel-streams --example chat_analytics -- \
//!     --brokers 127.0.0.1:9092 --application-id chat-analytics --rooms general,random
//! ```

mod common;

use std::time::Duration;

use clap::Parser;
use runnel_streams::runtime::{KafkaStreams, QueryServer};
use runnel_streams::serdes::{I64, Json, Utf8};
use runnel_streams::{Emit, Record, SessionWindows, StreamsBuilder, TimeWindows, Topology};
use serde::{Deserialize, Serialize};

/// Chat analytics.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    app: common::AppArgs,
    /// Rooms to follow, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    rooms: Vec<String>,
    /// Silence that ends a user's session, seconds.
    #[arg(long, default_value_t = 300)]
    session_gap_s: u64,
    /// How late a message may arrive and still count, seconds.
    #[arg(long, default_value_t = 10)]
    grace_s: u64,
    /// Serve interactive queries and `/metrics` on this address.
    #[arg(long)]
    query_listen: Option<String>,
}

/// A message with its author, as the enrichment and session steps see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Message {
    room: String,
    user: String,
    text: String,
}

/// A user's profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    name: String,
    country: String,
}

/// A message with its author's profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Enriched {
    room: String,
    user: String,
    text: String,
    name: String,
    country: String,
}

/// A user's session in a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    user: String,
    start_ms: i64,
    end_ms: i64,
    messages: i64,
}

fn author(record: &Record<String, String>) -> String {
    record
        .headers
        .iter()
        .find(|(name, _)| name == "user")
        .and_then(|(_, v)| v.as_deref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| "anonymous".to_string())
}

fn topology(cli: &Cli) -> Topology {
    let builder = StreamsBuilder::new();
    let mut rooms = cli.rooms.iter().map(|room| builder.stream(&format!("chat.{room}"), Utf8, Utf8));
    let first = rooms.next().expect("at least one room");
    let messages = rooms.fold(first, |all, room| all.merge(&room));
    let grace = Duration::from_secs(cli.grace_s);

    // Messages per room per minute, once per minute.
    messages
        .group_by_key(Utf8, Utf8)
        .windowed_by(TimeWindows::tumbling(Duration::from_secs(60), grace))
        .emit(Emit::OnWindowClose)
        .count("messages-per-minute")
        .to_stream()
        .map(|w, n| (format!("{}@{}", w.key, w.window.start), n))
        .to("chat-analytics.messages-per-minute", Utf8, I64);

    // Each user's sessions per room, when they end.
    let gap = Duration::from_secs(cli.session_gap_s);
    messages
        .map_record(|r| {
            let key = format!("{}/{}", r.key, author(&r));
            Record { key, value: r.value, timestamp: r.timestamp, headers: r.headers }
        })
        .group_by_key(Utf8, Utf8)
        .session_windowed_by(SessionWindows::with_gap(gap, grace))
        .emit(Emit::OnWindowClose)
        .count("user-sessions")
        .to_stream()
        .map(|w, n| {
            let (room, user) = w.key.split_once('/').map(|(r, u)| (r.to_string(), u.to_string())).unwrap_or_default();
            (room, Session { user, start_ms: w.window.start, end_ms: w.window.end, messages: n })
        })
        .to("chat-analytics.sessions", Utf8, Json::<Session>::new());

    // Messages with their author's profile, keyed by user.
    let profiles = builder.table("chat-analytics.profiles", Utf8, Json::<Profile>::new(), "profiles");
    messages
        .map_record(|r| {
            let user = author(&r);
            let message = Message { room: r.key, user: user.clone(), text: r.value };
            Record { key: user, value: message, timestamp: r.timestamp, headers: r.headers }
        })
        .repartition("messages-by-user", Utf8, Json::<Message>::new())
        .left_join_table(&profiles, |m, p| Enriched {
            room: m.room.clone(),
            user: m.user.clone(),
            text: m.text.clone(),
            name: p.map_or_else(|| m.user.clone(), |p| p.name.clone()),
            country: p.map_or_else(String::new, |p| p.country.clone()),
        })
        .to("chat-analytics.enriched", Utf8, Json::<Enriched>::new());
    builder.build().expect("the chat analytics topology is valid")
}

fn main() -> anyhow::Result<()> {
    common::init_logging();
    let cli = Cli::parse();
    let stop = common::stop_on_signal();
    let streams = KafkaStreams::new(&topology(&cli), cli.app.config())?;
    if let Some(addr) = &cli.query_listen {
        QueryServer::new(streams.store_reader()).store("profiles", Utf8, Json::<Profile>::new()).start(addr)?;
    }
    let stats = streams.run(&stop)?;
    eprintln!("processed {} records in {} commits", stats.processed, stats.commits);
    Ok(())
}
