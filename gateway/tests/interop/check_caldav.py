"""Real CalDAV clients against the gateway (run by .ci/run against fixture_server).

1. python `caldav`: discovery from the server root, the calendar list, a time-range search
   the server filters, a multiget, and sync-collection that picks up a change made at the
   node after the first sync.
2. `vdirsyncer` syncs the aggregate calendar to a folder and `khal` lists it, including the
   weekly Europe/Berlin event across the March 2026 daylight-saving change and its moved
   instance.

Usage: check_caldav.py EXPECTED.json SERVER_STDIN SERVER_STDOUT
"""

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time

import caldav
from khal_conf import khal_conf

expected = json.load(open(sys.argv[1]))
server_in, server_out = sys.argv[2], sys.argv[3]
base = expected["base"]
venv_bin = os.path.dirname(sys.executable)
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def change_at_node(uid, title):
    before = open(server_out).read().count("ok")
    with open(server_in, "w") as f:
        f.write(f"retitle {uid} {title}\n")
    for _ in range(100):
        if open(server_out).read().count("ok") > before:
            return
        time.sleep(0.05)
    raise SystemExit("fixture_server did not apply the change")


# 1. python caldav
client = caldav.DAVClient(url=base + "/")
principal = client.principal()
cals = principal.calendars()
names = {str(c.url).rstrip("/").rsplit("/", 1)[-1]: c for c in cals}
check("all" in names, f"calendars found: {list(names)}")
check(f"origin-{expected['origin_a']}" in names and f"origin-{expected['origin_b']}" in names,
      f"origin calendars: {list(names)}")
cal = names["all"]
check(cal.get_display_name() == "Test calendar", f"display name {cal.get_display_name()!r}")

found = cal.search(start=dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc),
                   end=dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc), event=True, expand=False)
uids = sorted(str(e.icalendar_component["UID"]) for e in found)
check(uids == ["berlin-weekly@example.org", "ny-monthly@example.org"], f"April 2026 search: {uids}")

dec = cal.search(start=dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc),
                 end=dt.datetime(2026, 12, 4, tzinfo=dt.timezone.utc), event=True, expand=True)
titles = sorted(str(e.icalendar_component["SUMMARY"]) for e in dec)
check("FSFE Hamburg: Free Software Evening" in titles, f"3 December search: {titles}")

urls = [e.url for e in found]
got = cal.multiget(urls)
got = list(got)
check(len(got) == 2 and all("BEGIN:VEVENT" in o.data for o in got), "multiget of 2 items")

first = cal.objects_by_sync_token(load_objects=True)
n_first = len(list(first))
check(n_first == len(expected["events"]), f"initial sync: {n_first} items, store has {len(expected['events'])}")
token = first.sync_token
change_at_node("hamburg-oneoff@example.org", "FSFE Hamburg moved to the library")
delta = cal.objects_by_sync_token(sync_token=token, load_objects=True)
changed = list(delta)
check(len(changed) == 1, f"delta after one change: {len(changed)} items")
if changed:
    comp = changed[0].icalendar_component
    check(str(comp["SUMMARY"]) == "FSFE Hamburg moved to the library", f"delta SUMMARY {comp['SUMMARY']}")
    check(int(comp["X-REVISION"]) == 1, "delta X-REVISION")
check(delta.sync_token != token, "sync token did not move")
print(f"python caldav {caldav.__version__}: {len(cals)} calendars discovered; time-range search "
      f"(server-side) found {uids}; multiget {len(got)}; initial sync {n_first} items, delta "
      f"{len(changed)} after a change at the node")

# 2. vdirsyncer + khal
work = tempfile.mkdtemp(prefix="discal-vdir-")
vcfg = os.path.join(work, "vdirsyncer.conf")
with open(vcfg, "w") as f:
    f.write(f"""[general]
status_path = "{work}/status/"

[pair discal]
a = "discal_remote"
b = "discal_local"
collections = ["all"]

[storage discal_remote]
type = "caldav"
url = "{base}/"
read_only = true

[storage discal_local]
type = "filesystem"
path = "{work}/cal/"
fileext = ".ics"
""")
env = dict(os.environ, VDIRSYNCER_CONFIG=vcfg)
for args in (["discover", "discal"], ["sync"]):
    p = subprocess.run([os.path.join(venv_bin, "vdirsyncer"), *args], env=env, input="y\n" * 5,
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"vdirsyncer {args}: {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
files = os.listdir(os.path.join(work, "cal", "all")) if os.path.isdir(os.path.join(work, "cal", "all")) else []
check(len(files) == len(expected["events"]), f"vdirsyncer wrote {len(files)} files")

kcfg = os.path.join(work, "khal.conf")
with open(kcfg, "w") as f:
    f.write(khal_conf({"discal": f"{work}/cal/all"}))
p = subprocess.run([os.path.join(venv_bin, "khal"), "-c", kcfg, "list", "--format",
                    "{start-date} {start-time} {title}", "--day-format", "", "2026-03-20", "2026-04-10"],
                   capture_output=True, text=True, timeout=300)
check(p.returncode == 0, f"khal: {p.stderr[-2000:]}")
lines = [l.strip() for l in p.stdout.splitlines() if l.strip()]
for want in ["2026-03-24 19:00 Linux User Group Berlin",
             "2026-03-31 20:00 Linux User Group Berlin (moved)",
             "2026-04-07 19:00 Linux User Group Berlin"]:
    check(want in lines, f"khal does not list {want!r}: {lines}")
check(not any(l.startswith("2026-03-31 19:00") for l in lines), "the moved instance also shows at 19:00")
print(f"vdirsyncer synced {len(files)} events; khal lists the Berlin weekly at 19:00 before and "
      f"after the DST change (24 Mar, 7 Apr) and the moved instance at 20:00 (31 Mar)")

if failures:
    print(f"check_caldav.py: {len(failures)} failures")
    for f in failures[:40]:
        print("  -", f)
    sys.exit(1)
