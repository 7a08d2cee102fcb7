// Two browser contexts on the chat page: ann joins a room and sends a message; bob, in the
// other context, sees it appear. Saves a screenshot of bob's page.
// Usage: node chat_page.mjs CHAT_URL SCREENSHOT_PATH
import { launchChromium } from "./chromium.mjs";

const [url, screenshot] = process.argv.slice(2);
const browser = await launchChromium();
try {
  async function member(name) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.fill("#user", name);
    await page.dispatchEvent("#user", "change");
    await page.fill("#room-name", "browsers");
    await page.click("#join");
    await page.waitForSelector("#text:not([disabled])");
    return page;
  }
  const ann = await member("ann");
  const bob = await member("bob");
  const text = `hello from ann ${Date.now()}`;
  await ann.fill("#text", text);
  await ann.click("#send");
  // Bob's page polls and shows it, without a reload.
  await bob.waitForSelector(`.message .text:text-is("${text}")`, { timeout: 15000 });
  const author = await bob.locator(".message", { hasText: text }).locator(".user").textContent();
  if (author !== "ann") throw new Error(`expected ann as the author, saw ${author}`);
  // Ann sees her own message too.
  await ann.waitForSelector(`.message .text:text-is("${text}")`, { timeout: 15000 });
  await bob.screenshot({ path: screenshot });
  console.log(`bob saw ann's message; screenshot at ${screenshot}`);
} finally {
  await browser.close();
}
