//! `/alerts`: alerts firing and pending, those resolved lately, and the rules with their
//! thresholds and windows.

use std::fmt::Write;

use super::html::{esc, page, seconds, table};
use crate::Console;
use crate::alerts::Alert;
use crate::webhook::rfc3339;

fn labels(alert: &Alert) -> String {
    alert
        .labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
        .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(alert: &Alert) -> Vec<String> {
    let status = alert.status();
    vec![
        format!("<span class=\"status {status}\">{status}</span>"),
        format!("<b class=\"alertname\">{}</b>", esc(alert.name())),
        esc(alert.labels.get("severity").map_or("", String::as_str)),
        labels(alert),
        esc(&alert.summary),
        rfc3339(alert.fired_at.unwrap_or(alert.active_since)),
        alert.resolved_at.map_or_else(String::new, rfc3339),
    ]
}

/// Renders the alerts page.
pub fn render(console: &Console) -> String {
    let state = console.state();
    let headers = ["Status", "Alert", "Severity", "Labels", "Summary", "Since", "Resolved"];
    let active: Vec<Vec<String>> = state.alerts.active().into_iter().map(row).collect();
    let resolved: Vec<Vec<String>> = state.alerts.resolved().map(row).collect();
    drop(state);
    let settings = console.settings();
    let window = seconds(settings.alert_window.as_secs_f64());
    let mut body = table("active-alerts", &headers, &active, "No alert is firing or pending.");
    body.push_str("<h2>Resolved lately</h2>");
    body.push_str(&table("resolved-alerts", &headers, &resolved, "None resolved yet."));
    let _ = write!(
        body,
        "<h2>Rules</h2><p class=\"note\">The rules of monitoring/alerts.yml, evaluated after every sample with a \
         window of {window} (console.alert.window.ms). A condition must hold for the rule's duration before its \
         alert fires.{}</p>",
        settings.webhook.as_ref().map_or_else(
            || " No webhook is set (--alert-webhook).".to_string(),
            |w| format!(" Firing and resolved alerts are posted to {}.", esc(w))
        )
    );
    let rules = [
        ("RunnelBrokerDown", "the cluster cannot be read", "window / 5"),
        ("RunnelDiskNearlyFull", "under 10% of the data disk free", "window"),
        ("RunnelLogOffline", "a partition refuses writes after a failed fsync", "at once"),
        ("RunnelConsumerLagGrowing", "a group's lag on a topic is above what it was a window ago", "2 × window"),
        ("RunnelConsumerStalled", "lag above 0 and the committed offsets unchanged for a window", "window"),
        ("RunnelConsumerTimeLagHigh", "time lag over console.alert.time.lag.seconds", "window"),
        ("RunnelProduceErrors", "produce partitions refused within the window", "window"),
        ("RunnelSlowFsync", "over 1% of the window's fsyncs slower than console.alert.fsync.seconds", "window"),
    ];
    let rows: Vec<Vec<String>> =
        rules.iter().map(|(name, when, hold)| vec![format!("<b>{name}</b>"), esc(when), esc(hold)]).collect();
    body.push_str(&table("rules", &["Rule", "Condition", "Holds for"], &rows, ""));
    page(console, "Alerts", &body)
}
