#!/usr/bin/env python3
"""`pipedreamer test` wall time: 50 cases on examples/hello.

A copy of examples/hello (its nodes, its workflow.yaml) with one test file of CASES cases, each
an HTTP run with its own name, checked with `output_contains` and the node statuses (the
example's own tests/ are left out so the count is exact). The whole command is timed, process
start to exit: loading and compiling the workflow once, starting the sandbox's workers, every
run and the report. ROUNDS rounds after one warm-up; the median and the spread are reported.
Target: under 1 s for 50 cases on this machine.

Writes bench/workflow-test-results.json. BENCH_BIN_DIR picks the binary's directory (default:
the release build, `cargo build --release -p pipedreamer`; the debug build,
target/x86_64-unknown-linux-gnu/debug, also works and is slower).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN_DIR = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release"))
CLI = os.path.join(BIN_DIR, "pipedreamer")
EXAMPLE = os.path.join(ROOT, "examples/hello")
RESULTS = os.path.join(ROOT, "bench/workflow-test-results.json")
CASES = int(os.environ.get("BENCH_CASES", "50"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
TARGET_S = 1.0


def cases_yaml(n):
    lines = ["cases:"]
    for i in range(n):
        lines += [
            f"  - name: greets person {i}",
            f"    trigger: {{http: {{name: \"person {i}\"}}}}",
            "    expect:",
            f"      output_contains: {{message: \"Hello, Person {i}!\"}}",
            "      nodes: {parse: succeeded, greet: succeeded, format: succeeded}",
        ]
    return "\n".join(lines) + "\n"


def main():
    if not os.access(CLI, os.X_OK):
        sys.exit(f"no CLI at {CLI}: build it (`cargo build --release -p pipedreamer`) or set BENCH_BIN_DIR")
    work = tempfile.mkdtemp(prefix="pd-wftest-")
    try:
        wf = os.path.join(work, "hello")
        shutil.copytree(EXAMPLE, wf, ignore=shutil.ignore_patterns("tests", ".pipedreamer"))
        os.makedirs(os.path.join(wf, "tests"))
        with open(os.path.join(wf, "tests", "bench.yaml"), "w") as f:
            f.write(cases_yaml(CASES))
        walls = []
        for round_ in range(ROUNDS + 1):
            start = time.perf_counter()
            out = subprocess.run([CLI, "test", wf, "-o", "json"], capture_output=True, env={**os.environ, "NO_COLOR": "1"})
            wall = time.perf_counter() - start
            if out.returncode != 0:
                sys.exit(f"pipedreamer test failed ({out.returncode}):\n{out.stdout.decode()}\n{out.stderr.decode()}")
            report = json.loads(out.stdout)
            if report["passed"] != CASES or report["failed"] != 0:
                sys.exit(f"expected {CASES} passed cases: {report['passed']} passed, {report['failed']} failed")
            if round_ > 0:  # the first round warms the page cache
                walls.append(wall)
        median = statistics.median(walls)
        result = {
            "binary": CLI,
            "profile": "release" if "/release" in BIN_DIR else "debug",
            "cases": CASES,
            "rounds": ROUNDS,
            "cores": os.cpu_count(),
            "wall_s_median": round(median, 3),
            "wall_s_min": round(min(walls), 3),
            "wall_s_max": round(max(walls), 3),
            "per_case_ms": round(median / CASES * 1000, 2),
            "target_s": TARGET_S,
            "met": median < TARGET_S,
        }
        with open(RESULTS, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
