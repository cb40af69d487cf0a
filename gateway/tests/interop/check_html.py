"""The Nu HTML Checker (vnu.jar, the W3C's validator) on the pages people open in a browser:
the public pages, embeds and event pages of the fixture node, and the pages of a logged-in
admin on a node with accounts. Any error fails the check (warnings are not counted).

Usage: check_html.py FIXTURE_URL EXPECTED_JSON PEOPLE_URL ADMIN PASSWORD VNU_JAR
"""

import json
import re
import subprocess
import sys
import tempfile
from urllib.parse import quote

import requests

fixture, expected, people, admin, password, jar = sys.argv[1:7]
origin = json.load(open(expected))["origin_a"]
public = [
    "/", "/views", "/views?lang=de&tags=linux&from=2027-01-01", "/map", "/login",
    "/embed?view=list", "/embed?view=agenda", "/embed?view=month",
    "/embed?view=month&theme=dark&lang=de&tags=hostile",
] + [f"/events/{origin}/{quote(uid)}" for uid in
     ["hostile@example.org", "berlin-weekly@example.org", "allday@example.org"]]

pages = {}
for path in public:
    r = requests.get(fixture + path, timeout=30)
    if r.status_code != 200:
        sys.exit(f"{path}: {r.status_code}")
    pages[path] = r.text

s = requests.Session()
form = s.get(people + "/login", timeout=30).text
csrf = re.search(r'name="csrf" value="([^"]+)"', form)
login = {"name": admin, "password": password, **({"csrf": csrf.group(1)} if csrf else {})}
r = s.post(people + "/login", data=login, timeout=30)
if "/login" in r.url:
    sys.exit(f"could not log in as {admin}: {r.status_code} {r.url}")
for path in ["/my", "/my/proposals", "/queue", "/admin"]:
    r = s.get(people + path, timeout=30)
    if r.status_code != 200:
        sys.exit(f"people {path}: {r.status_code}")
    pages["people " + path] = r.text

with tempfile.TemporaryDirectory() as d:
    names = {}
    for i, (path, html) in enumerate(pages.items()):
        name = f"{d}/page{i}.html"
        names[f"file:{name}"] = path
        with open(name, "w", encoding="utf-8") as f:
            f.write(html)
    run = subprocess.run(["java", "-jar", jar, "--errors-only", "--format", "json",
                          *[n[5:] for n in names]], capture_output=True, text=True, timeout=600)
    messages = json.loads(run.stderr or run.stdout or '{"messages": []}')["messages"]
errors = [m for m in messages if m.get("type") == "error"]
for m in errors:
    print(f"{names.get(m.get('url'), m.get('url'))}: line {m.get('lastLine')}: {m.get('message')}",
          file=sys.stderr)
if errors:
    sys.exit(f"{len(errors)} HTML errors")
print(f"Nu HTML checker: {len(pages)} pages, no errors")
