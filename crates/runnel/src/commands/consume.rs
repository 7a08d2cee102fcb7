//! `runnel consume TOPIC`: prints one line per record. With `-g GROUP` it reads as a member of
//! the group and commits exactly what it printed (the bookmark), when it stops and every
//! second while it runs.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::client::{ClientArgs, TIMEOUT};
use super::output::Output;

/// Options of `runnel consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Read as a member of this consumer group and commit what is printed.
    #[arg(short, long)]
    group: Option<String>,
    /// Start at the earliest offset (for a group: where it has no commit yet).
    #[arg(long, conflicts_with_all = ["offset", "timestamp"])]
    from_beginning: bool,
    /// Start at this offset (without a group).
    #[arg(long, conflicts_with_all = ["timestamp", "group"])]
    offset: Option<i64>,
    /// Start at the first record at or after this time, in ms since the epoch (without a group).
    #[arg(long, conflicts_with = "group")]
    timestamp: Option<i64>,
    /// Only this partition (without a group).
    #[arg(long, conflicts_with = "group")]
    partition: Option<i32>,
    /// Stop after this many records.
    #[arg(short = 'n', long)]
    count: Option<u64>,
    /// Stop at the end of the log instead of waiting for more.
    #[arg(short = 'e', long)]
    exit_at_end: bool,
    /// Line format: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp,
    /// %h headers (k=v,...), \t tab.
    #[arg(long, default_value = "%v")]
    format: String,
    /// Which records of transactions to read: read_committed shows only committed ones and
    /// stops at the last stable offset; read_uncommitted (Kafka's tools' default) shows all.
    #[arg(long, value_enum, default_value_t = Isolation::ReadUncommitted)]
    isolation: Isolation,
}

/// Kafka's isolation levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Isolation {
    /// Every record, of open and aborted transactions too.
    ReadUncommitted,
    /// Only records outside transactions or of committed ones.
    ReadCommitted,
}

impl Isolation {
    /// The `isolation.level` value.
    fn config_value(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read_uncommitted",
            Isolation::ReadCommitted => "read_committed",
        }
    }
}

#[derive(Debug, Serialize)]
struct RecordLine<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, String)>,
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

fn headers(message: &BorrowedMessage<'_>) -> Vec<(String, String)> {
    message
        .headers()
        .map(|h| h.iter().map(|h| (h.key.to_string(), text(h.value).unwrap_or_default())).collect())
        .unwrap_or_default()
}

