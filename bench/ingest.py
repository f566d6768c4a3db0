#!/usr/bin/env python3
"""Run-record ingestion benchmark: `POST /api/ingest/runs` on the release `pipedreamer server`.

For SQLite, then PostgreSQL: starts the server, creates a deployment, mints a `report` token
bound to it (`pipedreamer server token create --scope report --deployment ID`, as an operator
would), and has CLIENTS concurrent clients (keep-alive connections) POST batches of BATCH
realistic records (3 nodes, 3 log lines, a progress update, an output; ~1 KiB each, unique ids)
for DURATION seconds, as deployed engines' reporters do; the deployment has secrets, so the
server's masking pass runs on every record. Prints runs/s (stored records per
second, counted from the 202 answers) and batch latency; checks every record was stored once.
Target: >= 5,000 runs/s per server on the 2-core machine.

Writes bench/ingest-results.json. Needs the release binary (`cargo build --release -p
pipedreamer`; BENCH_BIN_DIR points elsewhere, e.g. the debug build for a quick check) and, for
the PostgreSQL half, BENCH_POSTGRES (default: PIPEDREAMER_TEST_POSTGRES, else the local test
server) whose role may CREATE DATABASE; BENCH_POSTGRES=skip runs SQLite only.
"""
import concurrent.futures
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

