// The runnel console's script: draws each chart's embedded data with uPlot, and refreshes the
// page's content every sample interval (fetching the same URL) without a reload.
(function () {
  "use strict";
  const palette = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563", "#65a30d", "#9333ea"];

  // The uPlot instances drawn, destroyed before the content they live in is replaced.
  let charts = [];

  // One-line local times: seconds shown for spans under an hour, the date for spans over a day.
  function timeLabels(u, splits) {
    const span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
    const options = span > 86400 ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
      : span >= 3600 ? { hour: "2-digit", minute: "2-digit" }
      : { hour: "2-digit", minute: "2-digit", second: "2-digit" };
    return splits.map((t) => new Date(t * 1000).toLocaleString([], options));
  }

  function drawCharts(root) {
    for (const section of root.querySelectorAll("section.chart")) {
      const script = section.querySelector("script[type='application/json']");
      if (!script || section.querySelector(".uplot")) continue;
      const data = JSON.parse(script.textContent);
      const width = Math.max(320, section.clientWidth - 16);
      const series = [{}].concat(data.series.map((s, i) => ({
        label: s.label,
        stroke: palette[i % palette.length],
        width: 2,
        spanGaps: false,
        points: { show: data.times.length < 60 },
        value: (u, v) => v == null ? "–" : v.toFixed(v < 10 ? 2 : 0) + " " + data.unit,
      })));
      const values = [data.times].concat(data.series.map((s) => s.values));
      const opts = {
        width, height: 220, series,
        axes: [{ values: timeLabels, space: 70 }, { label: data.unit, size: 70 }],
        scales: { x: { time: true } },
      };
      charts.push(new uPlot(opts, values, section));
    }
  }

  async function refresh() {
    try {
      const response = await fetch(location.href, { headers: { "Accept": "text/html" } });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("content");
      const header = doc.querySelector("header");
      if (!fresh) return;
      for (const chart of charts) chart.destroy();
      charts = [];
      document.getElementById("content").replaceWith(fresh);
      if (header) document.querySelector("header").replaceWith(header);
      drawCharts(document);
    } catch (e) {
      // The console is unreachable for a moment: try again at the next interval.
    }
  }

  drawCharts(document);
  const every = Number(document.body.dataset.refreshMs || 0);
  if (every > 0) setInterval(refresh, every);
})();
