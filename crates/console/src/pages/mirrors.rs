//! The overview's mirrors section: a cluster that receives a mirror (runnel mirror or
//! MirrorMaker 2) holds `<alias>.heartbeats`, to which heartbeats arrive every second while
//! the mirror runs. From the history of that topic's end offset the console tells which
//! mirrors copy into this cluster, how many topics each copied, when its last heartbeat
//! arrived, and whether it still runs.

use std::fmt::Write;

use super::html::{esc, seconds, table};
use crate::history::History;
use crate::sample::Sample;

/// The section, or nothing when no mirror copies into this cluster.
pub fn section(history: &History) -> String {
    let Some(latest) = history.latest() else { return String::new() };
    let samples: Vec<&Sample> = history.since(i64::MIN).filter(|s| s.up).collect();
    let mut rows = Vec::new();
    for point in latest.topics.iter().filter(|t| t.topic.ends_with(".heartbeats")) {
        let alias = &point.topic[..point.topic.len() - ".heartbeats".len()];
        let prefix = format!("{alias}.");
        let copies = latest
            .topics
            .iter()
            .filter(|t| t.topic.starts_with(&prefix) && !t.topic.ends_with(".internal") && t.topic != point.topic)
            .count();
        // The newest sample in which the heartbeats topic had grown since the one before.
        let end_at = |s: &Sample| s.topics.iter().find(|t| t.topic == point.topic).map(|t| t.end);
        let arrived = samples
            .windows(2)
            .rev()
            .find(|pair| matches!((end_at(pair[0]), end_at(pair[1])), (Some(a), Some(b)) if b > a))
            .map(|pair| pair[1].t);
        let running = arrived.is_some_and(|t| t == latest.t);
        let (last, state) = match arrived {
            Some(t) => (
                format!("{} ago", seconds((latest.t - t) as f64 / 1000.0)),
                if running { "<span class=\"ok\">running</span>" } else { "<span class=\"down\">no heartbeat</span>" },
            ),
            None if samples.len() < 2 => ("—".to_string(), "waiting for a second sample"),
            None => ("none since the console started".to_string(), "<span class=\"down\">no heartbeat</span>"),
        };
        rows.push(vec![esc(alias), copies.to_string(), last, state.to_string()]);
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section id=\"mirrors\"><h2>Mirrors into this cluster</h2>");
    out.push_str(&table("mirror-table", &["From", "Topics copied", "Last heartbeat", "State"], &rows, ""));
    let _ = write!(
        out,
        "<p class=\"note\">From the <code>&lt;alias&gt;.heartbeats</code> topics mirrors write to; the \
         mirror's own page (<code>runnel mirror</code>'s <code>/</code>) has lag per partition.</p></section>"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::TopicPoint;

    fn sample(t: i64, heartbeats: i64) -> Sample {
        let topics = [("orders", 10), ("us.checkpoints.internal", 1), ("us.heartbeats", heartbeats), ("us.orders", 10)];
        Sample {
            t,
            up: true,
            topics: topics.iter().map(|(n, end)| TopicPoint { topic: (*n).into(), end: *end, size: None }).collect(),
            ..Sample::default()
        }
    }

    #[test]
    fn a_mirror_is_running_while_its_heartbeats_arrive() {
        let mut history = History::new(i64::MAX, u64::MAX);
        history.push(sample(0, 1));
        history.push(sample(5_000, 6));
        let html = section(&history);
        assert!(html.contains("<td>us</td><td>1</td><td>0 s ago</td>"), "{html}");
        assert!(html.contains("running"), "{html}");
        history.push(sample(10_000, 6));
        history.push(sample(15_000, 6));
        let html = section(&history);
        assert!(html.contains("10 s ago") && html.contains("no heartbeat"), "{html}");
        assert!(section(&History::new(i64::MAX, u64::MAX)).is_empty());
    }
}
