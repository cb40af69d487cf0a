"""caldav-server-tester (python caldav's probe of a server's CalDAV features, the tool its
maintainers grade servers with) against an account's calendar on a real node.

Every feature it grades must be `full`, apart from those listed in EXPECTED below with the
grade they get by design and why. A feature graded otherwise fails the check: a regression,
or a new probe to look at.

caldav-server-tester 1.7.0 stops with an exception on a server that refuses VTODOs and
MKCALENDAR both (its task-calendar set-up calls MKCALENDAR outside its error handling), so
the probe runs with that one call guarded (`--inner` below); nothing else is changed.

Usage: check_server_tester.py NODE_URL ACCOUNT PASSWORD
"""

import re
import subprocess
import sys

# Grades this server gets by design, and why.
ONE_CALENDAR = "each account has one calendar, which exists (MKCALENDAR is refused)"
EVENTS_ONLY = "calendars hold events only: a VTODO or VJOURNAL is refused (403)"
EXPECTED = {
    "create-calendar": ("unsupported", ONE_CALENDAR),
    "create-calendar.auto": ("unsupported", ONE_CALENDAR),
    "delete-calendar": ("unknown", ONE_CALENDAR),
    "delete-calendar.free-namespace": ("unknown", ONE_CALENDAR),
    "synchronous-write.create-calendar": ("unknown", ONE_CALENDAR),
    "synchronous-write.delete-calendar": ("unknown", ONE_CALENDAR),
    "url.encode-at.literal.collection": ("unknown", ONE_CALENDAR),
    "url.encode-at.identity": ("unknown", ONE_CALENDAR),
    "url.encode-at.literal.principal": ("unknown", "the tester probes it on a new calendar"),
    "save.duplicate-uid.cross-calendar": ("unknown", ONE_CALENDAR),
    "get-current-user-principal.has-calendar": ("?", ONE_CALENDAR),
    "save-load.todo": ("unsupported", EVENTS_ONLY),
    "save-load.journal": ("unsupported", EVENTS_ONLY),
    "search.time-range.todo": ("ungraceful", EVENTS_ONLY + "; the probe saves one first"),
    "search.time-range.todo.strict": ("unknown", EVENTS_ONLY),
    "search.recurrences.expanded.todo": ("unknown", EVENTS_ONLY),
    "search.recurrences.includes-implicit.todo": ("unknown", EVENTS_ONLY),
    "search.recurrences.includes-implicit.todo.pending": ("unknown", EVENTS_ONLY),
    "search.time-range.open.start": ("unknown", EVENTS_ONLY + "; the probe needs tasks"),
    "search.time-range.open.end": ("unknown", EVENTS_ONLY + "; the probe needs tasks"),
    "search.time-range.open.start.duration": ("unknown", EVENTS_ONLY + "; the probe needs tasks"),
    "search.time-range.alarm": ("unsupported", "alarms are one person's, not stored (docs/caldav.md)"),
    "scheduling": ("unsupported", "RFC 6638 scheduling is not offered"),
    "save.etag": ("unknown", "a PUT's answer has no ETag: the node stores the event normalised "
                             "(RFC 4791 §5.3.4)"),
    "well-known": ("unknown", "not probed on localhost"),
}
# Probes the tester makes that must come out `full` here (they did not all, before).
MUST_BE_FULL = [
    "freebusy-query", "principal-search", "search.is-not-defined", "search.text.case-sensitive",
    "search.text.category", "sync-token", "sync-token.limit", "sync-token.limit.initial-sync",
    "calendar-color", "calendar-order", "synchronous-write.proppatch",
    "save-load.event.recurrences.exception", "save-load.event.timezone", "save.no-uid-conflict",
    "search.recurrences.expanded.event",
]


def inner(args):
    import caldav
    import caldav_server_tester.checks as checks
    from caldav_server_tester.caldav_server_tester import check_server_compatibility

    original = checks.PrepareCalendar._prepare_task_calendar

    def guarded(self, *a, **kw):
        try:
            return original(self, *a, **kw)
        except caldav.lib.error.MkcalendarError:
            self.set_feature("save-load.todo", False)
            return False

    checks.PrepareCalendar._prepare_task_calendar = guarded
    sys.argv = ["caldav-server-tester", *args]
    check_server_compatibility()


def main():
    base, user, password = sys.argv[1:4]
    run = subprocess.run(
        [sys.executable, __file__, "--inner", "--verbose", "--format", "text",
         "--caldav-url", f"{base}/dav/principal/{user}/", "--caldav-username", user,
         "--caldav-password", password, "--caldav-calendar", f"DisCal ({user})"],
        capture_output=True, text=True, timeout=900)
    grades = dict(re.findall(r"^## (\S+)\nFeature support level found: (\S+)", run.stdout, re.M))
    failures = []
    if run.returncode != 0 or len(grades) < 60:
        failures.append(f"the tester ran badly (exit {run.returncode}, {len(grades)} features):\n"
                        f"{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    for feature, grade in sorted(grades.items()):
        want = EXPECTED.get(feature, ("full", ""))[0]
        if grade != want:
            failures.append(f"{feature}: {grade}, expected {want}")
    for feature in MUST_BE_FULL:
        if grades.get(feature) != "full":
            failures.append(f"{feature}: {grades.get(feature, 'not graded')}, must be full")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    full = sum(1 for g in grades.values() if g == "full")
    print(f"caldav-server-tester: {len(grades)} features graded, {full} full, the rest by design")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inner"]:
        inner(sys.argv[2:])
    else:
        main()
