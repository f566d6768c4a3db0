#!/usr/bin/env python3
"""Control plane benchmark (`pipedreamer server`, SQLite, `local` target under podman).

- push to live: from the GitHub webhook request to the new version answering `POST /run` at the
  deployment's URL, warm layer cache, median of 5 (target < 3 s on the 2-core machine);
- webhook acknowledgement under 50 concurrent deliveries: p50/p99 (target p99 < 50 ms), and every
  delivery accounted for exactly once (zero lost, zero duplicated);
- server idle RSS after start (target < 30 MiB) and after the runs above.

Appends to bench/results.md and writes bench/control-plane-results.json. Needs the release binaries
(`cargo build --release -p pipedreamer -p pipedreamer-engine`) and podman.
"""
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from loadgen import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN_DIR: other binaries (e.g. the debug build, for a quick A/B of a change).
RELEASE = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release"))
CLI = os.path.join(RELEASE, "pipedreamer")
RESULTS = os.path.join(ROOT, "bench/control-plane-results.json")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
DELIVERIES = 50
ACK_ROUNDS = 4


def request(method, url, body=None, token=None, headers=None, timeout=30):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def git(repo, *args):
    """Runs git in `repo`; returns its stdout."""
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
                               "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"}).stdout.strip()


def write_version(repo, n):
    """The hello example, greeting with a version marker (`Hello v<n>, …`) the benchmark waits for."""
    node = os.path.join(repo, "nodes/greet.ts")
    with open(node) as f:
        text = f.read()
    text = re.sub(r"`Hello[^,]*,", f"`Hello v{n},", text)
    with open(node, "w") as f:
        f.write(text)


