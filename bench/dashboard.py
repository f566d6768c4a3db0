#!/usr/bin/env python3
"""Dashboard benchmark (`pipedreamer server`, SQLite), measured in headless Chromium.

- time to first paint of a workspace's deployments page with 200 deployments and 10,000 builds
  in the database: `first-contentful-paint` from the Performance API, read over WebDriver
  (chromedriver), median of 10 loads with a warm cache (target < 300 ms);
- page weight of that page (50 deployments, the page size) with its assets, gzipped as a proxy
  would send it (target < 100 KB).

The deployments are created through the API (the server's own validation); the builds are
inserted with SQL (10,000 API deploys would only supersede each other). Writes
bench/dashboard-results.json and appends to bench/results.md. Needs the binaries
(`cargo build --release -p pipedreamer`, or BENCH_BIN_DIR for another build), podman (for the
`local` target check) and chromium + chromium-driver.
"""
import gzip
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from loadgen import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINS = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release"))
CLI = os.path.join(BINS, "pipedreamer")
RESULTS = os.path.join(ROOT, "bench/dashboard-results.json")
DEPLOYMENTS = 200
BUILDS = 10_000
LOADS = int(os.environ.get("BENCH_ROUNDS", "10"))


def request(method, url, body=None, token=None, headers=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def uuid7(ms):
    """A UUIDv7 for `ms` (the store's ids are time-ordered)."""
    rand = random.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class WebDriver:
    """The few WebDriver calls the benchmark needs, over plain HTTP to chromedriver."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", f"--port={self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                if request("GET", f"{self.base}/status", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                     "--disable-dev-shm-usage"]}}}}
        status, body, _ = request("POST", f"{self.base}/session", caps, timeout=60)
        assert status == 200, body
        self.session = json.loads(body)["value"]["sessionId"]

    def call(self, method, path, body=None):
        status, raw, _ = request(method, f"{self.base}/session/{self.session}{path}", body, timeout=60)
        value = json.loads(raw)["value"]
        assert status == 200, value
        return value

    def goto(self, url):
        self.call("POST", "/url", {"url": url})

    def js(self, script):
        return self.call("POST", "/execute/sync", {"script": script, "args": []})

    def find(self, css):
        el = self.call("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(el.values()))

    def close(self):
        try:
            request("DELETE", f"{self.base}/session/{self.session}", timeout=10)
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def main():
    if not os.path.exists(CLI):
        sys.exit(f"{CLI} is missing: cargo build --release -p pipedreamer (or set BENCH_BIN_DIR)")
    if not shutil.which("chromedriver"):
        sys.exit("chromedriver is missing: apt-get install chromium chromium-driver")
    tmp = tempfile.mkdtemp(prefix="pd-dashboard-bench-")
    data = os.path.join(tmp, "data")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [CLI, "server", "--data-dir", data, "--port", str(port), "--public-url", api],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "server.log"), "w"),
        env={**os.environ, "RUST_LOG": "warn"})
    driver = None
    try:
        for _ in range(300):
            try:
                if request("GET", f"{api}/readyz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        with open(os.path.join(data, "admin-token")) as f:
            token = f.read().strip()
        assert request("POST", f"{api}/api/workspaces", {"name": "bench"}, token)[0] == 201
        ids = []
        for i in range(DEPLOYMENTS):
            status, body, _ = request("POST", f"{api}/api/workspaces/bench/deployments", {
                "name": f"service-{i:03d}",
                "description": f"Benchmark deployment {i}",
                "repo": f"https://github.com/acme/service-{i:03d}.git",
                "target": {"type": "local"},
            }, token)
            assert status == 201, body
            ids.append(json.loads(body)["id"])
        db = sqlite3.connect(os.path.join(data, "pipedreamer.db"), timeout=30)
        now = int(time.time() * 1000)
        rows = []
        for n in range(BUILDS):
            dep = ids[n % DEPLOYMENTS]
            created = now - (BUILDS - n) * 60_000
            status = "SUCCESS" if n % 7 else "FAILED"
            rows.append((uuid7(created), dep, status, f"{random.getrandbits(160):040x}",
                         f"change {n}: tune the workflow", "main", "webhook", None,
                         f"registry.example.test/service:{n}" if status == "SUCCESS" else None,
                         f"sha256:{random.getrandbits(256):064x}" if status == "SUCCESS" else None,
                         None if status == "SUCCESS" else "a node failed its tests",
                         created, created + 1000, created + 41_000))
        db.executemany(
            "INSERT INTO builds (id, deployment_id, status, commit_hash, commit_message, branch, "
            "triggered_by, delivery_id, image, image_digest, error_message, created_at, started_at, "
            "completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.commit()
        db.close()

        # Page weight: the HTML of the first page (50 cards) and its assets, gzipped.
        opener = urllib.request.build_opener(NoRedirect)
        form = urllib.parse.urlencode({"token": token}).encode()
        req = urllib.request.Request(f"{api}/signin", data=form, method="POST",
                                     headers={"origin": api})
        try:
            opener.open(req, timeout=30)
            raise SystemExit("sign-in did not redirect")
        except urllib.error.HTTPError as e:
            assert e.code == 303, e.code
            cookie = e.headers["set-cookie"].split(";")[0]
        status, html, _ = request("GET", f"{api}/workspaces/bench", headers={"cookie": cookie})
        assert status == 200, status
        cards = html.count(b'class="card deployment"')
        assert cards == 50, cards
        parts = {"html": html}
        for url in re.findall(rb'(?:src|href)="(/assets/[^"]+)"', html):
            parts[url.decode()] = request("GET", f"{api}{url.decode()}")[1]
        raw = sum(len(b) for b in parts.values())
        gz = sum(len(gzip.compress(b, 6)) for b in parts.values())
        html_gz = len(gzip.compress(html, 6))

        # First paint in Chromium, warm cache (the assets are immutable).
        driver = WebDriver()
        driver.goto(f"{api}/signin")
        el = driver.find("#token")
        driver.call("POST", f"/element/{el}/value", {"text": token})
        button = driver.find("form[action='/signin'] button")
        driver.call("POST", f"/element/{button}/click", {})
        paints, loads = [], []
        for i in range(LOADS + 1):
            driver.goto(f"{api}/workspaces/bench")
            for _ in range(100):
                fcp = driver.js("const e = performance.getEntriesByName('first-contentful-paint'); "
                                "return e.length ? e[0].startTime : null;")
                if fcp is not None:
                    break
                time.sleep(0.02)
            nav = driver.js("const n = performance.getEntriesByType('navigation')[0]; "
                            "return n ? n.loadEventEnd || n.domContentLoadedEventEnd : null;")
            if i == 0:
                continue  # the first load fills the cache
            paints.append(fcp)
            loads.append(nav)
        result = {
            "deployments": DEPLOYMENTS,
            "builds": BUILDS,
            "cards_on_page": cards,
            "first_contentful_paint_ms": {
                "median": round(statistics.median(paints), 1),
                "min": round(min(paints), 1),
                "max": round(max(paints), 1),
                "samples": len(paints),
            },
            "load_event_ms_median": round(statistics.median(loads), 1),
            "page_weight_bytes": {"raw": raw, "gzip": gz, "html_gzip": html_gz},
            "targets": {"first_paint_ms": 300, "gzip_bytes": 100 * 1024},
            "binary": CLI,
            "cpus": os.cpu_count(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with open(RESULTS, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        build = os.path.basename(os.path.dirname(CLI))
        line = (f"\n# Dashboard benchmark\n\n`pipedreamer server` ({build} binary, {result['when']}), Chromium "
                f"headless on the same {os.cpu_count()} cores.\n\n"
                f"| measure | result | target |\n|---|---|---|\n"
                f"| first contentful paint, {DEPLOYMENTS} deployments / {BUILDS} builds (median of {len(paints)}) "
                f"| {result['first_contentful_paint_ms']['median']} ms | < 300 ms |\n"
                f"| page weight, {cards} deployments + assets, gzip | {gz / 1024:.1f} KB (HTML {html_gz / 1024:.1f} KB) | < 100 KB |\n")
        with open(os.path.join(ROOT, "bench/results.md"), "a") as f:
            f.write(line)
        print(json.dumps(result, indent=2))
    finally:
        if driver:
            driver.close()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
