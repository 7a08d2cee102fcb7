//! A consumer-group member on rdkafka that commits each record it reads: the smallest
//! complete "subscribe, poll, commit the bookmark" loop, and the child process the
//! consumer-group tests SIGKILL.
//!
//! Usage: `group_member BOOTSTRAP GROUP TOPIC [classic|consumer]` (the group protocol: classic
//! by default, or KIP-848's). Prints `assigned 0,1,2`, its whole assignment, after each rebalance,
//! `read PARTITION OFFSET` for each record it reads, then `committed PARTITION NEXT` once the
//! commit of that record is acknowledged while the partition is still its own.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, TopicPartitionList};

/// Prints each new assignment.
struct PrintAssignments;

impl ClientContext for PrintAssignments {}

impl ConsumerContext for PrintAssignments {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // The whole assignment: with KIP-848 (and cooperative assignors) a rebalance adds or
        // takes away only some partitions.
        if matches!(rebalance, Rebalance::Assign(_) | Rebalance::Revoke(_))
            && let Ok(list) = consumer.assignment()
        {
            println!("assigned {}", partitions(&list));
        }
    }
}

fn partitions(list: &TopicPartitionList) -> String {
    let mut partitions: Vec<i32> = list.elements().iter().map(|e| e.partition()).collect();
    partitions.sort();
    partitions.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",")
}

fn still_assigned(consumer: &BaseConsumer<PrintAssignments>, partition: i32) -> bool {
    consumer.assignment().is_ok_and(|list| list.elements().iter().any(|e| e.partition() == partition))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bootstrap, group, topic, protocol) = match args.as_slice() {
        [_, b, g, t] => (b, g, t, "classic"),
        [_, b, g, t, p] if p == "classic" || p == "consumer" => (b, g, t, p.as_str()),
        _ => {
            eprintln!("usage: group_member BOOTSTRAP GROUP TOPIC [classic|consumer]");
            std::process::exit(2);
        }
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("group.protocol", protocol)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    if protocol == "classic" {
        // KIP-848 members take their timing from the broker.
        config.set("session.timeout.ms", "6000").set("heartbeat.interval.ms", "500");
    }
    let consumer: BaseConsumer<PrintAssignments> =
        config.create_with_context(PrintAssignments).unwrap_or_else(|e| panic!("consumer for {bootstrap}: {e}"));
    consumer.subscribe(&[topic]).unwrap_or_else(|e| panic!("subscribe to {topic}: {e}"));
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                println!("read {} {}", message.partition(), message.offset());
                match consumer.commit_message(&message, CommitMode::Sync) {
                    // Reported only while the partition is still this member's: a commit made
                    // after a rebalance moved it away may land after the new owner started.
                    Ok(()) if still_assigned(&consumer, message.partition()) => {
                        println!("committed {} {}", message.partition(), message.offset() + 1)
                    }
                    Ok(()) => {}
                    // A commit refused during a rebalance: the record will be read again.
                    Err(e) => eprintln!("commit: {e}"),
                }
            }
            Some(Err(e)) => eprintln!("poll: {e}"),
            None => {}
        }
    }
}
