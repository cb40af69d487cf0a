// ical.js (Mozilla's parser, used by Thunderbird) reads the gateway's feeds: the aggregate feed
// round-trips, and the recurring events, expanded with *only the feed's own VTIMEZONEs*
// registered (ical.js has no time-zone database), give the store's instants over 2026.
// Usage: node check_feeds.mjs EXPECTED.json
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const base = expected.base;
const failures = [];
const check = (cond, msg) => { if (!cond) failures.push(msg); };

async function fetchText(path) {
  const r = await fetch(base + path);
  check(r.status === 200, `${path}: HTTP ${r.status}`);
  return r.text();
}

const paths = [
  "/feed.ics",
  `/origins/${expected.origin_a}/feed.ics`,
  "/feed.ics?tags=meetup",
  "/feed.ics?from=2026-03-01&to=2026-04-01&tz=Europe/Berlin",
];
let cal;
for (const p of paths) {
  const c = new ICAL.Component(ICAL.parse(await fetchText(p)));
  check(c.name === "vcalendar", `${p}: not a VCALENDAR`);
  check(c.getAllSubcomponents("vevent").length > 0, `${p}: no events`);
  if (p === "/feed.ics") cal = c;
}

const zones = cal.getAllSubcomponents("vtimezone");
for (const z of zones) ICAL.TimezoneService.register(z);
check(zones.length === 2, `expected 2 VTIMEZONEs, got ${zones.length}`);

const byUid = new Map();
for (const v of cal.getAllSubcomponents("vevent")) {
  const uid = v.getFirstPropertyValue("uid");
  if (!byUid.has(uid)) byUid.set(uid, { master: null, exceptions: [] });
  if (v.hasProperty("recurrence-id")) byUid.get(uid).exceptions.push(v);
  else byUid.get(uid).master = v;
}
const want = expected.events;
check(byUid.size === Object.keys(want).length, `UIDs: ${byUid.size} in feed, ${Object.keys(want).length} in store`);
for (const [uid, { master }] of byUid) {
  const w = want[uid];
  check(w !== undefined, `${uid} is not in the store`);
  if (!w || !master) continue;
  check(master.getFirstPropertyValue("summary") === w.summary, `${uid}: summary ${JSON.stringify(master.getFirstPropertyValue("summary"))}`);
}

const [from, to] = expected.window.map((s) => new Date(s));
let instances = 0;
for (const [uid, starts] of Object.entries(expected.recurring)) {
  const { master, exceptions } = byUid.get(uid);
  // Exceptions passed by hand: without them ical.js relates every VEVENT of the calendar that
  // has a RECURRENCE-ID, whatever its UID (it assumes one event per calendar, as in CalDAV).
  const ev = new ICAL.Event(master, { exceptions: exceptions.map((x) => new ICAL.Event(x)) });
  const it = ev.iterator();
  const got = [];
  for (let t = it.next(); t; t = it.next()) {
    const d = ev.getOccurrenceDetails(t);
    const s = d.startDate.toJSDate();
    if (s >= to) break;
    if (d.endDate.toJSDate() > from) got.push(s.toISOString().replace(".000Z", "Z"));
  }
  got.sort();
  const mine = [...starts].sort();
  instances += got.length;
  check(JSON.stringify(got) === JSON.stringify(mine),
    `${uid}: ical.js ${got.length} instances, store ${mine.length}; ical.js only ${got.filter((x) => !mine.includes(x)).slice(0, 5)}, store only ${mine.filter((x) => !got.includes(x)).slice(0, 5)}`);
}

if (failures.length) {
  console.log(`check_feeds.mjs: ${failures.length} failures`);
  for (const f of failures.slice(0, 40)) console.log("  -", f);
  process.exit(1);
}
console.log(`check_feeds.mjs: ${paths.length} feeds parsed by ical.js; ${byUid.size} events round-trip; ${instances} recurrence instances (VTIMEZONEs from the feed) agree with the store`);
