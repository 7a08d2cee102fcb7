//! The console's settings: `console.*` properties (in server.properties for `runnel serve`) and
//! the `--alert-webhook` flag. Defaults keep 24 hours of history sampled every 15 s, and evaluate
//! the alert rules with the windows of `monitoring/alerts.yml`.

use std::collections::BTreeMap;
use std::time::Duration;

/// How the console samples, keeps history and alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleSettings {
    /// `console.sample.interval.ms`: time between two samples of the cluster.
    pub sample_interval: Duration,
    /// `console.history.retention.ms`: how far back history goes (on disk and in memory).
    pub retention: Duration,
    /// `console.history.max.bytes`: the most history kept, in memory and on disk each; the
    /// oldest samples go first.
    pub max_bytes: u64,
    /// `console.alert.window.ms`: the range of the rules' rate and delta windows, and how long a
    /// condition must hold before its alert fires (alerts.yml's 5 minutes).
    pub alert_window: Duration,
    /// `console.alert.time.lag.seconds`: the time lag above which a group is too far behind.
    pub time_lag_threshold_seconds: f64,
    /// `console.alert.fsync.seconds`: fsyncs slower than this count as slow (p99 over it alerts).
    pub slow_fsync_seconds: f64,
    /// `console.alert.webhook`, or `--alert-webhook`: where firing and resolved alerts are
    /// posted, as Alertmanager's webhook JSON.
    pub webhook: Option<String>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            sample_interval: Duration::from_secs(15),
            retention: Duration::from_secs(24 * 3600),
            max_bytes: 64 * 1024 * 1024,
            alert_window: Duration::from_secs(300),
            time_lag_threshold_seconds: 300.0,
            slow_fsync_seconds: 0.5,
            webhook: None,
        }
    }
}

impl ConsoleSettings {
    /// Reads the `console.*` properties over the defaults; an unknown name or a bad value is an
    /// error naming the property.
    pub fn from_properties(properties: &BTreeMap<String, String>) -> Result<ConsoleSettings, String> {
        let mut settings = ConsoleSettings::default();
        for (name, value) in properties {
            let millis = || -> Result<Duration, String> {
                match value.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                    _ => Err(format!("config {name}={value}: expected milliseconds above 0")),
                }
            };
            let positive = || -> Result<f64, String> {
                match value.trim().parse::<f64>() {
                    Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
                    _ => Err(format!("config {name}={value}: expected a number above 0")),
                }
            };
            match name.as_str() {
                "console.sample.interval.ms" => settings.sample_interval = millis()?,
                "console.history.retention.ms" => settings.retention = millis()?,
                "console.history.max.bytes" => settings.max_bytes = positive()? as u64,
                "console.alert.window.ms" => settings.alert_window = millis()?,
                "console.alert.time.lag.seconds" => settings.time_lag_threshold_seconds = positive()?,
                "console.alert.fsync.seconds" => settings.slow_fsync_seconds = positive()?,
                "console.alert.webhook" => settings.webhook = Some(check_webhook(value)?),
                other => return Err(format!("config {other}: not a console setting (see docs/monitoring.md)")),
            }
        }
        Ok(settings)
    }
}

/// Checks that a webhook is an `http://` URL (the receivers Alertmanager users run are).
pub fn check_webhook(url: &str) -> Result<String, String> {
    let url = url.trim();
    match url.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() => Ok(url.to_string()),
        _ => Err(format!("alert webhook {url}: expected an http:// URL, such as http://127.0.0.1:9093/webhook")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_keep_a_day_and_use_the_alert_files_windows() {
        let settings = ConsoleSettings::from_properties(&BTreeMap::new()).expect("defaults");
        assert_eq!(settings.retention, Duration::from_secs(86_400));
        assert_eq!(settings.alert_window, Duration::from_secs(300));
        assert_eq!(settings.webhook, None);
    }

    #[test]
    fn properties_set_the_settings_and_bad_ones_name_themselves() {
        let settings = ConsoleSettings::from_properties(&props(&[
            ("console.sample.interval.ms", "500"),
            ("console.alert.window.ms", "2000"),
            ("console.alert.webhook", "http://127.0.0.1:1/hook"),
        ]))
        .expect("valid");
        assert_eq!(settings.sample_interval, Duration::from_millis(500));
        assert_eq!(settings.alert_window, Duration::from_secs(2));
        assert_eq!(settings.webhook.as_deref(), Some("http://127.0.0.1:1/hook"));
        let bad = ConsoleSettings::from_properties(&props(&[("console.sample.interval.ms", "0")]));
        assert!(bad.expect_err("zero").contains("console.sample.interval.ms=0"));
        let unknown = ConsoleSettings::from_properties(&props(&[("console.colour", "blue")]));
        assert!(unknown.expect_err("unknown").contains("console.colour"));
        assert!(check_webhook("https://example.com").is_err());
    }
}
