//! `/topics` and `/topics/{name}`: partitions, sizes, offsets and rates, and the groups that
//! read each topic.

use std::collections::BTreeMap;

use super::charts::{Series, chart, points, rate};
use super::html::{bytes, esc, page, path_segment, range_links, table};
use crate::Console;
use crate::history::History;

/// Records per second into `topic` between the two newest samples.
fn current_rate(history: &History, topic: &str) -> Option<f64> {
    let mut newest = history.samples().rev().filter(|s| s.up);
    let (b, a) = (newest.next()?, newest.next()?);
    let (x, y) = (a.topic(topic)?.end, b.topic(topic)?.end);
    (y >= x && b.t > a.t).then(|| (y - x) as f64 * 1000.0 / (b.t - a.t) as f64)
}

fn rate_cell(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_string(), |r| format!("{r:.1}/s"))
}

/// Renders the topic list.
pub fn render_list(console: &Console) -> String {
    let state = console.state();
    let mut per_topic: BTreeMap<&str, (usize, i64, Option<u64>)> = BTreeMap::new();
    if let Some((_, snapshot)) = &state.latest {
        for p in &snapshot.cluster.partitions {
            let entry = per_topic.entry(&p.topic).or_default();
            entry.0 += 1;
            entry.1 += p.end - p.oldest;
            if let Some(size) = p.size_bytes {
                *entry.2.get_or_insert(0) += size;
            }
        }
    }
    let rows: Vec<Vec<String>> = per_topic
        .iter()
        .map(|(topic, (partitions, records, size))| {
            vec![
                format!("<a href=\"/topics/{}\">{}</a>", path_segment(topic), esc(topic)),
                partitions.to_string(),
                records.to_string(),
                size.map_or_else(|| "–".to_string(), bytes),
                rate_cell(current_rate(&state.history, topic)),
            ]
        })
        .collect();
    drop(state);
    let body = table("topics", &["Topic", "Partitions", "Records", "Size", "Records in"], &rows, "No topics yet.");
    page(console, "Topics", &body)
}

/// Renders one topic; `None` if the newest snapshot has no such topic.
pub fn render_one(console: &Console, name: &str, (range, range_ms): (&str, Option<i64>)) -> Option<String> {
    let state = console.state();
    let (_, snapshot) = state.latest.as_ref()?;
    let partitions: Vec<_> = snapshot.cluster.partitions.iter().filter(|p| p.topic == name).collect();
    if partitions.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.to_string(),
                p.oldest.to_string(),
                p.end.to_string(),
                (p.end - p.oldest).to_string(),
                p.size_bytes.map_or_else(|| "–".to_string(), bytes),
            ]
        })
        .collect();
    let mut body = format!("<p>Records in now: <b>{}</b></p>", rate_cell(current_rate(&state.history, name)));
    body.push_str(&table("partitions", &["Partition", "Oldest offset", "End offset", "Records", "Size"], &rows, ""));
    let mut lag: BTreeMap<&str, i64> = BTreeMap::new();
    let ends: BTreeMap<i32, i64> = partitions.iter().map(|p| (p.partition, p.end)).collect();
    for o in snapshot.cluster.offsets.iter().filter(|o| o.topic == name) {
        if let Some(end) = ends.get(&o.partition) {
            *lag.entry(&o.group).or_default() += (end - o.committed).max(0);
        }
    }
    let readers: Vec<Vec<String>> = lag
        .iter()
        .map(|(group, lag)| {
            vec![format!("<a href=\"/groups/{}\">{}</a>", path_segment(group), esc(group)), lag.to_string()]
        })
        .collect();
    body.push_str("<h2>Groups reading it</h2>");
    body.push_str(&table("readers", &["Group", "Lag"], &readers, "No group has committed offsets on it."));
    body.push_str(&range_links(&format!("/topics/{}", path_segment(name)), range));
    let points = points(&state.history, range_ms);
    let values = rate(&points, |s| s.topic(name).map(|t| t.end));
    body.push_str(&chart(
        "chart-topic-rate",
        "Records in per second",
        "records/s",
        &points,
        vec![Series { label: name.to_string(), values }],
    ));
    drop(state);
    Some(page(console, &format!("Topic {name}"), &body))
}
