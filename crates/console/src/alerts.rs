//! The alert rules of `monitoring/alerts.yml`, evaluated in-process over the history after each
//! sample, with Prometheus's life cycle: a condition that holds becomes a pending alert, fires
//! once it has held for the rule's `for`, and resolves when it no longer holds. Windows scale
//! with `console.alert.window.ms` (alerts.yml's 5 minutes by default).

use std::collections::{BTreeMap, VecDeque};

use crate::history::History;
use crate::sample::LagPoint;
use crate::settings::ConsoleSettings;

/// Label names and values, Prometheus-style; `alertname` and `severity` always among them.
pub type Labels = BTreeMap<String, String>;

/// One alert, pending, firing or resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its labels (identity).
    pub labels: Labels,
    /// One line saying what is wrong.
    pub summary: String,
    /// What it means and what to do.
    pub description: String,
    /// When the condition started to hold (ms since the epoch).
    pub active_since: i64,
    /// When it fired, once it has.
    pub fired_at: Option<i64>,
    /// When it resolved, once it has.
    pub resolved_at: Option<i64>,
}

impl Alert {
    /// The rule's name.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// "firing", "pending" or "resolved".
    pub fn status(&self) -> &'static str {
        match (self.fired_at, self.resolved_at) {
            (_, Some(_)) => "resolved",
            (Some(_), None) => "firing",
            (None, None) => "pending",
        }
    }
}

/// A change to report: an alert that fired, or one that resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition(pub Alert);

/// How many resolved alerts the console lists.
const RESOLVED_KEPT: usize = 50;

/// Alert state: what is active now, and what resolved lately.
#[derive(Debug, Default)]
pub struct Alerts {
    active: BTreeMap<Labels, Alert>,
    resolved: VecDeque<Alert>,
}

impl Alerts {
    /// Alerts pending or firing, firing first.
    pub fn active(&self) -> Vec<&Alert> {
        let mut active: Vec<&Alert> = self.active.values().collect();
        active.sort_by_key(|a| (a.fired_at.is_none(), a.active_since));
        active
    }

    /// Alerts resolved lately, newest first.
    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.resolved.iter().rev()
    }

    /// Evaluates every rule at the newest sample; returns the alerts that fired or resolved.
    pub fn evaluate(&mut self, history: &History, settings: &ConsoleSettings) -> Vec<Transition> {
        let Some(now) = history.latest().map(|s| s.t) else { return Vec::new() };
        let conditions = conditions(history, settings);
        let mut transitions = Vec::new();
        let holding: BTreeMap<Labels, Condition> = conditions.into_iter().map(|c| (c.labels.clone(), c)).collect();
        let gone: Vec<Labels> = self.active.keys().filter(|l| !holding.contains_key(*l)).cloned().collect();
        for labels in gone {
            let Some(mut alert) = self.active.remove(&labels) else { continue };
            if alert.fired_at.is_some() {
                alert.resolved_at = Some(now);
                transitions.push(Transition(alert.clone()));
                self.resolved.push_back(alert);
                if self.resolved.len() > RESOLVED_KEPT {
                    self.resolved.pop_front();
                }
            }
        }
        for (labels, condition) in holding {
            let alert = self.active.entry(labels.clone()).or_insert_with(|| Alert {
                labels,
                summary: String::new(),
                description: condition.description.to_string(),
                active_since: now,
                fired_at: None,
                resolved_at: None,
            });
            alert.summary = condition.summary;
            if alert.fired_at.is_none() && now - alert.active_since >= condition.for_ms {
                alert.fired_at = Some(now);
                transitions.push(Transition(alert.clone()));
            }
        }
        transitions
    }
}

/// A rule's condition holding for one set of labels at the newest sample.
#[derive(Debug)]
struct Condition {
    labels: Labels,
    summary: String,
    description: &'static str,
    for_ms: i64,
}

