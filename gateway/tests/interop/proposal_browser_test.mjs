// Real-browser test of proposals (issue 19, docs/protocol.md §12) over three real nodes peered
// A–B–C (node/examples/relay_fixture): a user logs in at C, opens A's event there, follows
// "Propose a change", changes the title and sends it; an admin logs in at A and finds it in the
// queue with the title's lines side by side (when proposed, now, proposed), accepts it; the
// new title reaches C over the mesh, and C's "My proposals" says it was accepted. Then the user
// says they are coming, and the count A publishes shows on C's page.
// Usage: node proposal_browser_test.mjs EVENT_URL_AT_C A_BASE C_BASE OUT_DIR
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [eventUrl, aBase, cBase, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const failures = [];
const check = (cond, msg) => { if (!cond) failures.push(msg); };
const NEW_TITLE = "Travelling talk (room 2)";

const launch = () => chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "discal-proposal-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1000, height: 900 },
});

async function login(page, base, name) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=name]", name);
  await page.fill("input[name=password]", "fixture password 1");
  await Promise.all([page.waitForURL(`${base}/my`), page.click("button[type=submit]")]);
}

// Opens `url` and reloads it until `pred(text of main)` holds (the mesh and the outbox are not visible to
// the page any other way), for at most 30 s.
async function until(page, url, pred) {
  const end = Date.now() + 30000;
  await page.goto(url);
  for (;;) {
    // A reload revalidates; going to the same URL again may be answered from the browser's
    // cache (public pages may be cached for minutes).
    await page.reload();
    const text = await page.locator("main").innerText();
    if (pred(text) || Date.now() > end) return text;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const c = await launch();
const a = await launch();
try {
  const pc = await c.newPage();
  await login(pc, cBase, "cleo");
  await pc.goto(eventUrl);
  await Promise.all([pc.waitForLoadState(), pc.click("a:has-text('Propose a change')")]);
  check(pc.url().startsWith(`${cBase}/propose/`), `propose link leads to ${pc.url()}`);
  check(await pc.inputValue("input[name=title]") === "Travelling talk", "the form is not prefilled");
  await pc.fill("input[name=title]", NEW_TITLE);
  await Promise.all([pc.waitForURL(`${cBase}/my/proposals`), pc.click("button[value=save]")]);
  const mine = await until(pc, `${cBase}/my/proposals`, (t) => t.includes("waiting for a person"));
  check(mine.includes("waiting for a person at the origin"), `C's proposals page: ${mine}`);

  const pa = await a.newPage();
  await login(pa, aBase, "ana");
  await pa.goto(`${aBase}/queue`);
  const row = pa.locator("section.proposal table.sides tbody tr", { hasText: "SUMMARY" });
  check(await row.count() === 1, "A's queue: no SUMMARY row");
  const cells = await row.locator("td").allInnerTexts();
  check(cells.length === 3 && cells[0].includes("SUMMARY:Travelling talk") && cells[1].includes("SUMMARY:Travelling talk")
    && cells[2].includes(`SUMMARY:${NEW_TITLE}`), `A's queue, side by side: ${JSON.stringify(cells)}`);
  // Merging by hand starts from the proposed lines.
  await pa.click("details.merge summary");
  check(await pa.inputValue("details.merge textarea[name=merge-SUMMARY]") === `SUMMARY:${NEW_TITLE}`, "merge by hand: not prefilled");
  await pa.screenshot({ path: join(outDir, "proposal-queue.png"), fullPage: true });
  await Promise.all([pa.waitForURL(`${aBase}/queue`), pa.locator("section.proposal button:has-text('Accept')").click()]);
  check(await pa.locator("section.proposal").count() === 0, "A's queue: the proposal is still there");

  const there = await until(pc, eventUrl, (t) => t.includes(NEW_TITLE));
  check(there.includes(NEW_TITLE), "C: the accepted change did not arrive");
  const done = await until(pc, `${cBase}/my/proposals`, (t) => t.includes("accepted as revision"));
  check(done.includes("accepted as revision 1"), `C's proposals page after: ${done}`);
  // From the event's page, "Propose a change" also says what became of the earlier one.
  await pc.goto(eventUrl);
  await Promise.all([pc.waitForLoadState(), pc.click("a:has-text('Propose a change')")]);
  const earlier = await pc.locator("section.earlier").innerText().catch(() => "");
  check(earlier.includes("SUMMARY") && earlier.includes("accepted as revision 1"), `the event's propose page: ${earlier}`);

  // "Are you coming?" at C: the answer goes to A, which publishes the count.
  await pc.goto(eventUrl);
  await Promise.all([pc.waitForLoadState(), pc.click("a:has-text('Are you coming?')")]);
  await Promise.all([pc.waitForURL(`${cBase}/my/proposals`), pc.click("button[value=going]")]);
  const counted = await until(pc, eventUrl, (t) => t.includes("1 going"));
  check(counted.includes("1 going"), "C: the RSVP count did not come back");
} catch (e) {
  failures.push(`exception: ${e.stack || e}`);
} finally {
  await c.close();
  await a.close();
}
if (failures.length) {
  console.log(`proposal_browser_test.mjs: ${failures.length} failures`);
  for (const f of failures) console.log("  -", f);
  process.exit(1);
}
console.log("proposal_browser_test.mjs: proposed at C, seen side by side and accepted at A, the change and the answer back at C; an RSVP at C counted by A");
