// Real-browser test of the public pages (issue 24) against fixture_server: the home page lists
// upcoming events in order, a search narrows it, the month switch and its arrows work without
// JavaScript, an event page says its repetition in words, shows the way it came and carries
// schema.org Event JSON-LD; RSS is served; the map page shows numbered places over the
// operator's tiles (the only other origin any page may reach, and only the map page does),
// and a place narrows the home page. No console errors; no other request leaves the node.
// Screenshots go to OUT_DIR.
// BIG.json is a second fixture_server's, over 10,000 events: its home page lists the next
// dates in order, page after page.
// Usage: node public_browser_test.mjs EXPECTED.json OUT_DIR BIG.json
import { mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import jsonld from "jsonld";

// schema.org's context maps every term into its vocabulary; the processor gets it from here
// rather than from the network (the test reaches no third party).
const SCHEMA = "https://schema.org/";
const documentLoader = async (url) => {
  if (url.replace(/\/?$/, "/") === SCHEMA || url === "http://schema.org") {
    return { contextUrl: null, documentUrl: url, document: { "@context": { "@vocab": SCHEMA } } };
  }
  throw new Error(`the test loads no remote context: ${url}`);
};

const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const outDir = process.argv[3];
mkdirSync(outDir, { recursive: true });
const base = expected.base;
const big = JSON.parse(readFileSync(process.argv[4], "utf8"));
const failures = [];
const check = (cond, msg) => { if (!cond) failures.push(msg); };
const errors = [];

const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "discal-public-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  javaScriptEnabled: false,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1000, height: 900 },
});
const tilesOrigin = new URL(expected.map_tiles.replace(/[{}]/g, "")).origin;
const tileRequests = [];
await ctx.route("**/*", (route) => {
  const origin = new URL(route.request().url()).origin;
  if (origin === new URL(base).origin || origin === new URL(big.base).origin) return route.continue();
  if (origin === tilesOrigin) {
    tileRequests.push({ url: route.request().url(), page: route.request().frame().url() });
    return route.continue();
  }
  errors.push(`blocked request to ${route.request().url()}`);
  return route.abort();
});