def signed_push(secret, branch, sha, message):
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": sha,
                       "head_commit": {"id": sha, "message": message}}).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"x-github-event": "push", "x-github-delivery": str(uuid.uuid4()),
                  "x-hub-signature-256": sig}


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_build(api, token, build_id, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, b = request("GET", f"{api}/api/builds/{build_id}", token=token)
        if b.get("status") in ("SUCCESS", "FAILED", "CANCELLED"):
            return b
        time.sleep(0.1)
    raise SystemExit(f"build {build_id} did not finish in {timeout}s")


def main():
    for exe in (CLI, os.path.join(RELEASE, "pipedreamer-engine")):
        if not os.path.exists(exe):
            raise SystemExit(f"{exe} is missing: cargo build --release -p pipedreamer -p pipedreamer-engine")
    tmp = tempfile.mkdtemp(prefix="pd-cp-bench-")
    data = os.path.join(tmp, "data")
    repo = os.path.join(tmp, "repo")
    shutil.copytree(os.path.join(ROOT, "examples/hello"), repo,
                    ignore=shutil.ignore_patterns(".pipedreamer", "node_modules"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hello")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    lo = 20000 + (port % 500) * 2
    server = subprocess.Popen(
        [CLI, "server", "--data-dir", data, "--port", str(port), "--public-url", api],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "server.log"), "w"),
        env={**os.environ, "RUST_LOG": "warn", "PIPEDREAMER_SERVER_LOCAL__PORT_RANGE": f"{lo}-{lo + 1}"})
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if request("GET", f"{api}/readyz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        time.sleep(2)
        idle_rss = rss_mib(server.pid)
        with open(os.path.join(data, "admin-token")) as f:
            token = f.read().strip()
        status, ws = request("POST", f"{api}/api/workspaces", {"name": "bench"}, token)
        assert status in (200, 201), (status, ws)
        status, dep = request("POST", f"{api}/api/workspaces/bench/deployments", {
            "name": "hello", "repo": f"file://{repo}", "branch": "main",
            "target": {"type": "local"}, "auto_rebuild": True}, token)
        assert status in (200, 201), (status, dep)
        # The first deploy warms the layer cache and starts the container.
        status, first = request("POST", f"{api}/api/deployments/{dep['id']}/deploy", None, token)
        assert status in (200, 202), (status, first)
        b = wait_build(api, token, first["build_id"])
        assert b["status"] == "SUCCESS", b
        _, dep = request("GET", f"{api}/api/deployments/{dep['id']}", token=token)
        url = dep["url"]
        hook = f"{api}/api/deployments/{dep['id']}/webhook"
        secret = dep["webhook_secret"]

        push_to_live = []
        for n in range(1, ROUNDS + 1):
            write_version(repo, n)
            git(repo, "commit", "-q", "-am", f"v{n}")
            sha = git(repo, "rev-parse", "HEAD")
            body, headers = signed_push(secret, "main", sha, f"v{n}")
            t0 = time.perf_counter()
            status, ack = request("POST", hook, body, headers=headers)
            assert status == 202, (status, ack)
            while True:
                if time.perf_counter() - t0 > 120:
                    raise SystemExit(f"v{n} never went live; server log: {tmp}/server.log")
                try:
                    s, out = request("POST", f"{url}/run", {"name": "bench"}, timeout=2)
                    if s == 200 and f"Hello v{n}," in json.dumps(out):
                        break
                except OSError:
                    pass
                time.sleep(0.02)
            push_to_live.append(time.perf_counter() - t0)
            wait_build(api, token, ack["build_id"])

        # Acknowledgements: 50 deliveries at once to a second deployment of the same repository.
        status, acks_dep = request("POST", f"{api}/api/workspaces/bench/deployments", {
            "name": "acks", "repo": f"file://{repo}", "branch": "main",
            "target": {"type": "local"}, "auto_rebuild": True}, token)
        assert status in (200, 201), (status, acks_dep)
        _, acks_dep = request("GET", f"{api}/api/deployments/{acks_dep['id']}", token=token)
        acks_hook = f"{api}/api/deployments/{acks_dep['id']}/webhook"
        def deliver(p):
            t = time.perf_counter()
            s, r = request("POST", acks_hook, p[0], headers=p[1])
            return time.perf_counter() - t, s, r, p[1]["x-github-delivery"]

        # Rounds of 50 at once, a pause between (so p99 has 200 samples, not the one maximum).
        results = []
        for r in range(ACK_ROUNDS):
            payloads = [signed_push(acks_dep["webhook_secret"], "main", os.urandom(20).hex(), f"r{r}c{i}")
                        for i in range(DELIVERIES)]
            with concurrent.futures.ThreadPoolExecutor(DELIVERIES) as pool:
                results += list(pool.map(deliver, payloads))
            time.sleep(1)
        latencies = sorted(r[0] for r in results)
        statuses = [r[1] for r in results]
        build_ids = [r[2].get("build_id") for r in results if isinstance(r[2], dict)]
        recorded = set()
        before = None
        while True:
            page = f"&before={before}" if before else ""
            _, listed = request("GET", f"{api}/api/deployments/{acks_dep['id']}/builds?limit=100{page}", token=token)
            if not listed["builds"]:
                break
            recorded |= {b.get("delivery_id") for b in listed["builds"]}
            before = listed["builds"][-1]["id"]
        lost = sum(1 for r in results if r[3] not in recorded)
        duplicated = len(build_ids) - len(set(build_ids))
        after_rss = rss_mib(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        subprocess.run(["podman", "rm", "-f", "--filter", "label=pipedreamer.deployment"],
                       capture_output=True)

    p99 = latencies[int(len(latencies) * 0.99) - 1]
    result = {
        "push_to_live_s": {"median": statistics.median(push_to_live), "all": push_to_live},
        "webhook_ack_ms": {"p50": statistics.median(latencies) * 1000, "p99": p99 * 1000,
                           "statuses": sorted(set(statuses)), "lost": lost, "duplicated": duplicated},
        "idle_rss_mib": idle_rss,
        "rss_after_mib": after_rss,
    }
    with open(RESULTS, "w") as f:
        json.dump(result, f, indent=2)
    runtime = "gVisor (runsc)" if shutil.which("runsc") else "runc"
    lines = [
        "",
        "# Control plane benchmark",
        "",
        f"`pipedreamer server` with release binaries, SQLite, `local` target under podman + {runtime}.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| push to live (webhook → new version answers /run; local, warm cache), median of {ROUNDS} | {result['push_to_live_s']['median']:.2f} s (min {min(push_to_live):.2f}, max {max(push_to_live):.2f}) | < 3 s |",
        f"| webhook acknowledgement, {ACK_ROUNDS} rounds of {DELIVERIES} concurrent deliveries, p50 / p99 | {result['webhook_ack_ms']['p50']:.1f} / {result['webhook_ack_ms']['p99']:.1f} ms | p99 < 50 ms |",
        f"| deliveries lost / duplicated | {lost} / {duplicated} | 0 / 0 |",
        f"| server idle RSS (SQLite) | {idle_rss:.1f} MiB | < 30 MiB |",
        f"| server RSS after the builds above | {after_rss:.1f} MiB | |",
        "",
    ]
    with open(os.path.join(ROOT, "bench/results.md"), "a") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
