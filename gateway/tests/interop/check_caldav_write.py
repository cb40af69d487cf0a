"""CalDAV write with real clients against two real nodes peered over the mesh (issue 22).

1. python `caldav`: discovery from the account's principal URL (the server asks for the
   password), the account's calendar among the shared ones, save_event, an edit, a recurring
   event with a moved instance (expanded by the server), an `If-Match` conflict (412),
   searches the server filters (a property not defined, a text match), a free-busy query,
   and a delete, whose cancellation reaches the second node.
2. `vdirsyncer` two-way sync of the account's calendar with a local folder, and `khal`: an
   event made with `khal new` ends up in the node's /feed.ics and on the second node; then the
   event is edited on the node's web form (a real login and form post) and the next sync
   brings the edit back, where `khal list` shows it.

Usage: check_caldav_write.py NODE_URL SISTER_URL ACCOUNT PASSWORD
"""

import datetime as dt
import html.parser
import os
import subprocess
import sys
import tempfile
import time
import uuid

import caldav
import requests
from khal_conf import khal_conf

base, sister, user, password = sys.argv[1:5]
venv_bin = os.path.dirname(sys.executable)
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def wait_for(pred, what, secs=60):
    deadline = time.time() + secs
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    check(False, f"timed out waiting for {what}")
    return False


def feed(url):
    return requests.get(url + "/feed.ics", timeout=10).text


origin = requests.get(base + "/status", timeout=10).json()["key"]


def held(url, uid):
    """The event as node `url` holds it (its own page's iCalendar, not the feed, which shows
    one entry for one real event), or ''."""
    r = requests.get(f"{url}/events/{origin}/{requests.utils.quote(uid, safe='')}/event.ics",
                     timeout=10)
    return r.text if r.status_code == 200 else ""


def vevent_of(ics, uid):
    """The VEVENT blocks of `uid` (master and overrides) in an unfolded feed, or ''."""
    text = ics.replace("\r\n ", "").replace("\r\n", "\n")
    return "".join(block.split("END:VEVENT")[0] for block in text.split("BEGIN:VEVENT")[1:]
                   if f"\nUID:{uid}\n" in block)


# Titles carry the run's id: the feeds show one entry for one real event, and two runs'
# events with the same title at the same time would be one.
run_id = uuid.uuid4().hex[:8]

# 1. python caldav
client = caldav.DAVClient(url=f"{base}/dav/principal/{user}/", username=user, password=password)
principal = client.principal()
cals = principal.calendars()
by_url = {str(c.url): c for c in cals}
mine = [c for u, c in by_url.items() if u.endswith(f"/dav/calendars/users/{user}/")]
check(len(mine) == 1, f"the account's calendar among {list(by_url)}")
check(any(u.endswith("/dav/calendars/all/") for u in by_url), "the shared calendar is listed too")
cal = mine[0]
# A principal search finds the account itself, and no one else.
found = [str(p.url) for p in client.search_principals(name=user)]
check(found == [f"{base}/dav/principal/{user}/"], f"principal search: {found}")
# The calendar's name as the app sets it (PROPPATCH), kept for the account.
cal.set_properties([caldav.elements.dav.DisplayName(f"Ana's meetups {run_id}")])
# (Read through a new object: the library caches a calendar's name.)
renamed = caldav.Calendar(client=client, url=cal.url).get_display_name()
check(renamed == f"Ana's meetups {run_id}", f"renamed: {renamed}")

uid = f"caldav-{run_id}@example.org"
ev = cal.save_event(
    dtstart=dt.datetime(2027, 2, 10, 19, 0, tzinfo=dt.timezone.utc),
    dtend=dt.datetime(2027, 2, 10, 21, 0, tzinfo=dt.timezone.utc),
    summary=f"Python caldav meetup {run_id}",
    uid=uid,
)
got = cal.event_by_uid(uid)
check(str(got.icalendar_component["SUMMARY"]) == f"Python caldav meetup {run_id}", "saved event read back")
check("X-REVISION:0" in got.data, "the node signed revision 0")

got.icalendar_component["SUMMARY"] = f"Python caldav meetup {run_id} (new room)"
got.save()
again = cal.event_by_uid(uid)
check(str(again.icalendar_component["SUMMARY"]) == f"Python caldav meetup {run_id} (new room)",
      "edit saved")
check("X-REVISION:1" in again.data, f"the edit is revision 1: {again.data}")

