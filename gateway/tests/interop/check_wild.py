"""The wild corpus through DisCal's feed, read by python icalendar + recurring-ical-events
(run by .ci/run, issue 25): every event the store holds with a fixed instant is in the feed,
and its instances over 2027 (start and end, in UTC) are the store's, for events whose zone the
source file defined itself (mapped to an IANA zone, or kept as UTC), RDATE periods with their
own lengths, overrides and EXDATEs.

With a third argument, the instances libical computed (libical_instants.c's output) are
held to the same expectations.

Usage: check_wild.py FEED.ics EXPECTED.json [LIBICAL.tsv]
"""

import datetime as dt
import json
import sys

import icalendar
import recurring_ical_events

feed = open(sys.argv[1], "rb").read()
expected = json.load(open(sys.argv[2]))
cal = icalendar.Calendar.from_ical(feed)
start, end = (dt.datetime.fromisoformat(x) for x in expected["window"])
utc = dt.timezone.utc
fmt = "%Y-%m-%dT%H:%M:%SZ"

got = {}
for occ in recurring_ical_events.of(cal).between(start, end):
    uid = str(occ["UID"])
    if uid not in expected["events"]:
        continue
    s = occ["DTSTART"].dt.astimezone(utc)
    e = occ["DTEND"].dt.astimezone(utc) if "DTEND" in occ else s
    if "DTEND" not in occ and "DURATION" in occ:
        e = s + occ["DURATION"].dt
    got.setdefault(uid, []).append([s.strftime(fmt), e.strftime(fmt)])

failures = []


quirks = []


def compare(who, got, dtstart_quirk=False):
    n = 0
    for uid, want in expected["events"].items():
        mine = sorted(got.get(uid, []))
        theirs = sorted(want["instances"])
        n += len(theirs)
        missing = [x for x in theirs if x not in mine]
        # libical (like ical.js) does not count DTSTART as an instance when the RRULE does
        # not generate it (RFC 5545 §3.8.5.3 says it always counts): tolerated only when
        # that one instance, the first, is the whole difference.
        if (dtstart_quirk and len(missing) == 1 and missing[0] == theirs[0]
                and all(x in theirs for x in mine)):
            quirks.append(f"{who}: {uid}")
            continue
        if mine != theirs:
            failures.append(f"{uid}: {who} {mine[:4]}, store {theirs[:4]}")
    return n


instances = compare("recurring-ical-events", got)
readers = f"icalendar {icalendar.__version__}"
if len(sys.argv) > 3:
    lib = {}
    for line in open(sys.argv[3]):
        uid, s, e = line.rstrip("\n").split("\t")
        s_, e_ = (dt.datetime.strptime(x, fmt).replace(tzinfo=utc) for x in (s, e))
        # The store's rule for a window: an instance overlaps it, or starts in it when it
        # has no length.
        if s_ < end and (e_ > start or (e_ == s_ and s_ >= start)):
            lib.setdefault(uid, []).append([s, e])
    compare("libical", lib, dtstart_quirk=True)
    readers += " and libical"
if failures:
    print(f"check_wild.py: {len(failures)} failures")
    for f in failures[:40]:
        print("  -", f)
    sys.exit(1)
print(f"check_wild.py: {readers} read the wild corpus's feed; "
      f"{len(expected['events'])} events, {instances} instances over 2027 agree with the store"
      + (f" (without the DTSTART instance the rule does not generate: {', '.join(quirks)})" if quirks else ""))
