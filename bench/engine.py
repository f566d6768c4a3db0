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
DURATION = os.environ.get("BENCH_DURATION", "10s")


def http_status(port, path):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = s.recv(64)
            return int(data.split(b" ")[1])
    except OSError:
        return 0


def start_engine(port, engine=ENGINE):
    return subprocess.Popen(
        [engine, "--workflow", WORKFLOW, "--host", "127.0.0.1", "--port", str(port)],
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


def wrk(port, connections):
    lua = 'wrk.method = "POST"\nwrk.body = \'{"name": "ada lovelace"}\'\nwrk.headers["Content-Type"] = "application/json"\n'
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
    size = os.path.getsize(ENGINE)
    results = {
        "machine": f"{os.cpu_count()} cores",
        "workflow": "examples/hello (3 TypeScript nodes in a chain)",
        "cold_start_ms": {"median": round(cold_median, 1), "min": round(cold_min, 1), "max": round(cold_max, 1)},
        "load": loads,
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
