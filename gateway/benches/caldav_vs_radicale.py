"""Side-by-side CalDAV benchmark: DisCal's gateway against Radicale 3 (from PyPI), one run, same
machine, same 10,000-event data set (500 recurring; exported by dav_bench_server, so both
servers hold byte-identical items).

Operations: PROPFIND Depth 1 on the calendar, calendar-query for one month, calendar-multiget of
100 items, the initial sync-collection, and a delta sync after 10 changes. Each is measured

- cold: the first request after the server started. The server is restarted for each sample
  and the table gives the median of --cold-starts of them;
- warm: the same request again to the same process: 3 repeats in each start for DisCal, 1 for
  Radicale, so that cold and warm samples see the same moods of a shared machine; the table
  gives their median.

Both are sent the same way, as a calendar client's periodic sync arrives: after --pause seconds
without traffic, on a new connection. So the two differ only in what the process has done
before, not in the machine's state: on a VM an idle vCPU halts, and the first request after
any pause waits for its wake-up, which back-to-back repeats never see. Back-to-back repeats on
one kept-alive connection are measured too and printed in a second table. For DisCal the
script also prints the handler's own time, from the `Server-Timing` header that
dav_bench_server adds. The client is a minimal HTTP/1.1 one (class Lean), the same for both
servers. Radicale's on-disk item cache is built once before the measured runs,
so its "cold" figures do not include that one-time cost.

Usage (from the repository root, after `cargo build --release -p discal-gateway --example
dav_bench_server` and `pip install radicale==3.9.0`):
    python gateway/benches/caldav_vs_radicale.py [--repeats N] [--cold-starts N] [--pause S]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lean_http import Lean, start_radicale  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=5, help="Radicale's back-to-back repeats")
ap.add_argument("--cold-starts", type=int, default=9)
ap.add_argument("--pause", type=float, default=0.3)
ap.add_argument("--server", default="target/release/examples/dav_bench_server")
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="discal-radicale-")
coll_dir = os.path.join(work, "collection-root", "bench", "cal")

MONTH = ("20270301T000000Z", "20270401T000000Z")
PROPFIND = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:propfind>'
QUERY = f'''<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{MONTH[0]}" end="{MONTH[1]}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'''
SYNC = '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'


def multiget(hrefs):
    hs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hs}</C:calendar-multiget>'


class Server:
    auth = {}

    def start(self):
        raise NotImplementedError

    def request(self, method, path, body="", depth="1"):
        headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8", **self.auth}
        t = time.perf_counter()
        status, hdrs, data = self.conn.request(method, path, body.encode(), headers)
        dt = (time.perf_counter() - t) * 1000
        m = re.search(r"dur=([0-9.]+)", hdrs.get("server-timing", ""))
        self.handler_ms = float(m.group(1)) if m else None
        if status not in (200, 207):
            raise SystemExit(f"{self.name} {method} {path}: HTTP {status} {data[:300]!r}")
        return dt, data.decode("utf-8", "replace")

    def connect(self):
        if getattr(self, "conn", None) is not None:
            self.conn.close()
        self.conn = Lean(self.port)


class DisCal(Server):
    name = "DisCal"

    def start(self, export=False):
        cmd = [args.server] + ([coll_dir] if export else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        url = self.proc.stdout.readline().strip()
        self.port = int(url.rsplit(":", 1)[1])
        self.coll = "/dav/calendars/all/"
        self.connect()

    def change(self, n):
        self.proc.stdin.write(f"change {n}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Radicale(Server):
    name = "Radicale"
    # Radicale has no anonymous access: with auth type "none" any name logs in; the calendar
    # belongs to user "bench" (rights "owner_only").
    auth = {"Authorization": "Basic YmVuY2g6eA=="}

    def start(self):
        self.proc, self.port = start_radicale(work, "--auth-type", "none")
        self.coll = "/bench/cal/"
        self.connect()

    def change(self, n, source):
        # The same 10 events, changed the same way: the new ICS as DisCal now serves it.
        for i in range(n):
            status, _, ics = source.conn.request("GET", f"/dav/calendars/all/{source.item_name(i)}")
            assert status == 200, status
            status, _, _ = self.conn.request("PUT", f"{self.coll}ev-{i}_bench.ics", ics,
                                             {"Content-Type": "text/calendar; charset=utf-8", **self.auth})
            assert status in (201, 204), status

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def hrefs_of(body):
    return re.findall(r"<(?:\w+:)?href>([^<]+\.ics)</(?:\w+:)?href>", body)


def token_of(body):
    m = re.search(r"<(?:\w+:)?sync-token>([^<]+)</(?:\w+:)?sync-token>", body)
    return m.group(1)


# Data: DisCal exports its items for Radicale.
discal = DisCal()
discal.start(export=True)
ours_first = None
_, body = discal.request("PROPFIND", discal.coll, PROPFIND)
discal_items = sorted(hrefs_of(body))
DisCal.item_name = lambda self, i: next(h.rsplit("/", 1)[1] for h in discal_items if f"~ev-{i}@bench" in h or f"~ev-{i}%40bench" in h)
discal.stop()
print(f"data: {len(discal_items)} events in each server ({len(os.listdir(coll_dir)) - 1} files for Radicale)")
rad = Radicale()
rad.start()
t = time.perf_counter()
_, body = rad.request("PROPFIND", rad.coll, PROPFIND)
rad_items = sorted(hrefs_of(body))
print(f"Radicale: first PROPFIND after import (builds its item cache) {time.perf_counter() - t:.1f} s, {len(rad_items)} items")
rad.stop()
assert len(rad_items) == len(discal_items), (len(rad_items), len(discal_items))


def ops(server, items):
    hundred = items[:: max(1, len(items) // 100)][:100]
    return [
        ("PROPFIND Depth 1 (10,000 items)", lambda: server.request("PROPFIND", server.coll, PROPFIND, "1")),
        ("calendar-query, one month", lambda: server.request("REPORT", server.coll, QUERY, "1")),
        ("calendar-multiget, 100 items", lambda: server.request("REPORT", server.coll, multiget(hundred), "1")),
        ("initial sync-collection", lambda: server.request("REPORT", server.coll, SYNC.format(""), "1")),
    ]


results = {}
colds = {}


def median(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def measure(server, name, fn, prepare=lambda: None):
    """Cold: the first request after each of --cold-starts starts. Warm: repeats of it in the
    same starts, after the same pause and on new connections, so that cold and warm samples
    share the machine's moods; back to back: repeats on one connection, in the first start."""
    n = 1 if server is rad else 3
    cold, warm, b2b, h_cold, h_warm, paired, body = [], [], [], [], [], [], None
    for k in range(args.cold_starts):
        server.start()
        prepare()
        time.sleep(args.pause)
        server.connect()
        dt, body = fn()
        cold.append(dt)
        h_cold.append(server.handler_ms)
        mine = []
        for _ in range(n):
            time.sleep(args.pause)
            server.connect()
            warm.append(fn()[0])
            h_warm.append(server.handler_ms)
            mine.append(warm[-1])
        paired.append(dt / statistics.median(mine))
        if k == 0:
            b2b = [fn()[0] for _ in range(args.repeats if server is rad else 30)]
        server.stop()
    colds[(server.name, name)] = cold
    results[(server.name, name)] = dict(
        cold=median(cold), warm=median(warm), b2b=median(b2b),
        h_cold=median(h_cold), h_warm=median(h_warm), paired=median(paired), body=body)