fn format_line(format: &str, message: &BorrowedMessage<'_>) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().copied()) {
            ('%', Some(f)) if "tpokvTh%".contains(f) => {
                chars.next();
                match f {
                    't' => out.push_str(message.topic()),
                    'p' => out.push_str(&message.partition().to_string()),
                    'o' => out.push_str(&message.offset().to_string()),
                    'k' => out.push_str(&text(message.key()).unwrap_or_default()),
                    'v' => out.push_str(&text(message.payload()).unwrap_or_default()),
                    'T' => out.push_str(&message.timestamp().to_millis().unwrap_or(-1).to_string()),
                    'h' => out.push_str(
                        &headers(message).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    ),
                    _ => out.push('%'),
                }
            }
            ('\\', Some('t')) => {
                chars.next();
                out.push('\t');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Runs `runnel consume`.
pub fn run(args: ConsumeArgs, client: &ClientArgs) -> anyhow::Result<()> {
    let mut config = client.config();
    config
        .set("group.id", args.group.as_deref().unwrap_or("runnel-cli"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", args.isolation.config_value())
        .set("auto.offset.reset", if args.from_beginning { "earliest" } else { "latest" });
    let consumer: BaseConsumer =
        config.create().with_context(|| format!("create a consumer for {}", client.brokers))?;
    let metadata = client.metadata(&consumer, Some(&args.topic))?;
    let topic = metadata.topics().first().filter(|t| t.error().is_none() && !t.partitions().is_empty());
    let Some(topic) = topic else {
        bail!("topic {} does not exist; see `runnel topic list`", args.topic);
    };
    let partitions: Vec<i32> = match args.partition {
        Some(p) if topic.partitions().iter().any(|q| q.id() == p) => vec![p],
        Some(p) => bail!("topic {} has no partition {p}", args.topic),
        None => topic.partitions().iter().map(|p| p.id()).collect(),
    };
    let mut ends = HashMap::new();
    for p in &partitions {
        ends.insert(*p, consumer.fetch_watermarks(&args.topic, *p, TIMEOUT).map_err(|e| client.unreachable(e))?.1);
    }
    if args.group.is_some() {
        consumer.subscribe(&[&args.topic]).context("subscribe")?;
    } else {
        let mut list = TopicPartitionList::new();
        for p in &partitions {
            let start = match (args.offset, args.from_beginning) {
                (Some(o), _) => Offset::Offset(o),
                (None, true) => Offset::Beginning,
                (None, false) => Offset::End,
            };
            list.add_partition_offset(&args.topic, *p, start)?;
        }
        if let Some(ts) = args.timestamp {
            let mut times = TopicPartitionList::new();
            for p in &partitions {
                times.add_partition_offset(&args.topic, *p, Offset::Offset(ts))?;
            }
            list = consumer.offsets_for_times(times, TIMEOUT).map_err(|e| client.unreachable(e))?;
        }
        consumer.assign(&list).context("assign partitions")?;
    }

    let stop = super::stop_signal::stop_on_signal();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    // Next offset per partition, of what was printed and not yet committed.
    let mut to_commit: HashMap<i32, i64> = HashMap::new();
    let mut positions: HashMap<i32, i64> = HashMap::new();
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::SeqCst) && args.count.is_none_or(|n| printed < n) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                match client.output {
                    Output::Json => {
                        let line = RecordLine {
                            topic: message.topic(),
                            partition: message.partition(),
                            offset: message.offset(),
                            timestamp: message.timestamp().to_millis(),
                            key: text(message.key()),
                            value: text(message.payload()),
                            headers: headers(&message),
                        };
                        serde_json::to_writer(&mut out, &line)?;
                        writeln!(out)?;
                    }
                    Output::Table => writeln!(out, "{}", format_line(&args.format, &message))?,
                }
                printed += 1;
                to_commit.insert(message.partition(), message.offset() + 1);
                positions.insert(message.partition(), message.offset() + 1);
            }
            Some(Err(e)) => bail!("consume {}: {e}", args.topic),
            None => {}
        }
        if args.exit_at_end && at_end(&consumer, &ends, &positions, args.group.is_some()) {
            break;
        }
        if args.group.is_some() && last_commit.elapsed() > Duration::from_secs(1) && !to_commit.is_empty() {
            out.flush()?;
            commit(&consumer, &args.topic, &mut to_commit)?;
            last_commit = Instant::now();
        }
    }
    out.flush()?;
    if args.group.is_some() {
        commit(&consumer, &args.topic, &mut to_commit)?;
    }
    Ok(())
}

/// Whether every partition this consumer reads has been read to the end it had at the start.
fn at_end(consumer: &BaseConsumer, ends: &HashMap<i32, i64>, positions: &HashMap<i32, i64>, grouped: bool) -> bool {
    let assigned: Vec<i32> = match consumer.assignment() {
        Ok(list) => list.elements().iter().map(|e| e.partition()).collect(),
        Err(_) => return false,
    };
    if grouped && assigned.is_empty() {
        return false;
    }
    // The consumer's own positions count too: they move past records never printed
    // (transaction markers, aborted records under read_committed).
    let fetched: HashMap<i32, i64> = consumer
        .position()
        .map(|list| {
            list.elements()
                .iter()
                .filter_map(|e| Some((e.partition(), e.offset().to_raw().filter(|o| *o >= 0)?)))
                .collect()
        })
        .unwrap_or_default();
    assigned.iter().all(|p| {
        let end = ends.get(p).copied().unwrap_or(0);
        let position = positions.get(p).copied().max(fetched.get(p).copied());
        end == 0 || position.is_some_and(|pos| pos >= end)
    })
}

/// Commits the printed offsets (synchronously: the bookmark is stored when this returns).
fn commit(consumer: &BaseConsumer, topic: &str, to_commit: &mut HashMap<i32, i64>) -> anyhow::Result<()> {
    if to_commit.is_empty() {
        return Ok(());
    }
    let mut list = TopicPartitionList::new();
    for (p, next) in to_commit.iter() {
        list.add_partition_offset(topic, *p, Offset::Offset(*next))?;
    }
    consumer.commit(&list, CommitMode::Sync).context("commit the printed offsets")?;
    to_commit.clear();
    Ok(())
}
