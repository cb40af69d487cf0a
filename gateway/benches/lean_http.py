"""The benchmarks' HTTP client, the same for every server they compare."""

import socket


class Lean:
    """A minimal HTTP/1.1 client: the request goes out as one prepared buffer and the answer
    is read up to its Content-Length (or its last chunk), on a connection kept open until the
    server closes it. Python's http.client parses headers with the email package and added
    0.3-0.7 ms to each request, a third of a DisCal multiget's time, which is the client's
    cost and no server's. The connection is opened by the first request, inside its time."""

    def __init__(self, port):
        self.port, self.sock, self.buf = port, None, bytearray()

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _line(self):
        while (i := self.buf.find(b"\r\n")) < 0:
            self._fill()
        return self._take(i + 2)[:-2]

    def request(self, method, path, body=b"", headers=()):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=600)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in dict(headers).items()) + "\r\n"
        self.sock.sendall(head.encode() + body)
        version, status = self._line().split()[:2]
        status = int(status)
        hdrs = {}
        while line := self._line():
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status in (204, 304) or 100 <= status < 200 or method == "HEAD":
            data = b""
        elif "content-length" in hdrs:
            data = self._take(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while size := int(self._line().split(b";")[0], 16):
                data += self._take(size + 2)[:-2]
            while self._line():
                pass
        else:
            raise SystemExit(f"{method} {path}: HTTP {status}, an answer without a length")
        keep = hdrs.get("connection", "").lower()
        if keep == "close" or (version == b"HTTP/1.0" and keep != "keep-alive"):
            self.close()
        return status, hdrs, data

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, bytearray()


def free_port():
    """A port the OS has free now, for a server that cannot be told to pick one."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_radicale(storage, *options):
    """Radicale (from this Python's packages) on a free port with `storage`; returns the
    process and the port once it accepts connections."""
    import subprocess
    import sys
    import time

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
         "--storage-filesystem-folder", storage, "--rights-type", "owner_only",
         "--logging-level", "warning", *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port