try {
  const page = await ctx.newPage();
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });

  await page.goto(`${base}/`);
  const starts = await page.locator("main time").evaluateAll((ts) => ts.map((t) => t.getAttribute("datetime")));
  check(starts.length >= 5, `home: ${starts.length} dates listed`);
  check(JSON.stringify(starts) === JSON.stringify([...starts].sort()), "home: dates out of order");
  await page.screenshot({ path: join(outDir, "home-list.png"), fullPage: true });

  // 10,000 events: the next dates in order, and the next page goes on from there.
  check(Object.keys(big.events).length >= 10000, `big store: ${Object.keys(big.events).length} events`);
  const dates = () => page.locator("main time").evaluateAll((ts) => ts.map((t) => t.getAttribute("datetime")));
  await page.goto(`${big.base}/?from=2027-03-01`);
  const p1 = await dates();
  check(p1.length === 50 && JSON.stringify(p1) === JSON.stringify([...p1].sort()), `big store, page 1: ${p1.length} dates, in order: ${JSON.stringify(p1) === JSON.stringify([...p1].sort())}`);
  await Promise.all([page.waitForLoadState(), page.click("p.more a")]);
  const p2 = await dates();
  check(p2.length === 50 && JSON.stringify(p2) === JSON.stringify([...p2].sort()) && p2[0] >= p1[49],
    `big store, page 2: ${p2.length} dates from ${p2[0]} after ${p1[49]}`);

  await page.goto(`${base}/`);
  await page.fill("input[name=q]", "Hamburg");
  await Promise.all([page.waitForLoadState(), page.click("form.filters button[type=submit]")]);
  const text = await page.locator("main").innerText();
  check(text.includes("FSFE Hamburg"), "search: the Hamburg event is missing");
  check(!text.includes("Linux User Group Berlin"), "search: Berlin still listed");

  await page.goto(`${base}/`);
  await page.fill("input[name=tags]", "fsfe");
  await Promise.all([page.waitForLoadState(), page.click("form.filters button[type=submit]")]);
  const tagged = await page.locator("main").innerText();
  check(tagged.includes("FSFE Hamburg"), "tag filter: the fsfe event is missing");
  check(!tagged.includes("Linux User Group Berlin") && !tagged.includes("NYC Rust Meetup"), "tag filter: untagged events still listed");

  // A tag whose events lie past the page's four weeks: the page says so and links on to them.
  await page.goto(`${base}/?tags=workshop`);
  check((await page.locator("main").innerText()).includes("No events in these dates."), "later: the empty dates are not said");
  await Promise.all([page.waitForLoadState(), page.click("main a[rel=next]")]);
  check((await page.locator("main").innerText()).includes("Spring workshop series"), `later: ${page.url()} has no spring series`);

  await page.goto(`${base}/`);
  await page.selectOption("select[name=view]", "month");
  await Promise.all([page.waitForLoadState(), page.click("form.filters button[type=submit]")]);
  check(await page.locator("main.month table").count() === 1, "month switch: no grid");
  const before = page.url();
  await Promise.all([page.waitForLoadState(), page.click("a.next")]);
  check(page.url() !== before && page.url().includes("month="), "month arrows: no next month");
  await page.screenshot({ path: join(outDir, "home-month.png"), fullPage: true });

  await page.goto(`${base}/events/${expected.origin_a}/berlin-weekly%40example.org`);
  const body = await page.locator("main").innerText();
  check(/every Tuesday at 19:00 until/.test(body), "event page: no rule in words");
  check(body.includes("Path here"), "event page: no path");
  const ld = JSON.parse(await page.locator("script[type='application/ld+json']").textContent());
  check(ld["@type"] === "Event" && ld["@context"] === "https://schema.org", "event page: JSON-LD is not a schema.org Event");
  check(typeof ld.startDate === "string" && !Number.isNaN(Date.parse(ld.startDate)), "event page: JSON-LD startDate");
  await page.screenshot({ path: join(outDir, "event-page.png"), fullPage: true });
  // The JSON-LD through a JSON-LD processor: an https://schema.org/Event with its dates and
  // place, and well-formed linked data (it converts to RDF).
  const expanded = await jsonld.expand(ld, { documentLoader });
  const ev = expanded[0] || {};
  check((ev["@type"] || []).includes(`${SCHEMA}Event`), `JSON-LD: expands to ${JSON.stringify(expanded)}`);
  for (const p of ["name", "startDate", "endDate", "location", "eventStatus", "organizer"]) {
    check(ev[SCHEMA + p], `JSON-LD: no ${SCHEMA}${p} after expansion`);
  }
  const place = (ev[`${SCHEMA}location`] || [{}])[0];
  check((place["@type"] || []).includes(`${SCHEMA}Place`), "JSON-LD: the location is not a Place");
  const quads = await jsonld.toRDF(ld, { documentLoader, format: "application/n-quads" });
  check(quads.includes(`<${SCHEMA}startDate>`), "JSON-LD: no startDate triple");

  // A description written in HTML (as Google Calendar's feeds write it), with hostile parts:
  // its harmless part shows, and nothing in it runs.
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  await page.goto(`${base}/events/${expected.origin_a}/hostile%40example.org`);
  check(await page.locator("div.description b").innerText() === "it", "HTML description: no bold text");
  check(await page.locator("div.description a").getAttribute("href") === "https://ok.example/", "HTML description: its link is not shown");
  check(await page.locator("div.description :is(img, script, [onclick])").count() === 0, "HTML description: an img, script or handler survived");
  await page.waitForTimeout(300);
  check(dialogs.length === 0, `HTML description: a script ran: ${dialogs.join(" | ")}`);

  // A repeating event's next three dates in its own zone across the change to summer time on
  // 28 March 2027 (the wall clock stays 19:00), and in UTC (18:00, then 17:00).
  for (const [q, want] of [["", ["19:00–21:00", "19:00–21:00", "19:00–21:00"]], ["?tz=UTC", ["18:00–20:00", "18:00–20:00", "17:00–19:00"]]]) {
    await page.goto(`${base}/events/${expected.origin_a}/spring-series%40example.org${q}`);
    await page.click("details summary");
    const dates = (await page.locator("details li").allInnerTexts()).slice(0, 3);
    const days = ["16 March 2027", "23 March 2027", "30 March 2027"];
    check(dates.length === 3 && dates.every((d, i) => d.includes(days[i]) && d.endsWith(want[i])),
      `next dates ${q || "in the event's zone"}: ${JSON.stringify(dates)}, want ${days.map((d, i) => `${d} ${want[i]}`)}`);
    check(/every Tuesday at 19:00, 6 times/.test(await page.locator("main").innerText()), "spring series: no rule in words");
  }

  // The view builder shows its embed live.
  await page.goto(`${base}/views?tags=linux&from=2026-12-01&to=2026-12-31`);
  check(await page.getByText("Only events with these tags").count() === 1, "view builder: labels are not in people's words");
  await page.frameLocator("iframe.preview").getByText("Linux User Group Berlin").first()
    .waitFor({ state: "visible", timeout: 15000 })
    .catch(() => failures.push("view builder: the preview shows no event"));
  await page.screenshot({ path: join(outDir, "views.png"), fullPage: true });

  // A place filter on the home page.
  await page.goto(`${base}/`);
  await page.fill("input[name=place]", "berlin");
  await Promise.all([page.waitForLoadState(), page.click("form.filters button[type=submit]")]);
  const placed = await page.locator("main").innerText();
  check(placed.includes("Linux User Group Berlin"), "place filter: the Berlin event is missing");
  check(!placed.includes("NYC Rust Meetup") && !placed.includes("FSFE Hamburg"), "place filter: other places still listed");

  // The map: reached from the home page, markers and the list beside them agree, tiles come
  // from the operator's server only.
  await page.goto(`${base}/`);
  await Promise.all([page.waitForLoadState("networkidle"), page.click("nav.ranges a[href^='/map']")]);
  const markers = await page.locator("svg.map a").count();
  const places = await page.locator("ol.places > li").count();
  check(markers >= 3 && markers === places, `map: ${markers} markers, ${places} places listed`);
  const mapTiles = tileRequests.filter((r) => r.page.includes("/map"));
  check(mapTiles.length >= 4, `map: ${mapTiles.length} tiles requested`);
  check(tileRequests.length === mapTiles.length, `tiles requested by pages other than the map: ${tileRequests.filter((r) => !r.page.includes("/map")).map((r) => r.page)}`);
  const loaded = await page.locator("svg.map image").count();
  check(loaded === mapTiles.length, `map: ${loaded} tile images, ${mapTiles.length} fetched`);
  await page.screenshot({ path: join(outDir, "map.png"), fullPage: true });
  await page.click("svg.map a[href='#place-1']");
  check(page.url().endsWith("#place-1"), "map: a marker does not lead to its place");
  const first = await page.locator("#place-1 h2").innerText();
  await Promise.all([page.waitForLoadState(), page.locator("#place-1 > a").click()]);
  const here = await page.locator("main").innerText();
  check(here.includes("Linux User Group Berlin") && !here.includes("NYC Rust Meetup"),
    `map: "events here" of ${first} does not narrow the list to it`);

  const rss = await (await page.request.get(`${base}/feed.rss`)).text();
  check(rss.includes("<rss version=\"2.0\"") && rss.includes("<item>"), "RSS feed");
} catch (e) {
  failures.push(`exception: ${e.stack || e}`);
} finally {
  await ctx.close();
}
for (const e of errors) failures.push(e);
if (failures.length) {
  console.log(`public_browser_test.mjs: ${failures.length} failures`);
  for (const f of failures) console.log("  -", f);
  process.exit(1);
}
console.log("public_browser_test.mjs: home page in order (and over 10,000 events, page after page), search, a link to later events past empty dates, month switch and arrows without JavaScript, event page with rule in words, path and schema.org JSON-LD, an HTML description shown without its risks, JSON-LD expanded by a JSON-LD processor, next dates across a DST change, the view builder's live preview, RSS, tag and place filters, map page over the operator's tiles only; no console errors");
