//! Firing and resolved alerts posted to `--alert-webhook` in Alertmanager's webhook format
//! (version 4), so they reach the receivers Alertmanager users already run. Posts go out in
//! order from one task; a receiver that is down delays nothing else and gets a few retries.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::alerts::Alert;

/// Tries per notification before it is dropped (with an error in the log).
const ATTEMPTS: u32 = 3;

/// Notifications waiting to be posted at most; beyond it (a receiver down while alerts keep
/// changing) new ones are dropped with an error in the log rather than queued without bound.
const QUEUE: usize = 1_000;

/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// Alertmanager's webhook body for one alert that fired or resolved. `external_url` is the
/// console's address, where the alert is shown.
pub fn payload(alert: &Alert, external_url: &str) -> Value {
    let status = if alert.resolved_at.is_some() { "resolved" } else { "firing" };
    let labels = json!(alert.labels);
    let annotations = json!({ "summary": alert.summary, "description": alert.description });
    let alertname = alert.name().to_string();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "runnel",
        "groupLabels": { "alertname": alertname },
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": rfc3339(alert.fired_at.unwrap_or(alert.active_since)),
            "endsAt": alert.resolved_at.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), rfc3339),
            "generatorURL": format!("{}/alerts", external_url.trim_end_matches('/')),
            "fingerprint": fingerprint(&alert.labels),
        }],
    })
}

/// A stable id of a label set, as Alertmanager gives each alert (16 hex digits of FNV-1a).
fn fingerprint(labels: &crate::alerts::Labels) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for byte in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Milliseconds since the epoch as RFC 3339 UTC ("2026-11-27T06:55:10.123Z").
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Sends notifications to one webhook, in order, from a task of its own.
#[derive(Debug, Clone)]
pub struct Webhook {
    queue: mpsc::Sender<Value>,
}

impl Webhook {
    /// Starts the task posting to `url` (an `http://` URL).
    pub fn start(url: String) -> Webhook {
        let (queue, mut pending) = mpsc::channel::<Value>(QUEUE);
        tokio::spawn(async move {
            while let Some(body) = pending.recv().await {
                let body = Bytes::from(body.to_string());
                let mut attempt = 1;
                loop {
                    match tokio::time::timeout(POST_TIMEOUT, post(&url, body.clone())).await {
                        Ok(Ok(())) => break,
                        Ok(Err(e)) if attempt < ATTEMPTS => {
                            tracing::warn!(%url, attempt, error = %e, "alert webhook failed; retrying")
                        }
                        Err(_) if attempt < ATTEMPTS => {
                            tracing::warn!(%url, attempt, "alert webhook timed out; retrying")
                        }
                        Ok(Err(e)) => {
                            tracing::error!(%url, error = %e, "alert webhook failed; this notification is dropped");
                            break;
                        }
                        Err(_) => {
                            tracing::error!(%url, "alert webhook timed out; this notification is dropped");
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                    attempt += 1;
                }
            }
        });
        Webhook { queue }
    }

    /// Queues one notification; drops it if [`QUEUE`] are already waiting.
    pub fn send(&self, body: Value) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(body) {
            tracing::error!(waiting = QUEUE, "the alert webhook is not keeping up; a notification is dropped");
        }
    }
}

/// One POST of a JSON body; any 2xx answer is success.
async fn post(url: &str, body: Bytes) -> anyhow::Result<()> {
    let uri: hyper::Uri = url.parse()?;
    let host = uri.host().ok_or_else(|| anyhow::anyhow!("no host in {url}"))?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let authority = uri.authority().map_or_else(|| host.to_string(), |a| a.to_string());
    let request = Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, concat!("runnel/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    if status.is_success() { Ok(()) } else { Err(anyhow::anyhow!("the receiver answered {status}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_762_510_123), "2026-11-27T06:55:10.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn the_payload_has_alertmanagers_fields() {
        let mut labels = crate::alerts::Labels::new();
        labels.insert("alertname".into(), "RunnelConsumerStalled".into());
        labels.insert("consumergroup".into(), "g".into());
        let alert = Alert {
            labels,
            summary: "stalled".into(),
            description: "d".into(),
            active_since: 0,
            fired_at: Some(1_000),
            resolved_at: Some(2_000),
        };
        let body = payload(&alert, "http://127.0.0.1:9644");
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["alerts"][0]["labels"]["consumergroup"], "g");
        assert_eq!(body["alerts"][0]["startsAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(body["alerts"][0]["endsAt"], "1970-01-01T00:00:02.000Z");
        assert_eq!(body["alerts"][0]["fingerprint"].as_str().map(str::len), Some(16));
        assert_eq!(body["generatorURL"], serde_json::Value::Null, "generatorURL is per alert");
    }
}
