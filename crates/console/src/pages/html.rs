//! The page frame (navigation, refresh, assets) and HTML helpers shared by every page.

use std::fmt::Write;

use crate::Console;

/// `text` with HTML's special characters escaped.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment percent-encoded, for links to topics and groups with any name.
pub fn path_segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A whole page: `body` inside the console's frame.
pub fn page(console: &Console, title: &str, body: &str) -> String {
    let refresh_ms = console.settings().sample_interval.as_millis().clamp(1_000, 60_000);
    let state = console.state();
    let status = match (&state.last_error, state.latest.as_ref()) {
        (Some(e), _) => format!("<span class=\"down\">cluster unreachable: {}</span>", esc(e)),
        (None, Some((t, _))) => format!("sampled <time data-ms=\"{t}\">{}</time>", crate::webhook::rfc3339(*t)),
        (None, None) => "waiting for the first sample".to_string(),
    };
    let firing = state.alerts.active().iter().filter(|a| a.fired_at.is_some()).count();
    drop(state);
    let alerts_link = if firing > 0 {
        format!("<a href=\"/alerts\" class=\"firing-count\">Alerts ({firing} firing)</a>")
    } else {
        "<a href=\"/alerts\">Alerts</a>".to_string()
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · runnel console</title>\
         <link rel=\"stylesheet\" href=\"/assets/uPlot.min.css\"><link rel=\"stylesheet\" href=\"/assets/console.css\">\
         </head><body data-refresh-ms=\"{refresh_ms}\">\
         <header><a href=\"/\" class=\"brand\">runnel console</a>\
         <nav><a href=\"/topics\">Topics</a><a href=\"/groups\">Groups</a>{alerts_link}<a href=\"/metrics\">/metrics</a></nav>\
         <span class=\"source\">{source} · {status}</span></header>\
         <main id=\"content\"><h1>{title}</h1>{body}</main>\
         <script src=\"/assets/uPlot.iife.min.js\"></script><script src=\"/assets/console.js\"></script>\
         </body></html>",
        title = esc(title),
        source = esc(&console.describe()),
    )
}

/// A page without the console's state (for errors).
pub fn page_with_body(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · runnel console</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\"></head><body>\
         <header><a href=\"/\" class=\"brand\">runnel console</a></header><main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    )
}

/// A table with these column headers and rows (cells already HTML); `empty` when no rows.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\" id=\"{id}\">{}</p>", esc(empty));
    }
    let mut out = format!("<table id=\"{id}\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A byte count for people (1.5 MiB).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A duration in seconds for people (0 s, 42 s, 3 min 5 s, 2 h 1 min).
pub fn seconds(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// The links choosing a chart range, the current one marked.
pub fn range_links(base: &str, current: &str) -> String {
    let mut out = String::from("<p class=\"ranges\">Range:");
    for range in ["15m", "1h", "6h", "24h", "all"] {
        if range == current {
            let _ = write!(out, " <strong>{range}</strong>");
        } else {
            let _ = write!(out, " <a href=\"{base}?range={range}\">{range}</a>");
        }
    }
    out.push_str("</p>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_html_and_encoded_in_paths() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(path_segment("orders.v1"), "orders.v1");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(seconds(185.0), "3 min 5 s");
    }
}