fn labels(alertname: &str, severity: &str, more: &[(&str, &str)]) -> Labels {
    let mut labels: Labels = more.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    labels.insert("alertname".into(), alertname.into());
    labels.insert("severity".into(), severity.into());
    labels
}

/// Every condition holding at the newest sample.
fn conditions(history: &History, settings: &ConsoleSettings) -> Vec<Condition> {
    let Some(now) = history.latest() else { return Vec::new() };
    let window = settings.alert_window.as_millis() as i64;
    // The sample a window ago: rates and deltas compare with it. None until history reaches
    // that far back, and when the cluster was down then.
    let before = history.at_or_before(now.t - window).filter(|s| s.up);
    let mut out = Vec::new();
    if !now.up {
        out.push(Condition {
            labels: labels("RunnelBrokerDown", "critical", &[]),
            summary: "the cluster cannot be reached".into(),
            description: "The console's last reads of the cluster failed: producers and consumers cannot reach it either.",
            for_ms: window / 5,
        });
        return out;
    }
    if let Some(broker) = &now.broker {
        if broker.disk_total > 0 && (broker.disk_free as f64) < 0.10 * broker.disk_total as f64 {
            out.push(Condition {
                labels: labels("RunnelDiskNearlyFull", "warning", &[]),
                summary: format!(
                    "the data directory's disk is {:.1}% free",
                    100.0 * broker.disk_free as f64 / broker.disk_total as f64
                ),
                description: "Below 10% free disk. When it is full, produces fail with KAFKA_STORAGE_ERROR: lower retention or add space.",
                for_ms: window,
            });
        }
        if broker.offline_partitions > 0 {
            out.push(Condition {
                labels: labels("RunnelLogOffline", "critical", &[]),
                summary: format!("{} partitions refuse writes", broker.offline_partitions),
                description: "An fsync failed; these partitions refuse writes until the broker restarts. Check the disk and the broker log.",
                for_ms: 0,
            });
        }
        if let Some(old) = before.and_then(|s| s.broker.as_ref()) {
            if broker.failed_produces > old.failed_produces {
                out.push(Condition {
                    labels: labels("RunnelProduceErrors", "warning", &[]),
                    summary: format!("{} produce partitions refused lately", broker.failed_produces - old.failed_produces),
                    description: "Produce partitions have been refused: unknown topics, oversized or corrupt batches, or a storage error.",
                    for_ms: window,
                });
            }
            let fsyncs = broker.fsyncs.saturating_sub(old.fsyncs);
            let slow = broker.slow_fsyncs.saturating_sub(old.slow_fsyncs);
            if fsyncs > 0 && slow as f64 > 0.01 * fsyncs as f64 {
                out.push(Condition {
                    labels: labels("RunnelSlowFsync", "warning", &[]),
                    summary: format!("{slow} of {fsyncs} fsyncs took over {} s", settings.slow_fsync_seconds),
                    description: "acks=all produces and offset commits wait for these fsyncs. The disk is slow or overloaded.",
                    for_ms: window,
                });
            }
        }
    }
    for lag in &now.lags {
        let old: Option<&LagPoint> = before.and_then(|s| s.lag(&lag.group, &lag.topic));
        group_conditions(&mut out, lag, old, settings, window);
    }
    out
}

