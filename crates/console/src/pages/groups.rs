//! `/groups` and `/groups/{id}`: state, members and their assignment, and each partition's
//! committed offset, lag and time lag, with charts of lag over time.

use std::collections::BTreeMap;

use super::charts::{Series, chart, gauge, points};
use super::html::{esc, page, path_segment, range_links, seconds, table};
use crate::Console;
use crate::source::GroupInfo;

/// Most topics a group's charts draw a line for.
const MAX_LINES: usize = 10;

/// Renders the group list.
pub fn render_list(console: &Console) -> String {
    let state = console.state();
    let mut rows = Vec::new();
    if let Some((_, snapshot)) = &state.latest {
        let newest = state.history.latest();
        for group in &snapshot.groups {
            let lags = newest.map_or(&[][..], |s| s.lags_of(&group.id));
            let lag: i64 = lags.iter().map(|l| l.lag).sum();
            let time_lag = lags.iter().map(|l| l.time_lag).fold(0.0, f64::max);
            rows.push(vec![
                format!("<a href=\"/groups/{}\">{}</a>", path_segment(&group.id), esc(&group.id)),
                esc(&group.state),
                group.members.len().to_string(),
                lag.to_string(),
                seconds(time_lag),
            ]);
        }
    }
    drop(state);
    let body = table("groups", &["Group", "State", "Members", "Lag", "Time lag"], &rows, "No consumer groups yet.");
    page(console, "Groups", &body)
}

fn members_table(group: &GroupInfo) -> String {
    let rows: Vec<Vec<String>> = group
        .members
        .iter()
        .map(|m| {
            let assignment: Vec<String> = m
                .assignment
                .iter()
                .map(|(topic, partitions)| {
                    let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
                    format!("{} [{}]", esc(topic), list.join(", "))
                })
                .collect();
            vec![esc(&m.client_id), esc(&m.host), esc(&m.member_id), assignment.join("; ")]
        })
        .collect();
    table("members", &["Client id", "Host", "Member id", "Assignment"], &rows, "No members: the group is empty.")
}

/// Renders one group; `None` if the newest snapshot has no such group.
pub fn render_one(console: &Console, id: &str, (range, range_ms): (&str, Option<i64>)) -> Option<String> {
    let state = console.state();
    let (_, snapshot) = state.latest.as_ref()?;
    let group = snapshot.groups.iter().find(|g| g.id == id)?;
    let mut body = format!("<p>State: <b id=\"group-state\">{}</b></p><h2>Members</h2>", esc(&group.state));
    body.push_str(&members_table(group));
    let ends: BTreeMap<(&str, i32), i64> =
        snapshot.cluster.partitions.iter().map(|p| ((p.topic.as_str(), p.partition), p.end)).collect();
    let rows: Vec<Vec<String>> = snapshot
        .cluster
        .offsets
        .iter()
        .filter(|o| o.group == id)
        .filter_map(|o| {
            let end = *ends.get(&(o.topic.as_str(), o.partition))?;
            let lag = (end - o.committed).max(0);
            Some(vec![
                format!("<a href=\"/topics/{}\">{}</a>", path_segment(&o.topic), esc(&o.topic)),
                o.partition.to_string(),
                o.committed.to_string(),
                end.to_string(),
                format!("<span class=\"lag\">{lag}</span>"),
                seconds(if lag == 0 { 0.0 } else { o.time_lag_seconds }),
            ])
        })
        .collect();
    body.push_str("<h2>Offsets</h2>");
    body.push_str(&table(
        "offsets",
        &["Topic", "Partition", "Committed", "End", "Lag", "Time lag"],
        &rows,
        "No committed offsets.",
    ));
    body.push_str(&range_links(&format!("/groups/{}", path_segment(id)), range));
    let points = points(&state.history, range_ms);
    let topics: Vec<&str> = points
        .iter()
        .rev()
        .map(|s| s.lags_of(id))
        .find(|lags| !lags.is_empty())
        .map(|lags| lags.iter().take(MAX_LINES).map(|l| &*l.topic).collect())
        .unwrap_or_default();
    let series = |value: fn(&crate::sample::LagPoint) -> f64| -> Vec<Series> {
        topics
            .iter()
            .map(|topic| Series { label: topic.to_string(), values: gauge(&points, |s| s.lag(id, topic).map(value)) })
            .collect()
    };
    body.push_str(&chart("chart-group-lag", "Lag (records)", "records", &points, series(|l| l.lag as f64)));
    body.push_str(&chart("chart-group-time-lag", "Time lag (seconds)", "s", &points, series(|l| l.time_lag)));
    drop(state);
    Some(page(console, &format!("Group {id}"), &body))
}
