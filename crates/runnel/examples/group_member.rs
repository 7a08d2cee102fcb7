//! A consumer-group member on rdkafka that commits each record it reads: the smallest
//! complete "subscribe, poll, commit the bookmark" loop, and the child process the
//! consumer-group tests SIGKILL.
//!
//! Usage: `group_member BOOTSTRAP GROUP TOPIC`. Prints `assigned 0,1,2` after each rebalance,
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
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            println!("assigned {}", partitions(list));
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
    let [_, bootstrap, group, topic] = args.as_slice() else {
        eprintln!("usage: group_member BOOTSTRAP GROUP TOPIC");
        std::process::exit(2);
    };
    let consumer: BaseConsumer<PrintAssignments> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create_with_context(PrintAssignments)
        .unwrap_or_else(|e| panic!("consumer for {bootstrap}: {e}"));
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
