"""A WebSub subscriber that is not DisCal follows a real `discal` node's feed and checks every
push with http-message-signatures, an independent RFC 9421 implementation (pyauth), against
the key the node publishes at /.well-known/discal-push.

Usage: push_receiver.py path/to/discal

It runs `discal init` and `discal run` in a temporary directory (hub registrations "auto",
callbacks on loopback allowed), subscribes to /feed.ics?tags=python at /websub, answers the
intent check, adds two events with `discal event add` (one tagged python) and expects exactly
the tagged one, signed with ed25519 over method, target URI, content type and Content-Digest,
with X-HOP:1. A body changed after signing must fail verification.
"""

import http.server
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import requests
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import InvalidSignature

discal = sys.argv[1]
work = tempfile.mkdtemp()
data = os.path.join(work, "node")
challenges = queue.Queue()
pushes = queue.Queue()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        challenges.put(q)
        body = q.get("hub.challenge", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        pushes.put((self.path, dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % server.server_address[1]

subprocess.run(
    [discal, "init", "--data-dir", data, "--http", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"],
    check=True,
    capture_output=True,
)
with open(os.path.join(data, "config.toml"), "a") as f:
    f.write('\n[push]\nregistrations = "auto"\nallow_private_callbacks = true\n')
node = subprocess.Popen([discal, "run", "--data-dir", data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
try:
    addr_file = os.path.join(data, "http.addr")
    for _ in range(300):
        if os.path.exists(addr_file) and open(addr_file).read().strip():
            break
        time.sleep(0.1)
    url = "http://" + open(addr_file).read().strip()

    wk = json.load(urllib.request.urlopen(url + "/.well-known/discal-push"))
    assert wk["alg"] == "ed25519", wk
    pem = wk["public_key_pem"].encode()

    topic = url + "/feed.ics?tags=python"
    r = requests.post(
        url + "/websub",
        data={"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": base + "/cb"},
        timeout=30,
    )
    assert r.status_code == 202, (r.status_code, r.text)
    q = challenges.get(timeout=60)
    assert q["hub.mode"] == "subscribe" and q["hub.topic"] == topic, q

    def add(title, tags):
        subprocess.run(
            [discal, "event", "add", "--data-dir", data, "--title", title, "--start", "2027-03-04T19:00",
             "--tz", "Europe/Berlin", "--duration", "2h", "--tags", tags],
            check=True,
            capture_output=True,
        )

    add("Gardening club", "garden")
    add("Python meetup", "python")
    path, headers, body = pushes.get(timeout=60)

    class Keys(HTTPSignatureKeyResolver):
        def resolve_public_key(self, key_id):
            assert key_id == wk["keyid"], key_id
            return pem

    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=Keys())

    def check(b):
        prepared = requests.Request("POST", base + path, headers=headers, data=b).prepare()
        return verifier.verify(
            prepared,
            body=b,
            require_components=("@method", "@target-uri", "content-type", "content-digest"),
        )

    result = check(body)
    assert result and result[0].parameters.get("nonce"), result
    text = body.decode().replace("\r\n ", "")
    assert "SUMMARY:Python meetup" in text, text
    assert "X-HOP:1\r\n" in text, text
    try:
        check(body.replace(b"Python meetup", b"Free beer"))
        raise SystemExit("a changed body passed verification")
    except InvalidSignature:
        pass
    # The untagged event never comes: the next push, after a third event, is python again.
    add("Python sprint", "python")
    _, _, second = pushes.get(timeout=60)
    assert b"SUMMARY:Python sprint" in second.replace(b"\r\n ", b""), second
    assert pushes.empty()
    print("push receiver: intent, filter and RFC 9421 ed25519 signatures checked")
finally:
    node.terminate()
    try:
        node.wait(timeout=30)
    except subprocess.TimeoutExpired:
        node.kill()
    server.shutdown()
