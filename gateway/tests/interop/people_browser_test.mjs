// Real-browser test of the people pages (issue 18): headless Chromium against a real `discal`
// node whose first admin was made with the CLI. It logs in, enters a weekly event on Tuesdays
// at 19:00 Europe/Berlin across the March DST change with one exception, checks the preview's
// local times, saves, finds the event in /feed.ics and on a second node over the mesh with
// X-HOP:1, edits it and cancels it; a hostile title shows as text and runs nothing. The admin
// turns on anonymous submissions on /admin; one is sent without login, waits, is approved by a
// user (role user, made with the CLI too), then appears. That user gets 403 on the admin page
// and on the admin's event's edit page. On a phone-sized screen the form needs no sideways
// scroll; nothing logs a console error. Requests to other origins are aborted.
// Usage: node people_browser_test.mjs BASE_URL NAME PASSWORD OUT_DIR PEER_URL USER USER_PASSWORD
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, name, password, outDir, peer, user, userPassword] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const failures = [];
const check = (cond, msg) => { if (!cond) failures.push(msg); };
const errors = [];
const dialogs = [];

const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "discal-people-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1000, height: 900 },
});
await ctx.route("**/*", (route) => {
  if (new URL(route.request().url()).origin === new URL(base).origin) return route.continue();
  errors.push(`blocked request to ${route.request().url()}`);
  return route.abort();
});

async function login(page, who, secret) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=name]", who);
  await page.fill("input[name=password]", secret);
  await Promise.all([page.waitForURL(`${base}/my`), page.click("button[type=submit]")]);
}

