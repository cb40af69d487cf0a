#!/usr/bin/env bash
# Gateway interop and browser tests with real third-party clients, as .ci/run runs them:
# python icalendar + recurring-ical-events, the caldav library, vdirsyncer and khal, tsdav, and
# extruct, the referee for event pages (in the repo's .venv), ical.js, playwright-core and axe-core
# (in node_modules here, from package-lock.json) and Debian's chromium (installed if missing).
# They run against target/debug/examples/fixture_server, which serves the test data set (a
# second one over 10,000 events for the home page), a real node for the people pages, and
# node's relay_fixture (three real nodes, A–B–C) for the relay path and proposals.
# Screenshots go to target/screenshots/ (docs/img/ holds the committed copies).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

.venv/bin/python -c "import icalendar, recurring_ical_events, caldav, vdirsyncer, khal" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check \
    "icalendar==7.3.0" "recurring-ical-events==3.8.2" "caldav==3.6.0" "vdirsyncer==0.21.0" "khal==0.14.1"
if [ ! -d "$here/node_modules/ical.js" ] || [ ! -d "$here/node_modules/playwright-core" ] ||
  [ ! -d "$here/node_modules/axe-core" ] || [ ! -d "$here/node_modules/tsdav" ] ||
  [ ! -d "$here/node_modules/vnu-jar" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
missing=()
command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1 || missing+=(chromium)
[ -f /usr/include/libical/ical.h ] || missing+=(libical-dev)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# `cargo test` builds the examples with the workspace's features; building just this one
# would compile much of the tree again with other features. This is a no-op after it.
cargo test --quiet --workspace --locked --no-run
work="$(mktemp -d)"
fifo="$work/stdin"
mkfifo "$fifo"
# The server stops when its stdin closes: hold the fifo open and close it on exit.
target/debug/examples/fixture_server "$work/expected.json" <"$fifo" >"$work/url" &
server=$!
exec 3>"$fifo"
trap 'exec 3>&-; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  [ -s "$work/url" ] && break
  sleep 0.1
done
[ -s "$work/url" ] || { echo "fixture_server did not start"; exit 1; }

# Each check is one test in .ci/run's count: "check NAME: ok" once it has passed (a failure
# stops the script).
check() {
  local name="$1"
  shift
  "$@"
  echo "check $name: ok"
}
check check_feeds.py .venv/bin/python "$here/check_feeds.py" "$work/expected.json"
check check_feeds.mjs node "$here/check_feeds.mjs" "$work/expected.json"
check browser_test.mjs env CHROMIUM="$(command -v "${CHROMIUM:-chromium}")" \
  node "$here/browser_test.mjs" "$work/expected.json" target/screenshots
# The public pages also over a store of 10,000 events (a second fixture, stopped after).
big="$work/big"
mkdir -p "$big"
mkfifo "$big/stdin"
target/debug/examples/fixture_server "$big/expected.json" 10000 <"$big/stdin" >"$big/url" &
big_server=$!
exec 4>"$big/stdin"
for _ in $(seq 1 300); do
  [ -s "$big/url" ] && break
  sleep 0.1
done
[ -s "$big/url" ] || { echo "the 10,000-event fixture_server did not start"; exit 1; }
check public_browser_test.mjs env CHROMIUM="$(command -v "${CHROMIUM:-chromium}")" \
  node "$here/public_browser_test.mjs" "$work/expected.json" target/screenshots "$big/expected.json"
exec 4>&-
wait "$big_server" 2>/dev/null || true
check axe_test.mjs env CHROMIUM="$(command -v "${CHROMIUM:-chromium}")" \
  node "$here/axe_test.mjs" "$work/expected.json"
# The wild corpus (issue 25) imported and read back from DisCal's feed by three parsers.
# (In a directory of its own: the CalDAV check below still reads the fixture's expected.json.)
wild="$work/wild"
mkdir -p "$wild"
target/debug/examples/wild_feed "$wild"
cc -O1 -o "$wild/libical_instants" "$here/libical_instants.c" -lical
"$wild/libical_instants" "$wild/feed.ics" >"$wild/libical.tsv"
check check_wild.py .venv/bin/python "$here/check_wild.py" "$wild/feed.ics" "$wild/expected.json" "$wild/libical.tsv"
check check_wild.mjs node "$here/check_wild.mjs" "$wild/feed.ics" "$wild/expected.json"
# libical's own marks (values it cannot read, RFC 5545 restrictions broken) on the wild
# corpus's feed and the fixture's whole feed: none allowed.
cc -O1 -o "$wild/libical_check" "$here/libical_check.c" -lical
.venv/bin/python -c "import sys, urllib.request; open(sys.argv[2], 'wb').write(urllib.request.urlopen(sys.argv[1]).read())" \
  "$(cat "$work/url")/feed.ics?days=3660" "$wild/fixture.ics"
check libical_check "$wild/libical_check" "$wild/feed.ics"
check libical_check_fixture "$wild/libical_check" "$wild/fixture.ics"
.venv/bin/python -c "import sys, urllib.request; open(sys.argv[2], 'wb').write(urllib.request.urlopen(urllib.request.Request(sys.argv[1], method='REPORT', data=b'<C:free-busy-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><C:time-range start=\"20261201T000000Z\" end=\"20270301T000000Z\"/></C:free-busy-query>')).read())" \
  "$(cat "$work/url")/dav/calendars/all/" "$wild/freebusy.ics"
check libical_check_freebusy "$wild/libical_check" "$wild/freebusy.ics"
.venv/bin/python -c "import vobject" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check "vobject==0.9.9"
check check_vobject.py .venv/bin/python "$here/check_vobject.py" "$wild/feed.ics" "$wild/fixture.ics"
# Event pages (issue 20): extruct, the standard schema.org/microformats extraction library, is
# the referee for what DisCal's spider reads from the page fixtures.
.venv/bin/python -c "import extruct" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check "extruct==0.18.0"
check referee_pages.py .venv/bin/python node/tests/python/referee_pages.py \
  target/debug/examples/read_page node/tests/fixtures/pages
# Push (issue 21): a WebSub subscriber that is not DisCal checks the node's pushes with
# http-message-signatures, an independent RFC 9421 implementation.
.venv/bin/python -c "import http_message_signatures, requests" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check "http-message-signatures==3.0.0" "requests==2.34.2"
check push_receiver.py .venv/bin/python node/tests/python/push_receiver.py target/debug/discal
# The people pages in Chromium, against a real node whose first admin (and a user) the CLI
# made, peered with a second node over the mesh. The anonymous form's minimum fill time is
# off here (its own Rust test keeps it): the browser fills it faster than a person.
people="$work/people"
sister="$work/sister"
for dir in "$people" "$sister"; do
  target/debug/discal init --data-dir "$dir" --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 >/dev/null 2>&1
done
sed -i 's/^min_fill_secs = 2 /min_fill_secs = 0 /' "$people/config.toml"
grep -q '^min_fill_secs = 0 ' "$people/config.toml" || { echo "could not set min_fill_secs"; exit 1; }
printf '%s' "people test password" | target/debug/discal user add ana --role admin --password-stdin --data-dir "$people" >/dev/null
printf '%s' "user test password" | target/debug/discal user add ben --role user --password-stdin --data-dir "$people" >/dev/null
printf '%s' "tester test password" | target/debug/discal user add tess --role user --password-stdin --data-dir "$people" >/dev/null
pids=()
for dir in "$people" "$sister"; do
  target/debug/discal run --data-dir "$dir" >/dev/null 2>"$dir/log" &
  pids+=($!)
done
trap 'kill ${pids[*]} 2>/dev/null || true; exec 3>&-; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for dir in "$people" "$sister"; do
  for _ in $(seq 1 200); do
    grep -q "peers:" "$dir/log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "peers:" "$dir/log" || { echo "discal run did not start"; cat "$dir/log"; exit 1; }
done
url_of() { sed -n 's#.*http: *\(http://[^/]*\)/.*#\1#p' "$1/log" | head -1; }
addr_of() { sed -n 's#.*peers: *\(/ip4/[^ ]*\)/p2p/.*#\1#p' "$1/log" | head -1; }
key_of() { target/debug/discal id --data-dir "$1" | head -1; }
target/debug/discal peer add "$(key_of "$sister")" "$(addr_of "$sister")" --name sister --data-dir "$people" >/dev/null 2>&1
target/debug/discal peer add "$(key_of "$people")" "$(addr_of "$people")" --name people --data-dir "$sister" >/dev/null 2>&1
check people_browser_test.mjs env CHROMIUM="$(command -v "${CHROMIUM:-chromium}")" \
  node "$here/people_browser_test.mjs" "$(url_of "$people")" ana "people test password" target/screenshots \
  "$(url_of "$sister")" ben "user test password"
# CalDAV write (issue 22) on the same two nodes: python caldav, vdirsyncer + khal two-way (an
# event made in khal reaches the sister over the mesh; an edit on the web form comes back),
# and tsdav with its sync.
.venv/bin/python -c "import requests" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check "requests==2.34.2"
check check_caldav_write.py .venv/bin/python "$here/check_caldav_write.py" \
  "$(url_of "$people")" "$(url_of "$sister")" ana "people test password"
check check_caldav_write.mjs node "$here/check_caldav_write.mjs" "$(url_of "$people")" ana "people test password"
# caldav-server-tester grades the CalDAV features of a third account's calendar.
.venv/bin/python -c "import caldav_server_tester, vobject" 2>/dev/null ||
  .venv/bin/pip install --quiet --disable-pip-version-check "caldav-server-tester==1.7.0" "vobject==0.9.9"
check check_server_tester.py .venv/bin/python "$here/check_server_tester.py" \
  "$(url_of "$people")" tess "tester test password"
# The W3C's Nu HTML checker on the public pages (fixture) and an admin's pages (people node).
check check_html.py .venv/bin/python "$here/check_html.py" "$(cat "$work/url")" "$work/expected.json" \
  "$(url_of "$people")" ana "people test password" "$here/node_modules/vnu-jar/build/dist/vnu.jar"
kill "${pids[@]}"
wait "${pids[@]}" 2>/dev/null || true
# The relay path in Chromium, on the page of the last of three real nodes peered A–B–C.
relay="$work/relay"
mkdir -p "$relay"
mkfifo "$relay/stdin"
target/debug/examples/relay_fixture <"$relay/stdin" >"$relay/out" 2>"$relay/log" &
relay_pid=$!
exec 5>"$relay/stdin"
for _ in $(seq 1 600); do
  [ -s "$relay/out" ] && break
  kill -0 "$relay_pid" 2>/dev/null || break
  sleep 0.1
done
[ -s "$relay/out" ] || { echo "relay_fixture did not start"; cat "$relay/log"; exit 1; }
check relay_browser_test.mjs env CHROMIUM="$(command -v "${CHROMIUM:-chromium}")" \
  node "$here/relay_browser_test.mjs" "$(cut -f1 "$relay/out")" "$(cut -f2 "$relay/out")" target/screenshots
# Proposals on the same three nodes: made at C, accepted at A, back at C.
check proposal_browser_test.mjs env CHROMIUM="$(command -v "${CHROMIUM:-chromium}")" \
  node "$here/proposal_browser_test.mjs" "$(cut -f1 "$relay/out")" "$(cut -f3 "$relay/out")" \
  "$(cut -f4 "$relay/out")" target/screenshots
exec 5>&-
wait "$relay_pid" 2>/dev/null || true
# Last: it changes an event at the node.
check check_caldav.py .venv/bin/python "$here/check_caldav.py" "$work/expected.json" "$fifo" "$work/url"
