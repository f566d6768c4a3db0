#!/usr/bin/env python3
"""Run reporting overhead: POST /run on examples/hello with `--report-to` off, on, and with the
control plane down.

The release engine at 16 connections (wrk, DURATION per run), three cases, interleaved ROUNDS
times (off, on, down, off, on, down, ...) so that drift on the shared machine hits each alike;
medians per case:
- off:  no reporting (the engine builds no records at all);
- on:   `--report-to` a local receiver that answers 202 like `POST /api/ingest/runs` (a small
        Python server counting the records; every run must arrive once the engine has stopped);
- down: `--report-to` a port nothing listens on (the reporter retries with backoff, keeps
        10,000 records and drops the oldest: the engine must keep its speed).
Target: on and down within 10 % of off.

Writes bench/runs-results.json. Needs wrk and the release engine (`cargo build --release -p
pipedreamer-engine`; BENCH_BIN_DIR points elsewhere, e.g. the debug build for a quick check).
"""
import http.server
import json
import os
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

import loadgen
from loadgen import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release"))
ENGINE = os.path.join(RELEASE, "pipedreamer-engine")
WORKFLOW = os.path.join(ROOT, "examples/hello")
RESULTS = os.path.join(ROOT, "bench/runs-results.json")
DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 16
BODY = '{"name": "ada lovelace"}'
TOKEN = "bench-report-token-0123456789"
CASES = ["off", "on", "down"]


class Receiver:
    """`POST /api/ingest/runs`: checks the token, counts records (and ids seen twice), 202."""

    def __init__(self):
        self.records = 0
        self.requests = 0
        self.ids = set()
        self.duplicates = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                ok = self.path == "/api/ingest/runs" and self.headers.get("authorization") == f"Bearer {TOKEN}"
                runs = json.loads(body)["runs"] if ok else []
                with receiver.lock:
                    receiver.requests += 1
                    for r in runs:
                        if r["id"] in receiver.ids:
                            receiver.duplicates += 1
                        receiver.ids.add(r["id"])
                    receiver.records += len(runs)
                reply = json.dumps({"accepted": len(runs), "duplicates": 0}).encode()
                self.send_response(202 if ok else 401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        with self.lock:
            self.records = self.requests = self.duplicates = 0
            self.ids = set()


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()

    def total(name):
        return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([\d.e+]+)$", text, re.M))

    return {
        "runs": total("pipedreamer_runs_total"),
        "sent": total("pipedreamer_run_reports_sent_total"),
        "dropped": total("pipedreamer_run_reports_dropped_total"),
        "failed": total("pipedreamer_run_reports_failed_total"),
        "buffered": total("pipedreamer_run_reports_buffered"),
    }


def one(case, receiver, token_file):
    port = free_port()
    args = [ENGINE, "--workflow", WORKFLOW, "--host", "127.0.0.1", "--port", str(port)]
    if case == "on":
        args += ["--report-to", f"http://127.0.0.1:{receiver.port}", "--report-token-file", token_file]
    elif case == "down":
        args += ["--report-to", f"http://127.0.0.1:{free_port()}", "--report-token-file", token_file]
    receiver.reset()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "RUST_LOG": "warn"})
    try:
        deadline = time.time() + 10
        while not ready(port):
            if p.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the engine ({case}) did not get ready")
            time.sleep(0.01)
        lua = f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n'
        load = loadgen.wrk(f"http://127.0.0.1:{port}/run", CONNECTIONS, DURATION, lua)
        m = metrics(port)
    finally:
        # SIGTERM: the engine drains and flushes what it buffered (bounded).
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    load["engine_runs"] = int(m["runs"])
    if case != "off":
        load["reports_sent_before_stop"] = int(m["sent"])
        load["reports_dropped"] = int(m["dropped"])
        load["report_requests_failed"] = int(m["failed"])
    if case == "on":
        load["records_received"] = receiver.records
        load["report_requests"] = receiver.requests
        load["duplicates"] = receiver.duplicates
        if receiver.records != load["engine_runs"]:
            print(f"warning: {load['engine_runs']} runs but {receiver.records} records received")
    return load


def main():
    if not os.path.exists(ENGINE):
        raise SystemExit(f"missing {ENGINE}; build it with `cargo build --release -p pipedreamer-engine`")
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        token_file = os.path.join(tmp, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token_file, 0o600)
        samples = {c: [] for c in CASES}
        for r in range(ROUNDS):
            for case in CASES:
                result = one(case, receiver, token_file)
                samples[case].append(result)
                print(f"round {r + 1} {case:4}: {result['requests_per_s']} runs/s, p99 {result['p99_ms']} ms"
                      + (f", {result.get('records_received')} of {result['engine_runs']} records received"
                         if case == "on" else "")
                      + (f", {result.get('reports_dropped')} dropped" if case == "down" else ""), flush=True)
    summary = {}
    for case in CASES:
        rates = [s["requests_per_s"] for s in samples[case]]
        p99s = [s["p99_ms"] for s in samples[case] if s["p99_ms"] is not None]
        summary[case] = {"runs_per_s_median": round(statistics.median(rates)),
                         "p99_ms_median": round(statistics.median(p99s), 2) if p99s else None,
                         "samples": samples[case]}
    off = summary["off"]["runs_per_s_median"]
    for case in ["on", "down"]:
        summary[case]["vs_off_percent"] = round(100 * (summary[case]["runs_per_s_median"] - off) / off, 1)
    on_samples = summary["on"]["samples"]
    delivered = all(s["records_received"] == s["engine_runs"] and s["duplicates"] == 0 for s in on_samples)
    results = {
        "machine": f"{os.cpu_count()} cores",
        "workflow": "examples/hello (3 TypeScript nodes)",
        "connections": CONNECTIONS,
        "duration": DURATION,
        "rounds": ROUNDS,
        "every_run_delivered": delivered,
        "cases": summary,
    }
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=2)
    lines = [
        "| reporting | runs/s (median of %d) | p99 | vs off |" % ROUNDS,
        "|---|---|---|---|",
    ]
    names = {"off": "off", "on": "on (local receiver, 202)", "down": "on, control plane down"}
    for case in CASES:
        s = summary[case]
        vs = "" if case == "off" else f"{s['vs_off_percent']:+} %"
        lines.append(f"| {names[case]} | {s['runs_per_s_median']} | {s['p99_ms_median']} ms | {vs} |")
    lines.append("")
    lines.append(f"every run delivered exactly once with reporting on: {delivered}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