// Polls a feed (the mesh and the node's writes are not visible to the test any other way).
async function feedWith(page, url, pred, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const text = await (await page.request.get(url)).text();
    if (pred(text) || Date.now() > end) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The VEVENT of `title` in an iCalendar text, unfolded.
function vevent(ics, title) {
  return ics.replace(/\r\n[ \t]/g, "").split("BEGIN:VEVENT").find((v) => v.includes(`SUMMARY:${title}`)) || "";
}

async function fillEvent(page, title) {
  await page.fill("input[name=title]", title);
  await page.fill("input[name=start_date]", "2027-03-16");
  await page.fill("input[name=start_time]", "19:00");
  await page.fill("input[name=end_time]", "21:00");
  await page.fill("input[name=tz]", "Europe/Berlin");
  await page.selectOption("select[name=freq]", "weekly");
  await page.check("input[name=byday][value=TU]");
  await page.fill("input[name=count]", "4");
  await page.fill("input[name=exdates]", "2027-03-30");
  await page.fill("input[name=location]", "Hackerspace, Berlin");
}

try {
  const page = await ctx.newPage();
  // A form sent back with field errors is answered 422, which Chromium logs as a failed load.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of (422|403)/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });

  await login(page, name, password);

  await page.goto(`${base}/events/new`);
  await fillEvent(page, "Stammtisch <b>im</b> Hackerspace");
  await Promise.all([page.waitForLoadState(), page.click("button[value=preview]")]);
  const preview = await page.locator("li.occurrence").allTextContents();
  for (const want of ["Tue 2027-03-16 19:00 CET", "Tue 2027-03-23 19:00 CET", "Tue 2027-04-06 19:00 CEST"]) {
    check(preview.includes(want), `preview: ${want} missing from ${JSON.stringify(preview)}`);
  }
  check(!preview.some((p) => p.includes("2027-03-30")), "preview shows the exception date");
  check(await page.inputValue("input[name=title]") === "Stammtisch <b>im</b> Hackerspace", "typed title kept");
  await page.screenshot({ path: join(outDir, "people-form-preview.png"), fullPage: true });
  await Promise.all([page.waitForURL(`${base}/my`), page.click("button[value=save]")]);
  check(await page.getByText("Stammtisch <b>im</b> Hackerspace").count() === 1, "/my: title not shown as text");
  check(await page.locator("b", { hasText: "im" }).count() === 0, "/my: the title's markup was rendered");

  const feed = await (await page.request.get(`${base}/feed.ics?from=2027-03-01&to=2027-05-01`)).text();
  check(feed.includes("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4"), "feed: no weekly rule");
  check(feed.includes("EXDATE;TZID=Europe/Berlin:20270330T190000"), "feed: no exception");
  const uid = (vevent(feed, "Stammtisch <b>im</b> Hackerspace").match(/\nUID:([^\r\n]+)/) || [])[1];
  check(uid, "feed: no UID for the event");
  // The second node has it over the mesh, one hop away.
  const there = vevent(await feedWith(page, `${peer}/feed.ics?from=2027-03-01&to=2027-05-01`,
    (t) => t.includes("Stammtisch <b>im</b> Hackerspace")), "Stammtisch <b>im</b> Hackerspace");
  check(there.includes("X-HOP:1"), `peer: the event is not there with X-HOP:1: ${JSON.stringify(there.slice(0, 300))}`);

  await Promise.all([page.waitForLoadState(), page.click("a:has-text('Edit')")]);
  await page.fill("input[name=title]", "Stammtisch (new room)");
  await Promise.all([page.waitForURL(`${base}/my`), page.click("button[value=save]")]);
  check(await page.getByText("Stammtisch (new room)").count() === 1, "edit not shown on /my");
  await Promise.all([page.waitForURL(`${base}/my`), page.click("button:has-text('Cancel event')")]);
  check(await page.getByText("(cancelled)").count() === 1, "cancellation not shown on /my");
  const after = await (await page.request.get(`${base}/feed.ics?from=2027-03-01&to=2027-05-01`)).text();
  check(after.includes("STATUS:CANCELLED") && after.includes("SUMMARY:Stammtisch (new room)"), "feed: not cancelled");

  // The admin takes anonymous submissions from now on.
  await page.goto(`${base}/admin`);
  await page.check("input[name=allow_anonymous]");
  await Promise.all([page.waitForURL(`${base}/admin`), page.click("button:has-text('Save settings')")]);
  check(await page.isChecked("input[name=allow_anonymous]"), "admin: anonymous submissions not on");
  await Promise.all([page.waitForLoadState(), page.click("button:has-text('Log out')")]);

  // Without login: the form, sent, waits.
  await page.goto(`${base}/events/new`);
  await page.fill("input[name=title]", "Anonymous install party");
  await page.fill("input[name=start_date]", "2027-04-10");
  await page.fill("input[name=start_time]", "14:00");
  await page.fill("input[name=end_time]", "18:00");
  await page.fill("input[name=tz]", "Europe/Berlin");
  await Promise.all([page.waitForLoadState(), page.click("button[value=save]")]);
  check(await page.getByText("waits for approval").count() === 1, "anonymous: no word that it waits");
  const feedUrl = `${base}/feed.ics?from=2027-04-01&to=2027-05-01`;
  check(!(await (await page.request.get(feedUrl)).text()).includes("Anonymous install party"), "anonymous: published before approval");

  // A user approves it; then it is published.
  await login(page, user, userPassword);
  await page.goto(`${base}/queue`);
  const item = page.locator("section.submission", { hasText: "Anonymous install party" });
  check(await item.count() === 1, "queue: the submission is not listed");
  await Promise.all([page.waitForLoadState(), item.locator("button:has-text('Approve')").click()]);
  const approved = await feedWith(page, feedUrl, (t) => t.includes("Anonymous install party"));
  check(approved.includes("SUMMARY:Anonymous install party"), "approved: not in the feed");

  // A user may not open the admin pages or edit another person's event.
  const admin = await page.goto(`${base}/admin`);
  check(admin.status() === 403, `user on /admin: ${admin.status()}`);
  const other = await page.goto(`${base}/my/${encodeURIComponent(uid)}/edit`);
  check(other.status() === 403, `user editing the admin's event: ${other.status()}`);
  await page.goto(`${base}/my`);
  await Promise.all([page.waitForLoadState(), page.click("button:has-text('Log out')")]);
  await login(page, name, password);

  // Wrong values come back at their fields, nothing typed lost.
  await page.goto(`${base}/events/new`);
  await page.fill("input[name=title]", "Kept title");
  await page.fill("input[name=start_date]", "2027-03-16");
  await page.fill("input[name=start_time]", "19:00");
  await page.fill("input[name=end_time]", "18:00");
  await Promise.all([page.waitForLoadState(), page.click("button[value=save]")]);
  check(await page.locator("#err-end_time").count() === 1, "no message at the end time");
  check(await page.inputValue("input[name=title]") === "Kept title", "typed title lost");

  // A phone.
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto(`${base}/events/new`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `phone: the form scrolls sideways by ${overflow}px`);
  await page.screenshot({ path: join(outDir, "people-form-phone.png"), fullPage: true });
} catch (e) {
  failures.push(`exception: ${e.stack || e}`);
} finally {
  await ctx.close();
}
for (const e of errors) failures.push(e);
for (const d of dialogs) failures.push(`a dialog opened: ${d}`);
if (failures.length) {
  console.log(`people_browser_test.mjs: ${failures.length} failures`);
  for (const f of failures) console.log("  -", f);
  process.exit(1);
}
console.log("people_browser_test.mjs: login, enter with preview (DST and exception right), save, feed, on the peer with X-HOP:1, edit, cancel, anonymous submission approved by a user, 403 for a user on /admin and on another's event, field errors and a phone screen work in Chromium; titles stay text; no console errors");
