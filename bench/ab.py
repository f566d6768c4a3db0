#!/usr/bin/env python3
"""A/B benchmark of two engine binaries, interleaved on the same machine.

    python3 bench/ab.py BEFORE_ENGINE AFTER_ENGINE [--rounds 3]

Each round runs both binaries one after the other, alternating which goes first (cold start, idle RSS, POST /run on
examples/hello at 2 and 16 connections, peak RSS), so load changes on the machine hit both
alike. Prints the medians per binary and after/before ratios, and writes them to
bench/ab-results.md. Used for "no regression" checks: runs/s medians within 5 %, p99 within 10 %.
"""
import argparse
import os
import statistics
import time

import engine
from loadgen import free_port


def measure(binary):
    cold, _, _ = engine.cold_start(samples=10, engine=binary)
    port = free_port()
    p = engine.start_engine(port, binary)
    try:
        while engine.http_status(port, "/readyz") != 200:
            time.sleep(0.001)
        time.sleep(0.3)
        idle = engine.rss_kib(p.pid, "VmRSS") / 1024
        two, sixteen = engine.wrk(port, 2), engine.wrk(port, 16)
        peak = engine.rss_kib(p.pid, "VmHWM") / 1024
    finally:
        p.terminate()
        p.wait()
    return {
        "cold_ms": cold,
        "idle_rss_mib": idle,
        "peak_rss_mib": peak,
        "rps_2": two["requests_per_s"],
        "p99_2_ms": two["p99_ms"],
        "rps_16": sixteen["requests_per_s"],
        "p99_16_ms": sixteen["p99_ms"],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    runs = {"before": [], "after": []}
    pair = (("before", args.before), ("after", args.after))
    for r in range(args.rounds):
        # Alternate which binary goes first, so a drift in the machine's speed hits both alike.
        for label, binary in pair if r % 2 == 0 else pair[::-1]:
            m = measure(binary)
            runs[label].append(m)
            print(f"round {r + 1} {label}: {m}", flush=True)
    keys = list(runs["before"][0].keys())
    med = {label: {k: statistics.median(m[k] for m in ms) for k in keys} for label, ms in runs.items()}
    lines = [
        "# A/B engine benchmark",
        "",
        f"`bench/ab.py`, {args.rounds} interleaved rounds on {os.cpu_count()} cores, examples/hello, "
        f"wrk {engine.DURATION} per row; medians.",
        "",
        "| measure | before | after | after/before |",
        "|---|---|---|---|",
    ]
    for k in keys:
        b, a = med["before"][k], med["after"][k]
        ratio = f"{a / b:.3f}" if b else "-"
        lines.append(f"| {k} | {b:.2f} | {a:.2f} | {ratio} |")
    lines.append("")
    lines.append("Every round: " + "; ".join(
        f"{label} {i + 1}: {m['rps_16']:.0f} runs/s p99 {m['p99_16_ms']} ms"
        for label, ms in runs.items() for i, m in enumerate(ms)))
    lines.append("")
    with open(os.path.join(engine.ROOT, "bench/ab-results.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
