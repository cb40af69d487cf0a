"""The referee for event pages (issue 20): extruct, the standard extraction library for
schema.org JSON-LD, microdata, RDFa and microformats, reads every page fixture; DisCal's reading of
the same files (node/examples/read_page) must find the same events with the same name, start
(the same instant, or the same wall time where the page gives no offset), place and
coordinates.

Usage: referee_pages.py READ_PAGE_BINARY FIXTURE_DIR
"""

import datetime as dt
import html
import json
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import extruct

# Fixture → (page URL, the source's zone for times without an offset).
PAGES = {
    "tec-jsonld.html": ("https://lug.example.org/event/linux-install-party/", "Europe/Berlin"),
    "mobilizon-jsonld.html": ("https://mobilizon.example.fr/events/6c3fe0b4", ""),
    "graph-cancelled.html": ("https://hackspace.example.net/events/hack-night", "Europe/Berlin"),
    "microdata.html": ("https://meetup.example.com/pug/events/2027-02-20", "Europe/Berlin"),
    "h-event.html": ("https://repair.example.org/2027/03/repair-cafe", "Europe/Berlin"),
    "schedule.html": ("https://club.example.org/chess", "Europe/Berlin"),
    "eventbrite-jsonld.html": ("https://www.eventbrite.example/e/812345678901", "America/New_York"),
    "meetup-jsonld.html": ("https://www.meetup.example/rust-hamburg/events/301234567/", "Europe/Berlin"),
    "hcalendar.html": ("https://lug.example.org/events", "Europe/Berlin"),
    "rdfa.html": ("https://freifunk.example.org/termine", "Europe/Berlin"),
}


def first(v):
    return v[0] if isinstance(v, list) and v else v


def is_event(t):
    ts = t if isinstance(t, list) else [t]
    return any(isinstance(x, str) and (x.endswith("Event") or x == "h-event") for x in ts)


def walk(v, out):
    if isinstance(v, list):
        for x in v:
            walk(x, out)
    elif isinstance(v, dict):
        if is_event(v.get("@type")):
            out.append(v)
            return
        for x in v.values():
            walk(x, out)


def rdfa_items(nodes):
    """extruct gives RDFa as expanded JSON-LD: a flat list of nodes, properties named by IRI,
    values as [{"@value": ...}] or references [{"@id": ...}]. As JSON-LD with short names."""
    by_id = {n.get("@id"): n for n in nodes if isinstance(n, dict)}

    def short(k):
        return k.rsplit("/", 1)[-1].rsplit("#", 1)[-1]

    def node(n, depth):
        out = {"@type": [short(t) for t in n.get("@type", [])]}
        for k, vs in n.items():
            if k.startswith("@"):
                continue
            vals = []
            for v in vs:
                if "@value" in v:
                    vals.append(v["@value"])
                elif v.get("@id") in by_id and depth < 4:
                    vals.append(node(by_id[v["@id"]], depth + 1))
                else:
                    vals.append(v.get("@id"))
            out[short(k)] = vals
        return out

    return [node(n, 0) for n in nodes if isinstance(n, dict) and n.get("@type")]


def referee(path, url):
    data = extruct.extract(
        open(path, encoding="utf-8").read(),
        base_url=url,
        syntaxes=["json-ld", "microdata", "microformat", "rdfa"],
        uniform=True,
    )
    found = []
    for syntax in ("json-ld", "microdata", "microformat"):
        walk(data[syntax], found)
    # extruct lists every RDFa node at the top, events nested in others too.
    found += [n for n in rdfa_items(data["rdfa"]) if is_event(n["@type"])]
    events = []
    for e in found:
        mf = e.get("@type") == ["h-event"]
        loc = first(e.get("location"))
        place, geo = None, None
        if isinstance(loc, dict):
            place = first(loc.get("name"))
            g = first(loc.get("geo")) or {}
            lat, lon = first(g.get("latitude")), first(g.get("longitude"))
            if lat is not None and lon is not None:
                geo = (float(lat), float(lon))
        elif isinstance(loc, str):
            place = loc
        events.append({
            "name": html.unescape(first(e.get("name")) or "").strip(),
            "start": first(e.get("start") if mf else e.get("startDate")),
            "place": place,
            "geo": geo,
        })
    return events


def parse_iso(s):
    s = s.strip().replace(" ", "T", 1)
    if len(s) == 10:
        return dt.date.fromisoformat(s)
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    # mf2py writes offsets as +0100.
    if len(s) > 5 and s[-5] in "+-" and s[-4:].isdigit():
        s = s[:-2] + ":" + s[-2:]
    return dt.datetime.fromisoformat(s)


def ours_instant(start):
    if "utc" in start:
        return dt.datetime.fromisoformat(start["utc"]).replace(tzinfo=dt.timezone.utc)
    local = dt.datetime.fromisoformat(start["local"])
    if "tz" in start:
        return local.replace(tzinfo=ZoneInfo(start["tz"]))
    return local


def same_start(ref, ours):
    r = parse_iso(ref)
    if isinstance(r, dt.datetime):
        if r.tzinfo is not None:
            o = ours_instant(ours)
            return o.tzinfo is not None and o == r
        return dt.datetime.fromisoformat(ours.get("local") or ours.get("utc")) == r
    return ours.get("date") == r.isoformat()


def main():
    binary, fixtures = sys.argv[1], sys.argv[2]
    args = []
    for name, (url, zone) in PAGES.items():
        args += [os.path.join(fixtures, name), url, zone]
    ours_all = json.loads(subprocess.check_output([binary] + args))
    checked = 0
    for name, (url, _) in PAGES.items():
        path = os.path.join(fixtures, name)
        ref = referee(path, url)
        ours = ours_all[path]["events"]
        assert ref, f"{name}: the referee found no event"
        names = sorted({e["name"] for e in ref})
        assert sorted(e["name"] for e in ours) == names, f"{name}: {names} vs {ours}"
        for r in ref:
            o = next(e for e in ours if e["name"] == r["name"])
            assert same_start(r["start"], o["start"]), f"{name}: start {r['start']} vs {o['start']}"
            if r["place"]:
                assert (o["location"] or "").startswith(html.unescape(r["place"])), (
                    f"{name}: place {r['place']!r} vs {o['location']!r}")
            if r["geo"]:
                assert o["geo"] and all(abs(a - b) < 1e-6 for a, b in zip(r["geo"], o["geo"])), (
                    f"{name}: geo {r['geo']} vs {o['geo']}")
            checked += 1
    print(f"referee_pages: {checked} events on {len(PAGES)} pages read alike by extruct and DisCal")


if __name__ == "__main__":
    main()
