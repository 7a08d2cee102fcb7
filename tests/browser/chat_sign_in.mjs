// The chat page with sign-in required: ann and bob, in two browser contexts, sign in with
// their Kafka passwords (a wrong one is refused on the page); ann sends a message and bob sees
// it; the name field is fixed to the signed-in user, and a post as ann with bob's session is
// refused with 403. Saves a screenshot of bob's page.
// Usage: node chat_sign_in.mjs CHAT_URL SCREENSHOT_PATH
import { launchChromium } from "./chromium.mjs";

const [url, screenshot] = process.argv.slice(2);
const browser = await launchChromium();
try {
  async function member(name, password) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForSelector("#sign-in:not([hidden])");
    await page.fill("#user", name);
    await page.fill("#password", "not-the-password");
    await page.click("#sign-in-button");
    await page.waitForSelector('#status:text-is("wrong user name or password")');
    await page.fill("#password", password);
    await page.click("#sign-in-button");
    await page.waitForSelector("#sign-out:not([hidden])");
    if (!(await page.$eval("#user", (el) => el.readOnly))) throw new Error(`${name}'s name field is not fixed`);
    await page.fill("#room-name", "signed");
    await page.click("#join");
    await page.waitForSelector("#text:not([disabled])");
    return page;
  }
  const ann = await member("ann", "ann-secret");
  const bob = await member("bob", "bob-secret");
  const text = `signed hello from ann ${Date.now()}`;
  await ann.fill("#text", text);
  await ann.click("#send");
  await bob.waitForSelector(`.message .text:text-is("${text}")`, { timeout: 15000 });
  const author = await bob.locator(".message", { hasText: text }).locator(".user").textContent();
  if (author !== "ann") throw new Error(`expected ann as the author, saw ${author}`);
  // Bob's session, posting as ann from his page.
  const forged = await bob.evaluate(async () => {
    const response = await fetch("/api/rooms/signed/messages", {
      method: "POST",
      headers: { "content-type": "application/json",
                 authorization: `Bearer ${sessionStorage.getItem("runnel-chat-token")}` },
      body: JSON.stringify({ user: "ann", text: "forged by bob" }),
    });
    return response.status;
  });
  if (forged !== 403) throw new Error(`posting as ann with bob's session answered ${forged}`);
  await bob.screenshot({ path: screenshot });
  console.log(`bob saw ann's message; forging as ann got ${forged}; screenshot at ${screenshot}`);
} finally {
  await browser.close();
}
