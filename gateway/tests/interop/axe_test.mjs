// Accessibility and quality by axe-core (WCAG 2.0/2.1 A and AA rules and best practices) in
// headless Chromium against fixture_server: the home page, the view builder, an event page and
// the three embed views, light and dark. Any violation fails, listed with its nodes.
// Usage: node axe_test.mjs EXPECTED.json
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const base = expected.base;
const pages = [
  "/",
  "/?view=month&month=2026-12",
  "/views",
  "/map",
  "/map?theme=dark",
  `/events/${expected.origin_a}/berlin-weekly%40example.org`,
  "/embed?view=list&from=2026-12-01&to=2026-12-31&tz=Europe/Berlin",
  "/embed?view=agenda&from=2026-12-01&to=2026-12-31&tz=Europe/Berlin",
  "/embed?view=month&month=2026-12&tz=Europe/Berlin",
  "/embed?view=list&from=2026-12-01&to=2026-12-31&tz=Europe/Berlin&theme=dark",
  "/embed?view=agenda&from=2026-12-01&to=2026-12-31&tz=Europe/Berlin&theme=dark",
  "/embed?view=month&month=2026-12&tz=Europe/Berlin&theme=dark",
];

const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "discal-axe-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // axe is injected into the page; the pages' own policy allows no inline script.
  bypassCSP: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1000, height: 900 },
});
const failures = [];
let checked = 0;
try {
  const page = await ctx.newPage();
  for (const p of pages) {
    await page.goto(base + p);
    await page.addScriptTag({ content: axeSource });
    const r = await page.evaluate(() => window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    }));
    checked += 1;
    for (const v of r.violations) {
      failures.push(`${p}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.length} nodes, e.g. ${v.nodes[0].target.join(" ")}`);
    }
  }
} finally {
  await ctx.close();
}
if (failures.length) {
  console.log(`axe_test.mjs: ${failures.length} violations`);
  for (const f of failures) console.log("  -", f);
  process.exit(1);
}
console.log(`axe_test.mjs: axe-core found no WCAG 2.1 A/AA or best-practice violation on ${checked} pages (home, month, view builder, map light and dark, event page, list, agenda and month embeds light and dark)`);
