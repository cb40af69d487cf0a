"""Side-by-side CalDAV benchmark: DisCal's gateway against Radicale 3 (from PyPI), one run, same
machine, same 10,000-event data set (500 recurring; exported by dav_bench_server, so both
servers hold byte-identical items).

Operations: PROPFIND Depth 1 on the calendar, calendar-query for one month, calendar-multiget of
100 items, the initial sync-collection, and a delta sync after 10 changes. Each is measured
cold (the first request after the server started, on a new connection; the server is
restarted for each cold request, and the table gives the median of --cold-starts of them: one
sample on a shared 2-core machine varied from 1.4 to 4.3 ms) and warm (median of repeats
within one start). Radicale's on-disk item cache is built once before the measured runs, so its
"cold" figures do not include that one-time cost.

Usage (from the repository root, after `cargo build --release -p discal-gateway --example
dav_bench_server` and `pip install radicale==3.9.0`):
    python gateway/benches/caldav_vs_radicale.py [--repeats N] [--cold-starts N]
"""

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=7)
ap.add_argument("--cold-starts", type=int, default=5)
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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    auth = {}

    def start(self):
        raise NotImplementedError

    def request(self, method, path, body="", depth="1"):
        t = time.perf_counter()
        self.conn.request(method, path, body=body.encode(),
                          headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8", **self.auth})
        r = self.conn.getresponse()
        data = r.read()
        dt = (time.perf_counter() - t) * 1000
        if r.status not in (200, 207):
            raise SystemExit(f"{self.name} {method} {path}: HTTP {r.status} {data[:300]!r}")
        return dt, data.decode("utf-8", "replace")

    def connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)


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
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{self.port}",
             "--storage-filesystem-folder", work, "--auth-type", "none", "--rights-type", "owner_only",
             "--logging-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        self.coll = "/bench/cal/"
        self.connect()

    def change(self, n, source):
        # The same 10 events, changed the same way: the new ICS as DisCal now serves it.
        for i in range(n):
            src = source.conn
            src.request("GET", f"/dav/calendars/all/{source.item_name(i)}")
            r = src.getresponse()
            ics = r.read()
            assert r.status == 200
            self.conn.request("PUT", f"{self.coll}ev-{i}_bench.ics", body=ics,
                              headers={"Content-Type": "text/calendar; charset=utf-8", **self.auth})
            r = self.conn.getresponse()
            r.read()
            assert r.status in (201, 204), r.status

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


def measure(server, name, fn, prepare=lambda: None):
    """Cold: the first request after each of --cold-starts starts; warm: repeats after the first."""
    cold, warm, body = [], [], None
    for k in range(args.cold_starts):
        server.start()
        prepare()
        dt, body = fn()
        cold.append(dt)
        if k == 0:
            warm = [fn()[0] for _ in range(args.repeats if server is rad else max(args.repeats, 30))]
        server.stop()
    colds[(server.name, name)] = cold
    results[(server.name, name)] = (statistics.median(cold), statistics.median(warm), body)


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
    discal.connect()


for server in (discal, rad):
    fn = lambda: server.request("REPORT", server.coll, SYNC.format(tokens[server.name]), "1")
    measure(server, name, fn, replay if server is discal else lambda: None)
    changed = len(hrefs_of(results[(server.name, name)][2]))
    assert changed == 10, f"{server.name}: delta has {changed} items"

shutil.rmtree(work, ignore_errors=True)
names = [n for n, _ in ops(discal, discal_items)] + [name]
print()
print(f"| operation | DisCal cold (median of {args.cold_starts} starts) | DisCal warm (median) | Radicale cold (median of {args.cold_starts} starts) | Radicale warm (median) | ratio warm | ratio cold |")
print("|---|---|---|---|---|---|---|")
worst = None
for n in names:
    dc, dw, _ = results[("DisCal", n)]
    rc, rw, _ = results[("Radicale", n)]
    print(f"| {n} | {dc:.1f} ms | {dw:.1f} ms | {rc:.0f} ms | {rw:.0f} ms | {rw / dw:.0f}× | {rc / dc:.0f}× |")
    worst = min(worst or 1e9, rw / dw, rc / dc)
print()
print("every cold sample, ms:")
for n in names:
    for server in ("DisCal", "Radicale"):
        print(f"  {server:8} {n}: " + " ".join(f"{x:.1f}" for x in colds[(server, n)]))
q = results[("DisCal", "calendar-query, one month")]
print(f"slowest ratio {worst:.0f}× (target ≥ 20×); DisCal month query warm {q[1]:.1f} ms, cold {q[0]:.1f} ms (target ≤ 20 ms)")
