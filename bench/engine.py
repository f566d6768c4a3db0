#!/usr/bin/env python3
"""Engine benchmark: cold start, POST /run throughput and latency (wrk), idle and peak RSS.

Writes bench/results.md and bench/results.json. Targets (2-core machine): cold start < 30 ms,
>= 5,000 runs/s at 16 connections, p99 < 10 ms, idle RSS < 20 MiB, peak < 64 MiB.
"""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from loadgen import free_port
import loadgen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINE = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/pipedreamer-engine")
WORKFLOW = os.path.join(ROOT, "examples/hello")
PACKAGES_WORKFLOW = os.path.join(ROOT, "examples/zod-jose")
HELLO_BODY = '{"name": "ada lovelace"}'
# An order and an HS256 JWT signed with the example's demo key (see examples/zod-jose/README.md).
PACKAGES_BODY = json.dumps({
    "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjdXN0b21lci00MiIsInNjb3BlIjoib3JkZXJzOndyaXRlIiwiaXNzIjoiaHR0cHM6Ly9zaG9wLmV4YW1wbGUiLCJhdWQiOiJvcmRlcnMiLCJpYXQiOjE3NjQwMDAwMDB9.wqktJjqaLqonNY-7PNewOdOLTIA4sNCwESm3BK4m0k0",
    "order": {"id": "o-1", "email": "ada@example.com", "items": [{"sku": "BOOK-1", "quantity": 2, "price": 12.5}]},
})
DURATION = os.environ.get("BENCH_DURATION", "10s")


def http_status(port, path):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = s.recv(64)
            return int(data.split(b" ")[1])
    except OSError:
        return 0


def start_engine(port, engine=ENGINE, workflow=WORKFLOW):
    return subprocess.Popen(
        [engine, "--workflow", workflow, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"},
    )


def cold_start(samples=20, engine=ENGINE):
    times = []
    for _ in range(samples):
        port = free_port()
        t0 = time.perf_counter()
        p = start_engine(port, engine)
        while http_status(port, "/readyz") != 200:
            if p.poll() is not None:
                raise SystemExit("engine exited during cold start")
            time.sleep(0.0002)
        times.append((time.perf_counter() - t0) * 1000)
        p.terminate()
        p.wait()
    return statistics.median(times), min(times), max(times)


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def install_packages(workflow):
    """`npm ci` for a workflow with a lockfile, once per lockfile (node_modules is not in git)."""
    stamp = os.path.join(workflow, "node_modules", ".package-lock.json")
    lock = os.path.join(workflow, "package-lock.json")
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(lock):
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=workflow, check=True,
                       stdout=subprocess.DEVNULL)


def wait_ready(port, p):
    while http_status(port, "/readyz") != 200:
        if p.poll() is not None:
            raise SystemExit("engine exited before it was ready")
        time.sleep(0.001)


def packages_load(engine=ENGINE, connections=16):
    """POST /run on examples/zod-jose (zod validation + jose HS256 verification per run)."""
    install_packages(PACKAGES_WORKFLOW)
    port = free_port()
    p = start_engine(port, engine, PACKAGES_WORKFLOW)
    try:
        wait_ready(port, p)
        check = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/run", "-d", PACKAGES_BODY],
                               capture_output=True, text=True, timeout=30)
        if '"ok":true' not in check.stdout.replace(" ", ""):
            raise SystemExit(f"examples/zod-jose did not verify its token: {check.stdout or check.stderr}")
        return wrk(port, connections, PACKAGES_BODY)
    finally:
        p.terminate()
        p.wait()


def wrk(port, connections, body=HELLO_BODY):
    lua = f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'
    return loadgen.wrk(f"http://127.0.0.1:{port}/run", connections, DURATION, lua, threads=2 if connections > 1 else 1)


def main():
    if not os.path.exists(ENGINE):
        raise SystemExit(f"missing {ENGINE}; run bench/run.sh")
    cold_median, cold_min, cold_max = cold_start()
    port = free_port()
    p = start_engine(port)
    while http_status(port, "/readyz") != 200:
        time.sleep(0.001)
    time.sleep(0.3)
    idle_rss = rss_kib(p.pid, "VmRSS")
    loads = [wrk(port, 2), wrk(port, 16)]
    peak_rss = rss_kib(p.pid, "VmHWM")
    after_rss = rss_kib(p.pid, "VmRSS")
    p.terminate()
    p.wait()
    packages = packages_load()
    size = os.path.getsize(ENGINE)
    results = {
        "machine": f"{os.cpu_count()} cores",
        "workflow": "examples/hello (3 TypeScript nodes in a chain)",
        "cold_start_ms": {"median": round(cold_median, 1), "min": round(cold_min, 1), "max": round(cold_max, 1)},
        "load": loads,
        "packages_load": packages,
        "idle_rss_mib": round(idle_rss / 1024, 1),
        "peak_rss_mib": round(peak_rss / 1024, 1),
        "rss_after_load_mib": round(after_rss / 1024, 1),
        "engine_binary_mib": round(size / 1024 / 1024, 1),
    }
    with open(os.path.join(ROOT, "bench/results.json"), "w") as f:
        json.dump(results, f, indent=2)
    lines = [
        "# Engine benchmark",
        "",
        f"`bench/run.sh` on {results['machine']}, {results['workflow']}, wrk for {DURATION} per row (wrk shares the cores).",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| cold start (spawn → /readyz 200), median of 20 | {results['cold_start_ms']['median']} ms (min {results['cold_start_ms']['min']}, max {results['cold_start_ms']['max']}) | < 30 ms |",
    ]
    for l in loads:
        lines.append(f"| POST /run, {l['connections']} connections | {l['requests_per_s']} runs/s, p50 {l['p50_ms']} ms, p99 {l['p99_ms']} ms, non-2xx {l['non_2xx']} | ≥ 5,000 runs/s at 16, p99 < 10 ms |")
    lines.append(f"| POST /run on examples/zod-jose (zod + jose HS256), 16 connections | {packages['requests_per_s']} runs/s, p50 {packages['p50_ms']} ms, p99 {packages['p99_ms']} ms, non-2xx {packages['non_2xx']} | |")
    lines += [
        f"| idle RSS | {results['idle_rss_mib']} MiB | < 20 MiB |",
        f"| peak RSS under load | {results['peak_rss_mib']} MiB | < 64 MiB |",
        f"| engine binary (static, stripped) | {results['engine_binary_mib']} MiB | |",
        "",
    ]
    with open(os.path.join(ROOT, "bench/results.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