fn group_conditions(
    out: &mut Vec<Condition>,
    lag: &LagPoint,
    old: Option<&LagPoint>,
    settings: &ConsoleSettings,
    window: i64,
) {
    let (group, topic) = (&*lag.group, &*lag.topic);
    let gt = [("consumergroup", group), ("topic", topic)];
    if lag.lag == 0 {
        return;
    }
    if let Some(old) = old {
        if lag.committed == old.committed {
            out.push(Condition {
                labels: labels("RunnelConsumerStalled", "critical", &gt),
                summary: format!("consumer group {group} is stalled on {topic}: {} records waiting", lag.lag),
                description: "Records are waiting and the committed offset has not moved (Burrow's STALLED).",
                for_ms: window,
            });
        }
        if lag.lag > old.lag {
            out.push(Condition {
                labels: labels("RunnelConsumerLagGrowing", "warning", &gt),
                summary: format!("consumer group {group} falls behind on {topic}: lag {} and growing", lag.lag),
                description: "Its lag keeps growing: consumers are slower than producers. Add consumers (and partitions) or make them faster.",
                for_ms: 2 * window,
            });
        }
    }
    if lag.time_lag > settings.time_lag_threshold_seconds {
        out.push(Condition {
            labels: labels("RunnelConsumerTimeLagHigh", "warning", &[("group", group), ("topic", topic)]),
            summary: format!("consumer group {group} is {:.0} s behind on {topic}", lag.time_lag),
            description: "The oldest record it has not committed is older than the time-lag threshold.",
            for_ms: window,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::sample::Sample;

    use super::*;

    /// A sample at `t` with these lags (sorted by group and topic).
    fn at(t: i64, lags: &[LagPoint]) -> Sample {
        Sample { t, up: true, lags: lags.to_vec(), ..Sample::default() }
    }

    fn settings() -> ConsoleSettings {
        ConsoleSettings { alert_window: Duration::from_secs(10), ..ConsoleSettings::default() }
    }

    fn lag(committed: i64, lag: i64) -> LagPoint {
        LagPoint { group: "g".into(), topic: "t".into(), committed, lag, time_lag: 0.0 }
    }

    #[test]
    fn a_stalled_group_goes_pending_then_fires_then_resolves_when_it_catches_up() {
        let settings = settings();
        let mut history = History::new(i64::MAX, u64::MAX);
        let mut alerts = Alerts::default();
        let mut step = |t: i64, point: LagPoint| {
            history.push(at(t, &[point]));
            alerts.evaluate(&history, &settings).into_iter().map(|Transition(a)| (t, a.status())).collect::<Vec<_>>()
        };
        assert!(step(0, lag(10, 5)).is_empty());
        assert!(step(5_000, lag(10, 5)).is_empty(), "not a window of history yet");
        assert!(step(10_000, lag(10, 5)).is_empty(), "pending: committed unchanged for a window");
        assert!(step(15_000, lag(10, 5)).is_empty());
        assert_eq!(step(20_000, lag(10, 5)), vec![(20_000, "firing")], "held for a window");
        assert_eq!(step(25_000, lag(15, 0)), vec![(25_000, "resolved")], "caught up");
        assert!(alerts.active().is_empty());
        assert_eq!(
            alerts.resolved().next().map(|a| a.labels["alertname"].clone()),
            Some("RunnelConsumerStalled".into())
        );
    }

    #[test]
    fn a_condition_that_stops_before_its_for_never_fires() {
        let settings = settings();
        let mut history = History::new(i64::MAX, u64::MAX);
        let mut alerts = Alerts::default();
        let mut transitions = Vec::new();
        for (t, point) in [(0, lag(10, 5)), (10_000, lag(10, 5)), (15_000, lag(12, 3)), (30_000, lag(12, 3))] {
            history.push(at(t, &[point]));
            transitions.extend(alerts.evaluate(&history, &settings));
        }
        assert!(transitions.is_empty(), "{transitions:?}");
        assert_eq!(alerts.active().len(), 1, "pending again since 30 s");
        assert_eq!(alerts.active()[0].status(), "pending");
    }

    #[test]
    fn a_cluster_that_cannot_be_read_fires_broker_down() {
        let settings = settings();
        let mut history = History::new(i64::MAX, u64::MAX);
        let mut alerts = Alerts::default();
        history.push(Sample::down(0));
        assert!(alerts.evaluate(&history, &settings).is_empty());
        history.push(Sample::down(2_000));
        let fired = alerts.evaluate(&history, &settings);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].0.name(), "RunnelBrokerDown");
    }
}
