"""Third-party parsers read the gateway's feeds (run by .ci/run against fixture_server).

- python `icalendar` parses every ICS feed and event resource; the 1,000+-event aggregate
  feed round-trips (every UID, title and cancellation the store holds, nothing more);
- each VTIMEZONE, turned into a tzinfo by icalendar itself, gives the IANA offsets;
- `recurring-ical-events` expands the recurring events over 2026 to exactly the instants
  the store computed (EXDATE, a moved instance and the March DST change included);
- the JSCalendar feed is JSON with the same events; the Atom feed is well-formed XML.

Usage: check_feeds.py EXPECTED.json
"""

import datetime as dt
import json
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
import zoneinfo

import icalendar
import recurring_ical_events

expected = json.load(open(sys.argv[1]))
base = expected["base"]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def fetch(path):
    with urllib.request.urlopen(base + path) as r:
        assert r.status == 200, (path, r.status)
        return r.read()


def parse(path):
    cal = icalendar.Calendar.from_ical(fetch(path))
    check(cal.name == "VCALENDAR", f"{path}: not a VCALENDAR")
    return cal


feeds = [
    "/feed.ics",
    "/feed.ics?tags=meetup&tz=Europe/Berlin",
    f"/origins/{expected['origin_a']}/feed.ics",
    f"/origins/{expected['origin_b']}/feed.ics?limit=50",
    "/feed.ics?from=2026-03-01&to=2026-04-01",
    "/feed.ics?near=52.52,13.40&radius_km=50",
]
for uid in expected["events"]:
    if not uid.startswith("bulk-"):
        feeds.append(f"/events/{expected['origin_a']}/{urllib.parse.quote(uid, safe='@')}/event.ics")
for path in feeds:
    cal = parse(path)
    check(len(cal.walk("VEVENT")) > 0, f"{path}: no events")

# Round trip of the whole feed.
cal = parse("/feed.ics")
seen = {}
for ev in cal.walk("VEVENT"):
    uid = str(ev["UID"])
    if "RECURRENCE-ID" in ev:
        continue
    seen[uid] = ev
want = expected["events"]
check(set(seen) == set(want), f"feed UIDs differ: missing {set(want) - set(seen)}, extra {set(seen) - set(want)}")
check(len(seen) >= 1000, f"only {len(seen)} events in the aggregate feed")
for uid, ev in seen.items():
    w = want.get(uid)
    if w is None:
        continue
    check(str(ev.get("SUMMARY")) == w["summary"], f"{uid}: SUMMARY {str(ev.get('SUMMARY'))!r} != {w['summary']!r}")
    check((str(ev.get("STATUS", "")) == "CANCELLED") == w["cancelled"], f"{uid}: STATUS")
    for p in ("X-HOP", "X-REVISION", "SEQUENCE", "DTSTAMP"):
        check(p in ev, f"{uid}: no {p}")
check(not any("ATTENDEE" in ev for ev in cal.walk("VEVENT")), "an ATTENDEE property was injected")

# Every VTIMEZONE, read by icalendar into a tzinfo, agrees with the IANA database.
zones = cal.walk("VTIMEZONE")
check({str(z["TZID"]) for z in zones} == {"Europe/Berlin", "America/New_York"}, "VTIMEZONE set")
for z in zones:
    name = str(z["TZID"])
    ours = z.to_tz()
    real = zoneinfo.ZoneInfo(name)
    t = dt.datetime(2020, 1, 1, 12)
    while t < dt.datetime(2031, 1, 1):
        a, b = t.replace(tzinfo=ours).utcoffset(), t.replace(tzinfo=real).utcoffset()
        check(a == b, f"{name} at {t}: VTIMEZONE says {a}, IANA says {b}")
        t += dt.timedelta(days=5, hours=7)

# Recurrence: the same instants as the store over 2026.
start, end = (dt.datetime.fromisoformat(x) for x in expected["window"])
got = {}
for occ in recurring_ical_events.of(cal).between(start, end):
    uid = str(occ["UID"])
    if uid not in expected["recurring"]:
        continue
    s = occ["DTSTART"].dt.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    got.setdefault(uid, []).append(s)
for uid, starts in expected["recurring"].items():
    mine = sorted(got.get(uid, []))
    check(mine == sorted(starts), f"{uid}: recurring-ical-events {len(mine)} instances, store {len(starts)}; "
          f"only here {sorted(set(mine) - set(starts))[:5]}, only in store {sorted(set(starts) - set(mine))[:5]}")
berlin = expected["recurring"]["berlin-weekly@example.org"]
check("2026-03-24T18:00:00Z" in berlin and "2026-03-31T18:00:00Z" in berlin
      and "2026-04-07T17:00:00Z" in berlin, "DST change / moved instance not in expectations")

# JSCalendar and Atom.
group = json.loads(fetch("/feed.json"))
check(group["@type"] == "Group", "JSCalendar group")
check({e["uid"] for e in group["entries"]} == set(want), "JSCalendar UIDs differ")
atom = ET.fromstring(fetch("/feed.atom?limit=1000"))
ns = {"a": "http://www.w3.org/2005/Atom"}
check(len(atom.findall("a:entry", ns)) == 1000, "Atom entries")
for e in atom.findall("a:entry", ns)[:50]:
    check(e.find("a:link", ns).get("href").startswith(base), "Atom link")
    check(e.find("a:summary", ns).text, "Atom summary with date")

if failures:
    print(f"check_feeds.py: {len(failures)} failures")
    for f in failures[:40]:
        print("  -", f)
    sys.exit(1)
print(f"check_feeds.py: {len(feeds)} ICS documents parsed by icalendar {icalendar.__version__}; "
      f"{len(seen)} events round-trip; {len(zones)} VTIMEZONEs match IANA; "
      f"{sum(len(v) for v in expected['recurring'].values())} recurrence instances agree "
      f"with recurring-ical-events; JSCalendar and Atom read")
