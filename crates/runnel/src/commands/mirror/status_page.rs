//! The mirror's own status page, at `/` on its HTTP listener: whether it is copying, caught up
//! or stalled, per source partition what it copied and how far behind it is, the last
//! heartbeat's latency and the group offsets carried over. It refreshes itself every 5 s.

use runnel_console::pages::html::{bytes, esc, seconds, table};

use super::stats::MirrorStats;

/// The page, for the mirror from `source` to `target`.
pub fn render(stats: &MirrorStats, source: &str, target: &str) -> String {
    let partitions = stats.partitions_view();
    let waiting: i64 = partitions.iter().map(|p| p.waiting).sum();
    let state = if stats.stalled() {
        format!(
            "<p class=\"state stalled\">Stalled: {waiting} records wait on the source and none reached the target for {} or more.</p>",
            seconds(stats.stall_after().as_secs_f64())
        )
    } else if waiting > 0 {
        format!("<p class=\"state copying\">Copying: {waiting} records behind.</p>")
    } else {
        "<p class=\"state caught-up\">Caught up.</p>".to_string()
    };
    let (checkpoints, group_offsets, heartbeat) = stats.groups_and_heartbeat();
    let heartbeat = match heartbeat {
        Some(latency) => format!("{latency:.3} s from the source's log to the target's"),
        None => "none copied yet".to_string(),
    };
    let rows: Vec<Vec<String>> = partitions
        .iter()
        .map(|p| {
            vec![
                esc(&p.topic),
                p.partition.to_string(),
                p.copied.to_string(),
                bytes(p.bytes),
                p.waiting.to_string(),
                seconds(p.behind_seconds),
            ]
        })
        .collect();
    let partitions = table(
        "partitions",
        &["Topic", "Partition", "Copied", "Bytes", "Waiting", "Behind"],
        &rows,
        "No source partition read yet.",
    );
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>runnel mirror {source} → {target}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         .stalled{{color:#b00;font-weight:bold}}.caught-up{{color:#070}}</style></head><body>\
         <h1>runnel mirror {source} → {target}</h1>{state}\
         <p>Last heartbeat: {heartbeat}. Group offsets: {checkpoints} checkpoints written, {group_offsets} partition offsets committed on the target.</p>\
         {partitions}<p><a href=\"/metrics\">/metrics</a></p></body></html>",
        source = esc(source),
        target = esc(target),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_page_says_whether_the_mirror_is_stalled_and_escapes_names() {
        let stats = MirrorStats::new(Duration::ZERO);
        let topic: Arc<str> = "<orders>".into();
        stats.source_end(&topic, 0, 10, Some(0));
        stats.acknowledged_records(&topic, 0, 3, 0, 1, 100);
        let page = render(&stats, "us", "eu");
        assert!(page.contains("Stalled: 6 records wait"), "{page}");
        assert!(page.contains("&lt;orders&gt;") && !page.contains("<orders>"), "{page}");
        let calm = MirrorStats::new(Duration::from_secs(60));
        assert!(render(&calm, "us", "eu").contains("Caught up."));
    }
}