# A conflicting edit: the ETag the client holds is stale.
stale = client.put(str(again.url), again.data.replace("new room", "stale"),
                   {"Content-Type": "text/calendar", "If-Match": '"0-000000000000"'})
check(stale.status == 412, f"stale If-Match: {stale.status}")
check("stale" not in cal.event_by_uid(uid).data, "the conflicting edit changed nothing")

weekly_uid = f"weekly-{run_id}@example.org"
weekly = f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//interop//caldav//EN
BEGIN:VEVENT
UID:{weekly_uid}
DTSTAMP:20261201T120000Z
DTSTART;TZID=Europe/Berlin:20270302T190000
DTEND;TZID=Europe/Berlin:20270302T210000
RRULE:FREQ=WEEKLY;COUNT=6
SUMMARY:Weekly install party {run_id}
END:VEVENT
BEGIN:VEVENT
UID:{weekly_uid}
DTSTAMP:20261201T120000Z
RECURRENCE-ID;TZID=Europe/Berlin:20270330T190000
DTSTART;TZID=Europe/Berlin:20270330T200000
DTEND;TZID=Europe/Berlin:20270330T220000
SUMMARY:Weekly install party {run_id} (late, clocks changed)
END:VEVENT
END:VCALENDAR
"""
cal.save_event(weekly)
found = cal.search(start=dt.datetime(2027, 3, 28, tzinfo=dt.timezone.utc),
                   end=dt.datetime(2027, 4, 2, tzinfo=dt.timezone.utc), event=True, expand=True)
inst = [(str(e.icalendar_component["SUMMARY"]), e.icalendar_component["DTSTART"].dt) for e in found
        if str(e.icalendar_component["UID"]) == weekly_uid]
check(len(inst) == 1 and "late" in inst[0][0], f"the moved instance: {inst}")
if inst:
    # 20:00 in Berlin after the March change is 18:00 UTC.
    check(inst[0][1].astimezone(dt.timezone.utc).hour == 18, f"moved instance at {inst[0][1]}")

# Searches the server answers itself (post_filter=False: caldav would otherwise filter again
# on its side): a property that is not defined, a case-sensitive text match.
cal.save_event(f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//interop//caldav//EN
BEGIN:VEVENT
UID:tagged-{run_id}@example.org
DTSTAMP:20261201T120000Z
DTSTART:20270210T170000Z
DURATION:PT1H
SUMMARY:Tagged Meetup {run_id}
CATEGORIES:tagged
END:VEVENT
END:VCALENDAR
""")
feb = dict(start=dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc),
           end=dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc), event=True, post_filter=False)
uids_of = lambda found: sorted(str(e.icalendar_component["UID"]) for e in found)
untagged = uids_of(cal.search(no_category=True, **feb))
check(uid in untagged and f"tagged-{run_id}@example.org" not in untagged,
      f"no_category search: {untagged}")
no_end = uids_of(cal.search(no_dtend=True, **feb))
check(f"tagged-{run_id}@example.org" in no_end and uid not in no_end, f"no_dtend search: {no_end}")
exact = uids_of(cal.search(summary=f"Tagged Meetup {run_id}", **feb))
check(exact == [f"tagged-{run_id}@example.org"], f"summary search: {exact}")
# The free-busy-query report over February: the two evenings, merged where they touch.
fb = cal.freebusy_request(dt.datetime(2027, 2, 10, tzinfo=dt.timezone.utc),
                          dt.datetime(2027, 2, 11, tzinfo=dt.timezone.utc))
periods = []
for c in fb.icalendar_instance.walk("VFREEBUSY"):
    # One FREEBUSY line of several periods: a list of them, or one vPeriod.
    line = c.get("FREEBUSY", [])
    periods += [p.dt for p in (line if isinstance(line, list) else [line])]
check([(a.hour, b.hour) for a, b in periods] == [(17, 18), (19, 21)],
      f"free-busy periods: {periods}")
cal.event_by_uid(f"tagged-{run_id}@example.org").delete()

# Delete: a cancellation that reaches the sister node.
cal.event_by_uid(uid).delete()
try:
    cal.event_by_uid(uid)
    check(False, "the deleted event is still in the calendar")
except caldav.lib.error.NotFoundError:
    pass
check("STATUS:CANCELLED" in vevent_of(held(base, uid), uid), "cancelled at the node")
wait_for(lambda: "STATUS:CANCELLED" in vevent_of(held(sister, uid), uid), "the cancellation at the sister")
wait_for(lambda: "late\\, clocks changed" in vevent_of(held(sister, weekly_uid), weekly_uid),
         "the recurring event at the sister")

