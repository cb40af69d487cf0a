"""Side-by-side CalDAV write benchmark: a real DisCal node (the `discal` binary) against
Radicale 3.9 (from PyPI), one run, same machine, same client, same requests.

Each server holds an account's calendar with --prefill events (made before the measured runs),
then takes --events PUT creates (`If-None-Match: *`), PUT updates (`If-Match` with the ETag the
create returned) and DELETEs (`If-Match`), the two servers taking turns request by request, so
each pair of requests sees the same moods of a shared machine. The table gives each server's
median and the median of the paired ratios (Radicale's time / DisCal's).

Then the same run again with a floor in DisCal's place (gateway/examples/flush_floor.rs): a
server that only reads each request and makes a record of it durable (`pwrite` + `fdatasync`),
with no calendar parsing, credentials, index or signing. Its ratio to Radicale is about the most
this machine allows that day, and the difference between the two ratios is what DisCal's own
work costs; a slow disk or a slow day lowers both. The last column, `of floor`, is DisCal's
ratio as a share of the floor's.

Both acknowledge a write only once it is durable: DisCal's store flushes (fsync) before the
node answers, Radicale fsyncs each item (its default, `filesystem_fsync`). Both check Basic
credentials: DisCal with the account's argon2 password (verified once, then remembered for
the connection's credentials), Radicale with a plain htpasswd file and its login cache.

Usage (from the repository root, after `cargo build --release -p discal-node` and
`pip install radicale==3.9.0`):
    python gateway/benches/caldav_write_vs_radicale.py [--events N] [--prefill N] [--pause S]

With --pause, each request waits that long after the previous answer, so that neither server
is still busy with the other's work (or its own) when a request arrives, as when a person
saves events one by one; without it the requests go back to back.
"""

import argparse
import base64
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
ap.add_argument("--events", type=int, default=200)
ap.add_argument("--prefill", type=int, default=300)
ap.add_argument("--discal", default="target/release/discal")
ap.add_argument("--floor", default="target/release/examples/flush_floor",
                help="the floor server (built with cargo if missing); 'none' to skip that run")
ap.add_argument("--pause", type=float, default=0.0,
                help="seconds to wait before each measured request (0: back to back)")
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="discal-write-bench-")
USER, PASSWORD = "bench", "bench password 1"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def ics(i, summary):
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//caldav write//EN\r\n"
        "BEGIN:VEVENT\r\n"
        f"UID:bench-{i}@example.org\r\n"
        "DTSTAMP:20261201T120000Z\r\n"
        f"DTSTART;TZID=Europe/Berlin:2027{1 + i % 12:02d}{1 + i % 28:02d}T190000\r\n"
        f"DTEND;TZID=Europe/Berlin:2027{1 + i % 12:02d}{1 + i % 28:02d}T210000\r\n"
        f"SUMMARY:{summary} {i}\r\n"
        "LOCATION:c-base\\, Rungestraße 20\\, Berlin\r\n"
        "DESCRIPTION:Monthly meetup of the local free-software group: short talks\\, an install\r\n"
        " party corner\\, and time to work on your projects together.\r\n"
        "CATEGORIES:free-software,meetup\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


class Server:
    def request(self, method, path, body=b"", headers=None):
        h = {**AUTH, **(headers or {})}
        if body:
            h["Content-Type"] = "text/calendar; charset=utf-8"
        t = time.perf_counter()
        status, hdrs, data = self.conn.request(method, path, body, h)
        return (time.perf_counter() - t) * 1000, status, hdrs, data

    def item(self, i):
        return f"{self.coll}bench-{i}.ics"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class DisCal(Server):
    name = "DisCal"

    def start(self):
        data = os.path.join(work, "discal")
        subprocess.run([args.discal, "init", "--data-dir", data, "--http", "127.0.0.1:0",
                        "--listen", "/ip4/127.0.0.1/tcp/0"], check=True, capture_output=True)
        subprocess.run([args.discal, "user", "add", USER, "--role", "user", "--password-stdin",
                        "--data-dir", data], input=PASSWORD.encode(), check=True, capture_output=True)
        self.log = open(os.path.join(work, "discal.log"), "w+")
        self.proc = subprocess.Popen([args.discal, "run", "--data-dir", data],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        for _ in range(600):
            self.log.seek(0)
            m = re.search(r"http: *http://127\.0\.0\.1:(\d+)/", self.log.read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        else:
            raise SystemExit("discal run did not start")
        self.coll = f"/dav/calendars/users/{USER}/"
        self.conn = Lean(self.port)


class Floor(Server):
    name = "floor"

    def start(self):
        if not os.path.exists(args.floor):
            subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "discal-gateway",
                            "--example", "flush_floor"], check=True)
        data = os.path.join(work, "floor")
        os.makedirs(data, exist_ok=True)
        self.proc = subprocess.Popen([args.floor, data], stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())
        self.coll = f"/dav/calendars/users/{USER}/"
        self.conn = Lean(self.port)


