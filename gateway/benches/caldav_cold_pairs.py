"""Cold against warm for one CalDAV request, paired within each start of the server.

Starts `dav_bench_server` --starts times. In each start: after a 0.3 s pause, on a new
connection, the first request (cold), then 4 more alike (warm). Prints, per start, the
client's time and the handler's own (the `Server-Timing` header), and at the end the
medians over the starts of cold / median warm. Pairing within a start keeps the machine's
moods (steal time, other load) out of the comparison, which medians of separate samples on
a shared 2-core VM do not.

With `window`, each start asks the month query for March, then once more for a month not
asked before (April): a first query of a window in a warm process, against a first query of
the process.

Usage, after `cargo build --release -p discal-gateway --example dav_bench_server`:
    python3 gateway/benches/caldav_cold_pairs.py target/release/examples/dav_bench_server {q|mg|sync|propfind|window} [starts]
"""

import http.client
import re
import statistics
import subprocess
import sys
import time

srv, op = sys.argv[1], sys.argv[2]
starts = int(sys.argv[3]) if len(sys.argv) > 3 else 10
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
DATA = "<D:prop><D:getetag/><C:calendar-data/></D:prop>"


def query(a, b):
    return (f'<C:calendar-query {NS}>{DATA}<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{a}" end="{b}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')


MARCH = query("20270301T000000Z", "20270401T000000Z")
APRIL = query("20270401T000000Z", "20270501T000000Z")
SYNC = f"<D:sync-collection {NS}><D:sync-token></D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
PROPFIND = f"<D:propfind {NS}><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:propfind>"


def start():
    p = subprocess.Popen([srv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline().strip().rsplit(":", 1)[1])


def req(port, method, body, pause=0.3):
    time.sleep(pause)
    c = http.client.HTTPConnection("127.0.0.1", port)
    t = time.perf_counter()
    c.request(method, "/dav/calendars/all/", body=body.encode(), headers={"Depth": "1", "Content-Type": "application/xml"})
    r = c.getresponse()
    data = r.read()
    dt = (time.perf_counter() - t) * 1000
    assert r.status == 207, r.status
    return dt, float(re.search(r"dur=([0-9.]+)", r.getheader("Server-Timing")).group(1)), data.decode()


method, body = {"q": ("REPORT", MARCH), "window": ("REPORT", MARCH), "sync": ("REPORT", SYNC),
                "propfind": ("PROPFIND", PROPFIND), "mg": ("PROPFIND", PROPFIND)}[op]
if op == "mg":
    p, port = start()
    items = sorted(re.findall(r"<(?:\w+:)?href>([^<]+\.ics)</", req(port, "PROPFIND", PROPFIND, 0)[2]))
    p.stdin.close()
    p.wait()
    hs = "".join(f"<D:href>{h}</D:href>" for h in items[:: len(items) // 100][:100])
    method, body = "REPORT", f"<C:calendar-multiget {NS}>{DATA}{hs}</C:calendar-multiget>"
pairs = []
for i in range(starts):
    p, port = start()
    cold = req(port, method, body)
    warm = [req(port, method, body) for _ in range(4)]
    w = (statistics.median(x[0] for x in warm), statistics.median(x[1] for x in warm))
    line = f"start {i}: client cold {cold[0]:.2f} warm {w[0]:.2f} ms | handler cold {cold[1]:.2f} warm {w[1]:.2f} ms"
    row = [cold[0] / w[0], cold[1] / w[1]]
    if op == "window":
        first = req(port, "REPORT", APRIL)
        again = statistics.median(req(port, "REPORT", APRIL)[1] for _ in range(3))
        line += f" | April first {first[1]:.2f} then {again:.2f} ms"
        row.append(first[1] / again)
    p.stdin.close()
    p.wait()
    pairs.append(row)
    print(line)
cols = list(zip(*pairs))
print(f"medians over {starts} starts: client cold/warm {statistics.median(cols[0]):.2f}, handler cold/warm {statistics.median(cols[1]):.2f}"
      + (f", April first/again (handler) {statistics.median(cols[2]):.2f}" if op == "window" else ""))
