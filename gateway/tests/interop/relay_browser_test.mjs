// Real-browser test of the relay path (issue 24): an event published at node A that reached C
// through B, read on C's event page in Chromium, says the way it came as "A → B → C" (C names
// B as its allowlist does and A, not its peer, by its shortened key). Three real nodes from
// node/examples/relay_fixture. Screenshot to OUT_DIR.
// Usage: node relay_browser_test.mjs URL EXPECTED_PATH OUT_DIR
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, want, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "discal-relay-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  javaScriptEnabled: false,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1000, height: 900 },
});
let failure = null;
try {
  const page = await ctx.newPage();
  const r = await page.goto(url);
  const path = r.ok() ? (await page.locator("dd.path").innerText()).replace(/\s+/g, " ").trim() : `HTTP ${r.status()}`;
  if (path !== want) failure = `the path reads ${JSON.stringify(path)}, want ${JSON.stringify(want)}`;
  // Each step names a node; the key is at hand on hover.
  const titled = await page.locator("dd.path [title]").count();
  if (!failure && titled < 3) failure = `${titled} path steps carry their key`;
  await page.screenshot({ path: join(outDir, "event-relayed.png"), fullPage: true });
} catch (e) {
  failure = `exception: ${e.stack || e}`;
} finally {
  await ctx.close();
}
if (failure) {
  console.log(`relay_browser_test.mjs: ${failure}`);
  process.exit(1);
}
console.log(`relay_browser_test.mjs: an event that came A → B → C reads "${want}" on C's page`);