from loadgen import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release"))
CLI = os.path.join(RELEASE, "pipedreamer")
RESULTS = os.path.join(ROOT, "bench/ingest-results.json")
DURATION = float(os.environ.get("BENCH_DURATION", "10"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
BATCH = int(os.environ.get("BENCH_BATCH", "500"))
POSTGRES = os.environ.get("BENCH_POSTGRES") or os.environ.get(
    "PIPEDREAMER_TEST_POSTGRES", "postgres://pipedreamer:pipedreamer@127.0.0.1:5432/postgres")
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"
TARGET = 5000


def record(i):
    """One record as a deployed engine reports it: `@@` is replaced by a per-batch prefix."""
    started = int(time.time() * 1000) - 60_000 + i
    nodes = ["parse", "greet", "format"]
    return {
        "id": f"@@-{i:05d}",
        "workflow": "hello",
        "version": "1.0",
        "trigger": "http" if i % 4 else "cron:nightly",
        "status": "failed" if i % 10 == 0 else "succeeded",
        "started_at": started,
        "ended_at": started + 4,
        "nodes": {n: {"status": "succeeded", "attempts": 1, "started_ms": k * 1.2, "duration_ms": 1.1}
                  for k, n in enumerate(nodes)},
        "logs": [{"at_ms": k * 1.2 + 0.3, "node": n, "level": "info",
                  "message": f"{n}: handled request for customer-{i % 97} in {k + 1} ms"}
                 for k, n in enumerate(nodes)],
        "progress": [{"at_ms": 2.5, "node": "greet", "percent": 50.0, "message": "greeting"}],
        "outputs": {"greeting": f"Hello, customer-{i % 97}!"},
        "error": ({"node": "format", "message": "formatting failed: no template", "kind": "thrown"}
                  if i % 10 == 0 else None),
    }


def batch_template():
    body = json.dumps({"runs": [record(i) for i in range(BATCH)]}, separators=(",", ":"))
    assert len(body) < 1024 * 1024, f"a batch of {BATCH} is {len(body)} bytes, over the 1 MiB limit"
    return body


def request(base, method, path, body=None, token=None):
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    headers = {"content-type": "application/json"} if body is not None else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode())


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def client(base, token, template, stop, out):
    """POSTs batches on one keep-alive connection until `stop`; appends (latency, accepted)."""
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    while not stop.is_set():
        body = template.replace("@@", uuid.uuid4().hex).encode()
        t0 = time.perf_counter()
        conn.request("POST", "/api/ingest/runs", body=body, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        elapsed = time.perf_counter() - t0
        if r.status != 202:
            raise SystemExit(f"ingest answered {r.status}: {raw[:500]!r}")
        reply = json.loads(raw)
        out.append((elapsed, reply["accepted"], reply["duplicates"]))
    conn.close()


def bench(backend, tmp):
    data = os.path.join(tmp, backend)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RUST_LOG": "warn", "PIPEDREAMER_SERVER_AUTH__JWT_SECRET": JWT_SECRET}
    env.pop("PIPEDREAMER_DATABASE_URL", None)
    flags = ["--data-dir", data]
    admin_db = None
    if backend == "postgres":
        name = f"pd_ingest_bench_{uuid.uuid4().hex[:12]}"
        subprocess.run(["psql", POSTGRES, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
        u = urllib.parse.urlparse(POSTGRES)
        flags += ["--database", u._replace(path=f"/{name}").geturl()]
        admin_db = name
    log = open(os.path.join(tmp, f"server-{backend}.log"), "w")
    server = subprocess.Popen([CLI, "server", *flags, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if request(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start; see {log.name}")
            time.sleep(0.05)
        with open(os.path.join(data, "admin-token")) as f:
            admin = f.read().strip()
        status, _ = request(base, "POST", "/api/workspaces", {"name": "bench"}, admin)
        assert status == 201, status
        status, dep = request(base, "POST", "/api/workspaces/bench/deployments", {
            "name": "hello", "repo": "https://example.test/hello.git",
            "target": {"type": "kubernetes", "registry": "registry.example.test"}}, admin)
        assert status == 201, (status, dep)
        # Like a real deployment, it has secrets: ingest masks their values in every record.
        status, _ = request(base, "PUT", f"/api/deployments/{dep['id']}/secrets",
                            {"api_key": "sk_live_bench_0123456789", "db": {"password": "hunter2-bench"}}, admin)
        assert status == 200, status
        token = subprocess.run(
            [CLI, "server", *flags, "token", "create", "--scope", "report", "--deployment", dep["id"]],
            check=True, capture_output=True, text=True, env=env).stdout.strip()
        template = batch_template()
        # Warm-up: one batch (connections, statements, page cache); counted in the check below.
        u = urllib.parse.urlparse(base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request("POST", "/api/ingest/runs", body=template.replace("@@", "warmup").encode(),
                     headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
        r = conn.getresponse()
        raw = r.read()
        assert r.status == 202, (r.status, raw[:300])
        conn.close()
        warm = json.loads(raw)["accepted"]

        stop = threading.Event()
        results = [[] for _ in range(CLIENTS)]
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(client, base, token, template, stop, results[i]) for i in range(CLIENTS)]
            time.sleep(DURATION)
            stop.set()
            for f in futures:
                f.result()
        elapsed = time.perf_counter() - t0
        rss = rss_mib(server.pid)
        samples = [s for per in results for s in per]
        accepted = sum(s[1] for s in samples)
        duplicates = sum(s[2] for s in samples)
        latencies = sorted(s[0] * 1000 for s in samples)
        # Every accepted record is stored, once.
        count_sql = "SELECT COUNT(*) FROM runs"
        if backend == "sqlite":
            import sqlite3
            with sqlite3.connect(os.path.join(data, "pipedreamer.db")) as db:
                stored = db.execute(count_sql).fetchone()[0]
        else:
            u = urllib.parse.urlparse(POSTGRES)
            stored = int(subprocess.run(["psql", u._replace(path=f"/{admin_db}").geturl(), "-tAc", count_sql],
                                        check=True, capture_output=True, text=True).stdout.strip())
        assert stored == accepted + warm, f"{stored} records stored, {accepted + warm} accepted"
        return {
            "backend": backend,
            "clients": CLIENTS,
            "batch": BATCH,
            "batch_bytes": len(template) + 30 * BATCH,  # `@@` becomes 32 hex digits
            "seconds": round(elapsed, 2),
            "batches": len(samples),
            "accepted": accepted,
            "duplicates": duplicates,
            "runs_per_s": round(accepted / elapsed),
            "batch_p50_ms": round(statistics.median(latencies), 1),
            "batch_p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
            "server_rss_mib": round(rss, 1),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if admin_db:
            subprocess.run(["psql", POSTGRES, "-q", "-c", f"DROP DATABASE IF EXISTS {admin_db} WITH (FORCE)"],
                           check=False)


def main():
    if not os.path.exists(CLI):
        raise SystemExit(f"{CLI} is missing: cargo build --release -p pipedreamer")
    tmp = tempfile.mkdtemp(prefix="pd-ingest-bench-")
    backends = ["sqlite"] + ([] if POSTGRES == "skip" else ["postgres"])
    rows = [bench(b, tmp) for b in backends]
    print(f"\nrun-record ingestion ({CLIENTS} clients x {BATCH} records/batch, {DURATION:g} s; target >= {TARGET} runs/s)")
    print("| backend | runs/s | batches | batch p50 | batch p99 | server RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['runs_per_s']:,} | {r['batches']} | {r['batch_p50_ms']} ms "
              f"| {r['batch_p99_ms']} ms | {r['server_rss_mib']} MiB |")
    with open(RESULTS, "w") as f:
        json.dump({"binary": RELEASE, "target_runs_per_s": TARGET, "results": rows}, f, indent=2)
        f.write("\n")
    missed = [r["backend"] for r in rows if r["runs_per_s"] < TARGET]
    if missed:
        print(f"below target: {', '.join(missed)}", file=sys.stderr)


if __name__ == "__main__":
    main()
