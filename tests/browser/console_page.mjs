// The runnel console in headless Chromium, one phase per call (the Python test drives the
// cluster between phases):
//   stalled  URL SHOT   topic and group pages show the lag, the lag chart has >= 2 points, and
//                       the stalled-consumer alert turns to firing on /alerts (live refresh)
//   resolved URL SHOT   the alert moves to "resolved lately" and the overview shows none firing
//   history  URL SHOT T the group's lag chart still has points from before T (ms), after a restart
// Prints one line per check; exits non-zero on the first failure.
// Usage: node console_page.mjs PHASE CONSOLE_URL SCREENSHOT_PATH [RESTART_MS]
import { readFileSync } from "node:fs";
import { launchChromium } from "./chromium.mjs";

const [phase, url, screenshot, restartMs] = process.argv.slice(2);
const browser = await launchChromium();

function check(condition, message) {
  if (!condition) throw new Error(message);
  console.log(`ok: ${message}`);
}

// The data of the chart with this id, as the page embeds it, and whether uPlot drew it.
async function chart(page, id) {
  await page.waitForSelector(`#${id} .uplot canvas`, { timeout: 15000 });
  const json = await page.locator(`#${id} script[type='application/json']`).textContent();
  return JSON.parse(json);
}

function pointsOf(data) {
  return data.series[0].values.filter((v) => v !== null).length;
}

try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const scriptErrors = [];
  page.on("pageerror", (e) => scriptErrors.push(String(e)));
  if (phase === "stalled") {
    // The built-in uPlot is npm's uplot, byte for byte.
    const served = await (await page.request.get(`${url}/assets/uPlot.iife.min.js`)).body();
    const npm = readFileSync(new URL("./node_modules/uplot/dist/uPlot.iife.min.js", import.meta.url));
    check(Buffer.compare(served, npm) === 0, "the console serves npm's uPlot 1.6.32 unchanged");

    await page.goto(`${url}/topics`);
    const row = page.locator("#topics tr", { hasText: "orders" });
    check((await row.count()) === 1, "/topics lists the topic orders");
    await row.locator("a").click();
    await page.waitForSelector("#partitions");
    check((await page.locator("#partitions tbody tr").count()) === 2, "the topic page shows its 2 partitions");
    check((await page.locator("#readers", { hasText: "billing" }).count()) === 1, "the topic page names the group reading it");

    await page.goto(`${url}/groups`);
    await page.locator("#groups a", { hasText: "billing" }).click();
    await page.waitForSelector("#offsets");
    const lags = (await page.locator("#offsets .lag").allTextContents()).map(Number);
    check(lags.reduce((a, b) => a + b, 0) === 30, `the group page shows a lag of 30 records (${lags})`);
    const member = await page.locator("#members tbody tr").first().textContent();
    check(member.includes("billing-worker") && member.includes("orders [0, 1]"),
      `the group page shows its member and assignment (${member})`);
    const lag = await chart(page, "chart-group-lag");
    check(pointsOf(lag) >= 2, `the lag chart has ${pointsOf(lag)} points (>= 2), drawn by uPlot`);

    await page.goto(`${url}/alerts`);
    // The page refreshes itself: no reload here.
    await page.waitForSelector("#active-alerts tr:has(.status.firing):has-text('RunnelConsumerStalled')", { timeout: 30000 });
    const firing = await page.locator("#active-alerts tr", { hasText: "RunnelConsumerStalled" }).textContent();
    check(firing.includes("consumergroup=billing"), "RunnelConsumerStalled fires for billing on /alerts");
    await page.goto(url);
    await page.waitForSelector("#alerts-summary li.firing:has-text('RunnelConsumerStalled')");
    check((await page.locator("header .firing-count").count()) === 1, "the header counts the firing alert");
    await page.screenshot({ path: screenshot, fullPage: true });
  } else if (phase === "resolved") {
    await page.goto(`${url}/alerts`);
    await page.waitForSelector("#resolved-alerts tr:has(.status.resolved):has-text('RunnelConsumerStalled')", { timeout: 30000 });
    check(true, "RunnelConsumerStalled is resolved on /alerts once the group caught up");
    check((await page.locator("#active-alerts tr", { hasText: "RunnelConsumerStalled" }).count()) === 0,
      "and no longer active");
    await page.goto(url);
    // Other rules may fire on the machine running this (a nearly full disk, slow fsyncs).
    check((await page.locator("#alerts-summary li.firing", { hasText: "RunnelConsumerStalled" }).count()) === 0,
      "the overview no longer shows RunnelConsumerStalled firing");
    const recordsIn = await chart(page, "chart-records-in");
    check(recordsIn.series[0].values.some((v) => v > 0), "the records-in chart shows the produce");
    await page.screenshot({ path: screenshot, fullPage: true });
  } else if (phase === "history") {
    await page.goto(`${url}/groups/billing?range=all`);
    const lag = await chart(page, "chart-group-lag");
    const before = lag.times.filter((t, i) => t * 1000 < Number(restartMs) && lag.series[0].values[i] !== null);
    check(before.length >= 2, `after the restart the lag chart still has ${before.length} points from before it`);
    check(lag.series[0].values.some((v) => v === 30), "including the stalled lag of 30");
    await page.screenshot({ path: screenshot, fullPage: true });
  } else {
    throw new Error(`unknown phase ${phase}`);
  }
  check(scriptErrors.length === 0, `no script errors on the pages ${scriptErrors.join("; ")}`);
} finally {
  await browser.close();
}
