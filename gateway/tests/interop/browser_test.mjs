// Real-browser test of the embeds: headless Chromium (Debian's package) opens a host page on
// one origin (http://localhost:HOSTPORT) that embeds the gateway's month view (plain iframe)
// and list view (through embed.js) served on another (http://127.0.0.1:GWPORT). It asserts the
// titles are visible, hostile titles show as text and run nothing, embed.js resized its
// iframe, and nothing logged a console error (CSP violations included). Every request that
// is not to those two local origins is aborted. Screenshots go to OUT_DIR.
// Usage: node browser_test.mjs EXPECTED.json OUT_DIR
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const outDir = process.argv[3];
mkdirSync(outDir, { recursive: true });
const base = expected.base;
const q = "tz=Europe/Berlin";

const hostHtml = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Free software group</title>
<style>body{font-family:sans-serif;max-width:900px;margin:1rem auto;padding:0 1rem;background:#f4f1ea}
iframe{width:100%;border:0;background:#fff}</style></head><body>
<h1>Our group's website</h1>
<h2>December</h2>
<iframe id="month" title="Calendar" style="height:620px" src="${base}/embed?view=month&month=2026-12&${q}"></iframe>
<h2>Upcoming</h2>
<div id="list" data-discal="${base}/embed?view=list&from=2026-12-01&to=2026-12-31&${q}" data-height="150"></div>
<script src="${base}/embed.js" async></script>
</body></html>`;

const host = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(hostHtml);
});
await new Promise((r) => host.listen(0, "localhost", r));
const hostUrl = `http://localhost:${host.address().port}/`;

const failures = [];
const check = (cond, msg) => { if (!cond) failures.push(msg); };
const allowed = new Set([new URL(hostUrl).origin, new URL(base).origin]);

const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "discal-chromium-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1000, height: 900 },
});
const errors = [];
const dialogs = [];
await ctx.route("**/*", (route) => {
  const o = new URL(route.request().url()).origin;
  if (allowed.has(o)) return route.continue();
  errors.push(`blocked request to ${route.request().url()}`);
  return route.abort();
});
const watch = (page) => {
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
};

try {
  const page = await ctx.newPage();
  watch(page);
  await page.goto(hostUrl, { waitUntil: "networkidle" });
  const month = page.frameLocator("#month");
  for (const t of ["FSFE Hamburg: Free Software Evening", "Linux User Group Berlin", "Hackathon weekend"]) {
    await month.getByText(t).first().waitFor({ state: "visible", timeout: 15000 })
      .catch(() => failures.push(`month view: ${t} not visible`));
  }
  check(await month.locator("del").count() >= 1, "month view: cancelled event not struck through");
  const list = page.frameLocator("#list iframe");
  for (const t of ["FSFE Hamburg: Free Software Evening", "Install party (local time)"]) {
    await list.getByText(t).first().waitFor({ state: "visible", timeout: 15000 })
      .catch(() => failures.push(`list view: ${t} not visible`));
  }
  await list.getByText("<img src=x onerror=alert(1)>", { exact: false }).first()
    .waitFor({ state: "visible", timeout: 15000 })
    .catch(() => failures.push("list view: hostile title is not shown as text"));
  check(await list.locator("img").count() === 0, "list view: an <img> element exists");
  // embed.js sized the iframe to its content (it started at 150 px).
  await page.waitForFunction(() => document.querySelector("#list iframe").offsetHeight > 300, null, { timeout: 10000 })
    .catch(() => failures.push("embed.js did not resize the iframe"));
  await page.screenshot({ path: join(outDir, "embed-host.png"), fullPage: true });

  const phone = await ctx.newPage();
  watch(phone);
  await phone.setViewportSize({ width: 320, height: 640 });
  await phone.goto(`${base}/embed?view=month&month=2026-12&${q}`, { waitUntil: "networkidle" });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 320, `month view is ${overflow}px wide at 320px`);
  await phone.screenshot({ path: join(outDir, "embed-month-320.png"), fullPage: true });
  await phone.goto(`${base}/embed?view=agenda&from=2026-12-01&to=2026-12-15&lang=de&theme=dark&${q}`, { waitUntil: "networkidle" });
  await phone.getByText("Donnerstag, 3. Dezember 2026").waitFor({ state: "visible", timeout: 10000 })
    .catch(() => failures.push("agenda (de): day heading not visible"));
  await phone.screenshot({ path: join(outDir, "embed-agenda-dark-de-320.png"), fullPage: true });
} finally {
  await ctx.close();
  host.close();
}
check(errors.length === 0, `console errors: ${errors.join(" | ")}`);
check(dialogs.length === 0, `a script ran: ${dialogs.join(" | ")}`);
if (failures.length) {
  console.log(`browser_test.mjs: ${failures.length} failures`);
  for (const f of failures) console.log("  -", f);
  process.exit(1);
}
console.log(`browser_test.mjs: month and list embeds render across origins in Chromium, no console errors, no script ran; screenshots in ${outDir}`);
