//! A windowed stream-stream join: orders (topic `orders`, key the order id, value JSON
//! `{"customer": ..., "amount_cents": ...}`) meet their payments (topic `payments`, key the
//! order id, value the payment reference as text) within `--window-s`. Paid orders go to
//! `paid-orders`; with `--report-unpaid`, orders that found no payment in time go there too
//! with `"payment": null`, once no payment can come any more (a left join).
//!
//! ```sh
//! cargo run --release -p runnel-streams --example order_payments -- \
//!     --brokers 127.0.0.1:9092 --application-id payments --window-s 300 --report-unpaid
//! ```

mod common;

use std::time::Duration;

use clap::Parser;
use runnel_streams::runtime::KafkaStreams;
use runnel_streams::serdes::{Json, Utf8};
use runnel_streams::{JoinWindows, StreamJoined, StreamsBuilder, Topology};
use serde::{Deserialize, Serialize};

/// Joins orders with payments.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    app: common::AppArgs,
    /// How far apart an order and its payment may be, seconds (either way).
    #[arg(long, default_value_t = 300)]
    window_s: u64,
    /// How late a record may arrive and still join, seconds.
    #[arg(long, default_value_t = 10)]
    grace_s: u64,
    /// Also write orders that found no payment in time.
    #[arg(long)]
    report_unpaid: bool,
}

/// An order as it arrives.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    customer: String,
    amount_cents: i64,
}

/// An order with its payment, if it found one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PaidOrder {
    customer: String,
    amount_cents: i64,
    payment: Option<String>,
}

fn topology(cli: &Cli) -> Topology {
    let builder = StreamsBuilder::new();
    let orders = builder.stream("orders", Utf8, Json::<Order>::new());
    let payments = builder.stream("payments", Utf8, Utf8);
    let windows = JoinWindows::of(Duration::from_secs(cli.window_s), Duration::from_secs(cli.grace_s));
    let serdes = StreamJoined::with(Utf8, Json::<Order>::new(), Utf8);
    let joined = |o: &Order, p: Option<&String>| PaidOrder {
        customer: o.customer.clone(),
        amount_cents: o.amount_cents,
        payment: p.cloned(),
    };
    let paid = if cli.report_unpaid {
        orders.left_join(&payments, joined, windows, "order-payments", serdes)
    } else {
        orders.join(&payments, move |o, p| joined(o, Some(p)), windows, "order-payments", serdes)
    };
    paid.to("paid-orders", Utf8, Json::<PaidOrder>::new());
    builder.build().expect("the order-payments topology is valid")
}

fn main() -> anyhow::Result<()> {
    common::init_logging();
    let cli = Cli::parse();
    let stop = common::stop_on_signal();
    let stats = KafkaStreams::new(&topology(&cli), cli.app.config())?.run(&stop)?;
    eprintln!("processed {} records in {} commits", stats.processed, stats.commits);
    Ok(())
}