# 2. vdirsyncer two-way + khal
work = tempfile.mkdtemp(prefix="discal-vdir-")
local = os.path.join(work, "cal")
os.makedirs(local)
vcfg = os.path.join(work, "vdirsyncer.conf")
with open(vcfg, "w") as f:
    f.write(f"""[general]
status_path = "{work}/status/"

[pair node]
a = "local"
b = "remote"
collections = null
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "{local}/"
fileext = ".ics"

[storage remote]
type = "caldav"
url = "{base}/dav/calendars/users/{user}/"
username = "{user}"
password = "{password}"
""")
kcfg = os.path.join(work, "khal.conf")
with open(kcfg, "w") as f:
    f.write(khal_conf({"node": f"{local}/"}, default="node"))
env = dict(os.environ, HOME=work)


def vdirsyncer(*a):
    p = subprocess.run([os.path.join(venv_bin, "vdirsyncer"), "-c", vcfg, *a], env=env,
                       input="y\n" * 5, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"vdirsyncer {a}: {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")


def khal(*a):
    p = subprocess.run([os.path.join(venv_bin, "khal"), "-c", kcfg, *a], env=env,
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"khal {a}: {p.stderr[-2000:]}")
    return p.stdout


vdirsyncer("discover")
vdirsyncer("sync")
pulled = os.listdir(local)
check(any(weekly_uid.split("@")[0] in open(os.path.join(local, n)).read() for n in pulled),
      f"vdirsyncer pulled the weekly event: {pulled}")
title = f"Khal hack night {run_id}"
# A day of its own, so that a second run on the same nodes is not taken for the same event.
day = f"2027-04-{10 + int(run_id[:2], 16) % 18:02d}"
khal("new", f"{day} 18:30", "20:30", title, "::", "made with khal")
vdirsyncer("sync")
made = [n for n in os.listdir(local) if title in open(os.path.join(local, n)).read()]
check(len(made) == 1, f"khal wrote one file: {made}")
khal_uid = ""
if made:
    for line in open(os.path.join(local, made[0])).read().splitlines():
        if line.startswith("UID:"):
            khal_uid = line[4:].strip()
check(khal_uid and title in vevent_of(feed(base), khal_uid), "khal's event is in the node's feed")
wait_for(lambda: title in vevent_of(held(sister, khal_uid), khal_uid), "khal's event at the sister node")


class Form(html.parser.HTMLParser):
    """The fields of the page's forms, as a browser would send them."""

    def __init__(self):
        super().__init__()
        self.fields, self._text, self._select = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            if a.get("type") in ("submit", "button"):
                return
            self.fields.append([a["name"], a.get("value") or ""])
        elif tag == "textarea" and a.get("name"):
            self._text = [a["name"], ""]
            self.fields.append(self._text)
        elif tag == "select" and a.get("name"):
            self._select = [a["name"], ""]
            self.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            if "selected" in a or not self._select[1]:
                self._select[1] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._text = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._text is not None:
            self._text[1] += data


# The event made in the app, edited on the node's web form by the same person.
web = requests.Session()
login = Form()
login.feed(web.get(base + "/login", timeout=10).text)
fields = {k: v for k, v in login.fields}
fields.update(name=user, password=password)
r = web.post(base + "/login", data=fields, timeout=30, allow_redirects=False)
check(r.status_code in (302, 303), f"login: {r.status_code}")
edit_url = f"{base}/my/{requests.utils.quote(khal_uid, safe='')}/edit"
page = web.get(edit_url, timeout=10)
check(page.status_code == 200, f"edit page: {page.status_code}")
form = Form()
form.feed(page.text)
fields = [(k, f"{title}, edited on the web" if k == "title" else v) for k, v in form.fields]
fields.append(("action", "save"))  # the form's Save button
r = web.post(edit_url, data=fields, timeout=30, allow_redirects=False)
check(r.status_code in (302, 303), f"web edit: {r.status_code} {r.text[r.text.find('<main'):][:3000]}")
vdirsyncer("sync")
listed = khal("list", "--format", "{start-time} {title}", day, "1d")
check(f"18:30 {title}, edited on the web" in listed, f"khal lists the web edit: {listed!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"python caldav: save/edit/412/recurring/delete; vdirsyncer + khal two-way; "
      f"web edit synced back ({len(os.listdir(local))} files in the folder)")