for server, items in ((discal, discal_items), (rad, rad_items)):
    for k in range(len(ops(server, items))):
        name, fn = ops(server, items)[k]
        measure(server, name, fn)

# Delta sync after 10 changes: token from an initial sync, 10 changes, then the delta.
name = "delta sync after 10 changes"
discal.start()
_, body = discal.request("REPORT", discal.coll, SYNC.format(""), "1")
dtoken = token_of(body)
discal.change(10)
rad.start()
_, body = rad.request("REPORT", rad.coll, SYNC.format(""), "1")
rtoken = token_of(body)
rad.change(10, discal)
rad.stop()
discal.stop()
tokens = {"DisCal": dtoken, "Radicale": rtoken}


def replay():
    # A restarted bench server has a fresh store: replay the same history first, then
    # measure on a new connection.
    _, body = discal.request("REPORT", discal.coll, SYNC.format(""), "1")
    tokens["DisCal"] = token_of(body)
    discal.change(10)


for server in (discal, rad):
    fn = lambda: server.request("REPORT", server.coll, SYNC.format(tokens[server.name]), "1")
    measure(server, name, fn, replay if server is discal else lambda: None)
    changed = len(hrefs_of(results[(server.name, name)]["body"]))
    assert changed == 10, f"{server.name}: delta has {changed} items"

shutil.rmtree(work, ignore_errors=True)
names = [n for n, _ in ops(discal, discal_items)] + [name]

def ms(x):
    return "–" if x is None else f"{x:.1f} ms" if x < 100 else f"{x:.0f} ms"


print()
print(f"Requests after a {args.pause} s pause, on a new connection (cold: median of {args.cold_starts} starts):")
print()
print("| operation | DisCal cold | DisCal warm | Radicale cold | Radicale warm | ratio cold | ratio warm | DisCal handler cold / warm |")
print("|---|---|---|---|---|---|---|---|")
worst = None
for n in names:
    d, r = results[("DisCal", n)], results[("Radicale", n)]
    print(f"| {n} | {ms(d['cold'])} | {ms(d['warm'])} | {ms(r['cold'])} | {ms(r['warm'])} "
          f"| {r['cold'] / d['cold']:.0f}× | {r['warm'] / d['warm']:.0f}× | {ms(d['h_cold'])} / {ms(d['h_warm'])} |")
    worst = min(worst or 1e9, r["cold"] / d["cold"], r["warm"] / d["warm"])
print()
print("Warm repeats back to back on one kept-alive connection:")
print()
print("| operation | DisCal | Radicale | ratio |")
print("|---|---|---|---|")
for n in names:
    d, r = results[("DisCal", n)], results[("Radicale", n)]
    print(f"| {n} | {ms(d['b2b'])} | {ms(r['b2b'])} | {r['b2b'] / d['b2b']:.0f}× |")
    worst = min(worst, r["b2b"] / d["b2b"])
print()
print("every cold sample, ms:")
for n in names:
    for server in ("DisCal", "Radicale"):
        print(f"  {server:8} {n}: " + " ".join(f"{x:.1f}" for x in colds[(server, n)]))
print()
q = results[("DisCal", "calendar-query, one month")]
print(f"slowest ratio {worst:.0f}× (target ≥ 20×); DisCal month query warm {q['warm']:.1f} ms, "
      f"cold {q['cold']:.1f} ms, back to back {q['b2b']:.1f} ms (target ≤ 20 ms)")
print("DisCal cold / warm (target: cold as fast as warm), ratio of the medians; median over the "
      "starts of each cold request against the warm ones of its start; handler time:")
for n in names:
    d = results[("DisCal", n)]
    print(f"  {n}: {d['cold'] / d['warm']:.2f}; {d['paired']:.2f}; handler {d['h_cold'] / d['h_warm']:.2f}")
