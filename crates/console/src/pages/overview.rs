//! `/`: the cluster at a glance: counts, alerts firing, and charts of records in and lag over
//! the chosen range.

use std::fmt::Write;

use super::charts::{Series, chart, gauge, points, rate};
use super::html::{bytes, esc, page, range_links};
use crate::Console;

/// Renders the overview.
pub fn render(console: &Console, (range, range_ms): (&str, Option<i64>)) -> String {
    let state = console.state();
    let mut body = String::new();
    if let Some((_, snapshot)) = &state.latest {
        let topics: std::collections::BTreeSet<&str> =
            snapshot.cluster.partitions.iter().map(|p| p.topic.as_str()).collect();
        let _ = write!(
            body,
            "<ul class=\"figures\"><li><a href=\"/topics\"><b id=\"topic-count\">{}</b> topics</a></li>\
             <li><b>{}</b> partitions</li><li><a href=\"/groups\"><b id=\"group-count\">{}</b> groups</a></li>",
            topics.len(),
            snapshot.cluster.partitions.len(),
            snapshot.groups.len()
        );
        if let Some(broker) = &snapshot.broker {
            let _ = write!(
                body,
                "<li><b>{}</b> free of {}</li><li><b>{}</b> records in since start</li>",
                bytes(broker.disk_free),
                bytes(broker.disk_total),
                broker.messages_in
            );
        }
        body.push_str("</ul>");
    }
    let firing: Vec<String> = state
        .alerts
        .active()
        .iter()
        .filter(|a| a.fired_at.is_some())
        .map(|a| format!("<li class=\"firing\"><b>{}</b> {}</li>", esc(a.name()), esc(&a.summary)))
        .collect();
    if firing.is_empty() {
        body.push_str("<p class=\"ok\" id=\"alerts-summary\">No alert is firing.</p>");
    } else {
        let _ = write!(body, "<ul class=\"alerts\" id=\"alerts-summary\">{}</ul>", firing.join(""));
    }
    body.push_str(&super::mirrors::section(&state.history));
    body.push_str(&range_links("/", range));
    let points = points(&state.history, range_ms);
    let records_in = rate(&points, |s| s.up.then(|| s.topics.iter().map(|t| t.end).sum()));
    body.push_str(&chart(
        "chart-records-in",
        "Records in per second, all topics",
        "records/s",
        &points,
        vec![Series { label: "records in".into(), values: records_in }],
    ));
    let lag = gauge(&points, |s| s.up.then(|| s.lags.iter().map(|l| l.lag as f64).sum()));
    body.push_str(&chart(
        "chart-lag",
        "Consumer lag, all groups",
        "records",
        &points,
        vec![Series { label: "lag".into(), values: lag }],
    ));
    let _ = write!(
        body,
        "<p class=\"note\">{} samples of history ({}), one every {} s; the last took \
         <span id=\"sample-ms\">{:.1}</span> ms.</p>",
        state.history.len(),
        bytes(state.history.bytes()),
        console.settings().sample_interval.as_secs_f64(),
        state.last_sample_took.as_secs_f64() * 1000.0
    );
    drop(state);
    page(console, "Overview", &body)
}