class Radicale(Server):
    name = "Radicale"

    def start(self):
        htpasswd = os.path.join(work, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write(f"{USER}:{PASSWORD}\n")
        self.proc, self.port = start_radicale(
            os.path.join(work, "radicale"), "--auth-type", "htpasswd",
            "--auth-htpasswd-filename", htpasswd, "--auth-htpasswd-encryption", "plain")
        self.coll = f"/{USER}/cal/"
        self.conn = Lean(self.port)
        _, status, _, data = self.request("MKCALENDAR", self.coll)
        assert status == 201, (status, data)


def expect(server, what, status, want, data):
    if status not in want:
        raise SystemExit(f"{server.name} {what}: HTTP {status} {data[:300]!r}")


def bare_flush_us(n=100, gap=0.004):
    """This disk's cost of a durable write, to read the figures by: the median of n 700-byte
    `pwrite`s over written blocks, each followed by `fdatasync`, `gap` seconds apart (about the
    pace DisCal's requests come at here). DisCal's DELETE is mostly this; Radicale's is mostly
    Python, so on a disk with slower flushes the ratio drops."""
    path = os.path.join(work, "flush-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"\0" * (n * 700), 0)
        os.fsync(fd)
        times = []
        for i in range(n):
            time.sleep(gap)
            t = time.perf_counter()
            os.pwrite(fd, b"x" * 700, i * 700)
            os.fdatasync(fd)
            times.append((time.perf_counter() - t) * 1e6)
        return statistics.median(times)
    finally:
        os.close(fd)
        os.unlink(path)


flush_us = bare_flush_us()
radicale = Radicale()
servers = [DisCal(), radicale]
floor = None if args.floor == "none" else Floor()
for s in servers + ([floor] if floor else []):
    s.start()
    for i in range(args.prefill):
        _, status, _, data = s.request("PUT", s.item(-1 - i), ics(-1 - i, "Prefilled"),
                                       {"If-None-Match": "*"})
        expect(s, "prefill", status, (201,), data)
# A fresh connection to each: one left idle through the other's prefill may have been closed
# by its server's idle timeout.
for s in servers + ([floor] if floor else []):
    s.conn.close()
    s.conn = Lean(s.port)

times = {}
etags = {}


def run(op, i, s):
    if op == "create":
        ms, status, hdrs, data = s.request("PUT", s.item(i), ics(i, "Meetup"), {"If-None-Match": "*"})
        expect(s, op, status, (201,), data)
    elif op == "update":
        ms, status, hdrs, data = s.request("PUT", s.item(i), ics(i, "Meetup, new room"),
                                           {"If-Match": etags[s.name, i]})
        expect(s, op, status, (200, 204), data)
    else:
        ms, status, hdrs, data = s.request("DELETE", s.item(i), b"", {"If-Match": etags[s.name, i]})
        expect(s, op, status, (200, 204), data)
    etags[s.name, i] = hdrs.get("etag")
    if op != "delete" and not etags[s.name, i]:
        # No ETag in the answer: ask for it, outside the measured time.
        _, _, hdrs, _ = s.request("GET", s.item(i))
        etags[s.name, i] = hdrs["etag"]
    times.setdefault((s.name, op), []).append(ms)


def paired(pair, first):
    """The measured run: `pair` take turns request by request, which one goes first
    alternating; the events are numbered from `first`."""
    for op in ("create", "update", "delete"):
        for i in range(first, first + args.events):
            for s in (pair if i % 2 == 0 else pair[::-1]):
                if args.pause:
                    time.sleep(args.pause)
                run(op, i, s)


try:
    paired(servers, 0)
    if floor:
        # Radicale's calendar holds the same events at each step as in the first run.
        saved = {op: times.pop(("Radicale", op)) for op in ("create", "update", "delete")}
        paired([floor, radicale], args.events)
        for op in ("create", "update", "delete"):
            times["Radicale/floor", op] = times.pop(("Radicale", op))
            times["Radicale", op] = saved[op]
except BaseException:
    for s in servers + ([floor] if floor else []):
        s.stop()
    shutil.rmtree(work, ignore_errors=True)
    raise

print(f"CalDAV writes, {args.events} events each after {args.prefill} prefilled, "
      f"one client on one kept-alive connection, {args.pause * 1000:.0f} ms before each request")
print(f"this disk: a 700-byte pwrite + fdatasync 4 ms after the last takes {flush_us:.0f} µs "
      "(median of 100, before the runs)")


def ratios(fast, slow):
    return sorted(b / a for a, b in zip(times[fast], times[slow]))


head = f"{'operation':<12}{'DisCal ms':>12}{'Radicale ms':>14}{'paired ratio':>15}{'p10 ratio':>12}"
if floor:
    head += f"{'floor ms':>11}{'floor ratio':>14}{'of floor':>10}"
print(head)
for op in ("create", "update", "delete"):
    r = ratios(("DisCal", op), ("Radicale", op))
    line = (f"{'PUT ' + op if op != 'delete' else 'DELETE':<12}"
            f"{statistics.median(times['DisCal', op]):>12.2f}"
            f"{statistics.median(times['Radicale', op]):>14.2f}{statistics.median(r):>14.1f}×"
            f"{r[len(r) // 10]:>11.1f}×")
    if floor:
        f = ratios(("floor", op), ("Radicale/floor", op))
        line += (f"{statistics.median(times['floor', op]):>11.2f}{statistics.median(f):>13.1f}×"
                 f"{statistics.median(r) / statistics.median(f):>10.2f}")
    print(line)
if floor:
    print("floor: a server that only makes each request durable, paired with Radicale in a "
          "second run; its ratio is about the most this machine allows today, and 'of floor' "
          "is DisCal's ratio as a share of it (the rest is DisCal's own work)")
for s in servers + ([floor] if floor else []):
    s.stop()
shutil.rmtree(work, ignore_errors=True)
