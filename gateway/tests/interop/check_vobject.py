"""vobject (the iCalendar reader of Radicale and of many Python programs) reads each feed
given, transforming every property it knows to its native value, and validates it. One value
vobject cannot read (a `CREATED:20261120`, say) makes it refuse the whole calendar, so one bad
event in a feed would cost its readers every other.

Usage: check_vobject.py FEED.ics [FEED.ics ...]
"""

import sys

import vobject

failures = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    events = 0
    try:
        for cal in vobject.readComponents(text):
            cal.validate(raiseException=True, complainUnrecognized=False)
            events += len(cal.contents.get("vevent", []))
    except Exception as e:  # noqa: BLE001 - any failure of the reader is the finding
        failures.append(f"{path}: {type(e).__name__}: {e}")
        continue
    if events == 0:
        failures.append(f"{path}: no events read")
    print(f"vobject: {path}: {events} VEVENTs read and validated")
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
