//! Chart data from history: the samples in a range (thinned to a few hundred points), rates
//! between consecutive points, and the HTML a chart is drawn from (its data as embedded JSON,
//! which `console.js` hands to uPlot).

use serde_json::json;

use crate::history::History;
use crate::sample::Sample;

/// The most points a chart draws; longer ranges are thinned evenly.
const MAX_POINTS: usize = 600;

/// The samples of the last `range_ms` (all with `None`), at most [`MAX_POINTS`], oldest first.
pub fn points(history: &History, range_ms: Option<i64>) -> Vec<&Sample> {
    let Some(latest) = history.latest() else { return Vec::new() };
    let since = range_ms.map_or(i64::MIN, |r| latest.t - r);
    let all: Vec<&Sample> = history.since(since).collect();
    let step = all.len().div_ceil(MAX_POINTS).max(1);
    let mut picked: Vec<&Sample> = all.iter().step_by(step).copied().collect();
    // The newest point is always drawn.
    if picked.last().map(|s| s.t) != Some(latest.t) {
        picked.push(latest);
    }
    picked
}

/// Per-second rate of a counter between consecutive points (none across a point the counter is
/// missing from, or where it went back, as after a topic was recreated).
pub fn rate(points: &[&Sample], counter: impl Fn(&Sample) -> Option<i64>) -> Vec<Option<f64>> {
    let mut out = vec![None];
    for pair in points.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let seconds = (b.t - a.t) as f64 / 1000.0;
        out.push(match (counter(a), counter(b)) {
            (Some(x), Some(y)) if y >= x && seconds > 0.0 => Some((y - x) as f64 / seconds),
            _ => None,
        });
    }
    out.truncate(points.len());
    out
}

/// A gauge at each point.
pub fn gauge(points: &[&Sample], value: impl Fn(&Sample) -> Option<f64>) -> Vec<Option<f64>> {
    points.iter().map(|s| value(s)).collect()
}

/// One line of a chart.
#[derive(Debug)]
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// A value (or a gap) per point.
    pub values: Vec<Option<f64>>,
}

/// Times (in seconds) and series with a gap inserted wherever two points are more than three
/// usual spacings apart (the broker or the console was down), so no line is drawn across it.
fn with_gaps(points: &[&Sample], mut series: Vec<Series>) -> (Vec<f64>, Vec<Series>) {
    let mut spacings: Vec<i64> = points.windows(2).map(|w| w[1].t - w[0].t).collect();
    spacings.sort_unstable();
    let usual = spacings.get(spacings.len() / 2).copied().unwrap_or(0);
    let mut times = Vec::with_capacity(points.len());
    let mut gaps = Vec::new();
    for (i, point) in points.iter().enumerate() {
        if i > 0 && usual > 0 && point.t - points[i - 1].t > 3 * usual {
            gaps.push(times.len());
            times.push((points[i - 1].t + usual) as f64 / 1000.0);
        }
        times.push(point.t as f64 / 1000.0);
    }
    for s in &mut series {
        for &at in &gaps {
            if at <= s.values.len() {
                s.values.insert(at, None);
            }
        }
    }
    (times, series)
}

/// A chart's HTML: a titled box whose data `console.js` draws with uPlot.
pub fn chart(id: &str, title: &str, unit: &str, points: &[&Sample], series: Vec<Series>) -> String {
    let (times, series) = with_gaps(points, series);
    let data = json!({
        "unit": unit,
        "times": times,
        "series": series.iter().map(|s| json!({ "label": s.label, "values": s.values })).collect::<Vec<_>>(),
    });
    // Safe inside <script>: no "</script>" can appear once '<' is escaped.
    let data = data.to_string().replace('<', "\\u003c");
    let drawn = points.len();
    format!(
        "<section class=\"chart\" id=\"{id}\" data-points=\"{drawn}\"><h2>{}</h2>\
         <script type=\"application/json\">{data}</script></section>",
        super::html::esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64, end: i64) -> Sample {
        let mut s = Sample { t, up: true, ..Sample::default() };
        s.topics.push(crate::sample::TopicPoint { topic: "t".into(), end, size: None });
        s
    }

    #[test]
    fn rates_are_per_second_between_points_with_gaps_where_unknown() {
        let samples = [sample(0, 0), sample(2_000, 100), sample(3_000, 50), sample(4_000, 60)];
        let points: Vec<&Sample> = samples.iter().collect();
        let rates = rate(&points, |s| s.topic("t").map(|t| t.end));
        assert_eq!(rates, vec![None, Some(50.0), None, Some(10.0)]);
    }

    #[test]
    fn a_long_pause_between_points_is_drawn_as_a_gap() {
        let samples: Vec<Sample> = [0, 1_000, 2_000, 10_000, 11_000].into_iter().map(|t| sample(t, t)).collect();
        let points: Vec<&Sample> = samples.iter().collect();
        let values = gauge(&points, |s| Some(s.t as f64));
        let (times, series) = with_gaps(&points, vec![Series { label: "x".into(), values }]);
        assert_eq!(times, vec![0.0, 1.0, 2.0, 3.0, 10.0, 11.0]);
        assert_eq!(series[0].values[3], None);
        assert_eq!(series[0].values[4], Some(10_000.0));
    }

    #[test]
    fn long_ranges_are_thinned_and_keep_the_newest_point() {
        let mut history = History::new(i64::MAX, u64::MAX);
        for t in 0..2_000 {
            history.push(sample(t * 1_000, t));
        }
        let all = points(&history, None);
        assert!(all.len() <= MAX_POINTS + 1, "{}", all.len());
        assert_eq!(all.last().map(|s| s.t), Some(1_999_000));
        let recent = points(&history, Some(10_000));
        assert_eq!(recent.len(), 11);
        let html = chart("c", "T", "records/s", &recent, vec![Series { label: "</script>".into(), values: vec![] }]);
        assert_eq!(html.matches("</script>").count(), 1, "only the real end tag: {html}");
    }
}
