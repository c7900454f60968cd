// Drives the management dashboard in Debian's headless Chromium (playwright-core, no downloaded browser):
// log in, read the tables, deactivate a proxy with its button, optionally take a screenshot.
// Usage: node dashboard.mjs BASE_URL USER PASSWORD PROXY [SCREENSHOT.png]; prints one JSON line of findings.
import { chromium } from "playwright-core";

const [base, user, password, proxy, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const findings = { consoleErrors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (message) => { if (message.type() === "error") findings.consoleErrors.push(message.text()); });
  page.on("pageerror", (error) => findings.consoleErrors.push(String(error)));
  await page.goto(base + "/dashboard");

  await page.fill("input[name=user]", user);
  await page.fill("input[name=password]", "wrong password");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent !== "");
  findings.wrongPassword = await page.textContent("#login-error");
  findings.consoleErrors = []; // the browser logs the refused login's 401; count only what follows

  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  const row = page.locator(`#artifacts tbody tr[data-name="${proxy}"]`);
  await row.locator("td.state-active").waitFor();
  findings.before = (await row.locator("td").nth(3).textContent()).trim();
  // a second poll gives rates: wait until the req/s cell holds a number
  await page.waitForFunction((name) => {
    const cells = document.querySelectorAll(`#artifacts tbody tr[data-name="${name}"] td`);
    return cells.length > 6 && /^[0-9.]+$/.test(cells[6].textContent);
  }, proxy, { timeout: 30000 });
  findings.requests = Number(await row.locator("td").nth(4).textContent());
  findings.rate = Number(await row.locator("td").nth(6).textContent());
  findings.failed = (await page.locator("#failed tbody tr").allTextContents()).map((text) => text.trim());
  findings.summary = await page.textContent("#summary");

  await row.getByRole("button", { name: "Deactivate" }).click();
  await row.locator("td.state-inactive").waitFor();
  findings.after = (await row.locator("td").nth(3).textContent()).trim();
  findings.button = (await row.getByRole("button").textContent()).trim();
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(findings));
