"""Is a cold CalDAV request slow because the process is new, or because the server was idle?

Starts `dav_bench_server` five times and times one request kind four ways: the first request
after the start (cold, as in caldav_vs_radicale.py), back-to-back repeats on one connection
(the benchmark's warm), and repeats after 0.3 s of idle on the same or on a new connection.
If cold matches "after idle", nothing is left to warm in the process.

Usage, after `cargo build --release -p discal-gateway --example dav_bench_server`:
    python3 gateway/benches/caldav_cold_vs_idle.py target/release/examples/dav_bench_server [q|mg|sync]
(q: the one-month calendar-query; mg: multiget of 100 items; sync: initial sync-collection)
"""

import http.client, subprocess, statistics, time, sys, os
srv = sys.argv[1]
MONTH = ("20270301T000000Z", "20270401T000000Z")
Q = f'''<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{MONTH[0]}" end="{MONTH[1]}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'''
def start():
    p = subprocess.Popen([srv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline().strip().rsplit(":",1)[1]); return p, port
import re
PROPFIND = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:propfind>'
SYNC = '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token></D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'
op = sys.argv[2] if len(sys.argv) > 2 else "q"
if op == "mg":
    p0, port0 = start(); c0 = http.client.HTTPConnection("127.0.0.1", port0)
    c0.request("PROPFIND", "/dav/calendars/all/", body=PROPFIND.encode(), headers={"Depth":"1"}); body = c0.getresponse().read().decode()
    items = sorted(re.findall(r"<(?:\w+:)?href>([^<]+\.ics)</", body)); p0.stdin.close(); p0.wait()
    hs = "".join(f"<D:href>{h}</D:href>" for h in items[::len(items)//100][:100])
    Q = f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hs}</C:calendar-multiget>'
if op == "sync": Q = SYNC
def req(c):
    t = time.perf_counter(); c.request("REPORT", "/dav/calendars/all/", body=Q.encode(), headers={"Depth":"1","Content-Type":"application/xml"}); c.getresponse().read(); return (time.perf_counter()-t)*1000
cold, hot, idle_same, idle_new = [], [], [], []
for i in range(5):
    p, port = start(); c = http.client.HTTPConnection("127.0.0.1", port)
    cold.append(req(c))
    for k in range(10): hot.append(req(c))
    for k in range(4):
        time.sleep(0.3); idle_same.append(req(c))
    for k in range(4):
        time.sleep(0.3); c2 = http.client.HTTPConnection("127.0.0.1", port); idle_new.append(req(c2)); c2.close()
    p.stdin.close(); p.wait()
m = lambda v: f"{statistics.median(v):.1f}"
print("cold", m(cold), "| back-to-back", m(hot), "| after 0.3 s idle, same connection", m(idle_same), "| after 0.3 s idle, new connection", m(idle_new))
