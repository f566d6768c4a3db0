#!/usr/bin/env python3
"""Queue and webhook benchmark: NATS request-reply through a 1-node workflow (the
`nats_load` example keeps N requests in flight) and signed webhook deliveries (wrk with a fixed
body and its precomputed X-Hub-Signature-256).

Replaces its section of bench/results.md and writes bench/nats-results.json.
Targets (2-core machine, load generator on the same cores): >= 5,000 msgs/s, p99 < 10 ms.
Needs nats-server and wrk (scripts/test.sh installs them) and release builds (bench/run.sh).
"""
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import tempfile
import time

from loadgen import free_port
import loadgen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
RELEASE = os.path.join(TARGET, "x86_64-unknown-linux-gnu/release")
ENGINE = os.path.join(RELEASE, "pipedreamer-engine")
LOAD = os.path.join(RELEASE, "examples/nats_load")
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WEBHOOK_KEY = "bench-webhook-secret"
BODY = '{"ref": "refs/heads/main", "name": "ada lovelace"}'
HEADER = "# NATS and webhook benchmark"

WORKFLOW = """name: bench
version: "1"
nodes:
  - {id: main, file: main.js}
triggers:
  - {type: queue, subject: bench.run}
  - {type: webhook, name: gh, secret: github.webhook_secret}
config: {nats_url: "127.0.0.1:%d"}
"""
NODE = "export default (ctx, input) => ({ hello: input.name ?? 'world' })\n"


def wait_port(port, deadline=10):
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listening on {port}")


def readyz(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(4096).decode(errors="replace")
    except OSError:
        return ""


def nats_load(nats_port, concurrency):
    out = subprocess.run(
        [LOAD, "--url", f"127.0.0.1:{nats_port}", "--subject", "bench.run",
         "--concurrency", str(concurrency), "--seconds", str(SECONDS)],
        capture_output=True, text=True, check=True, timeout=SECONDS + 60,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def wrk_webhook(port, connections):
    sig = "sha256=" + hmac.new(WEBHOOK_KEY.encode(), BODY.encode(), hashlib.sha256).hexdigest()
    lua = (
        'wrk.method = "POST"\n'
        f"wrk.body = '{BODY}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["X-GitHub-Event"] = "push"\n'
        f'wrk.headers["X-Hub-Signature-256"] = "{sig}"\n'
    )
    return loadgen.wrk(f"http://127.0.0.1:{port}/hooks/gh", connections, f"{int(SECONDS)}s", lua, timeout=SECONDS + 60)


def main():
    for path in (ENGINE, LOAD):
        if not os.path.exists(path):
            raise SystemExit(f"missing {path}; run bench/run.sh")
    work = tempfile.mkdtemp(prefix="pd-bench-nats-")
    nats_port, http_port = free_port(), free_port()
    nats = subprocess.Popen(
        ["nats-server", "-a", "127.0.0.1", "-p", str(nats_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    engine = None
    try:
        wait_port(nats_port)
        wf = os.path.join(work, "wf")
        os.makedirs(wf)
        with open(os.path.join(wf, "workflow.yaml"), "w") as f:
            f.write(WORKFLOW % nats_port)
        with open(os.path.join(wf, "main.js"), "w") as f:
            f.write(NODE)
        with open(os.path.join(wf, ".secrets.yaml"), "w") as f:
            f.write(f"github:\n  webhook_secret: {WEBHOOK_KEY}\n")
        engine = subprocess.Popen(
            [ENGINE, "--workflow", wf, "--host", "127.0.0.1", "--port", str(http_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"},
        )
        end = time.time() + 10
        while '"nats":"connected"' not in readyz(http_port):
            if time.time() > end or engine.poll() is not None:
                raise SystemExit("engine did not connect to NATS")
            time.sleep(0.02)
        queue = [nats_load(nats_port, c) for c in (16, 32, 64, 256)]
        hooks = [wrk_webhook(http_port, c) for c in (16,)]
    finally:
        if engine:
            engine.terminate()
            engine.wait(timeout=30)
        nats.terminate()
        nats.wait(timeout=10)
    results = {"machine": f"{os.cpu_count()} cores", "workflow": "1 JS node", "seconds": SECONDS,
               "nats_request_reply": queue, "webhook": hooks}
    with open(os.path.join(ROOT, "bench/nats-results.json"), "w") as f:
        json.dump(results, f, indent=2)
    lines = [
        HEADER,
        "",
        f"`bench/nats.py` on {results['machine']}, a 1-node JS workflow, {SECONDS:g}s per row; nats-server,"
        " the engine and the load generator share the cores.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
    ]
    for q in queue:
        lines.append(
            f"| NATS request-reply, {q['concurrency']} in flight | {q['msgs_per_s']:.0f} msgs/s, p50 {q['p50_ms']} ms,"
            f" p99 {q['p99_ms']} ms, failed {q['failed_runs']}, errors {q['errors']} | ≥ 5,000 msgs/s, p99 < 10 ms |"
        )
    for h in hooks:
        lines.append(
            f"| signed webhook (202, run in background), {h['connections']} connections | {h['requests_per_s']} req/s,"
            f" p50 {h['p50_ms']} ms, p99 {h['p99_ms']} ms, non-2xx {h['non_2xx']} | |"
        )
    lines.append("")
    section = "\n".join(lines)
    path = os.path.join(ROOT, "bench/results.md")
    text = open(path).read() if os.path.exists(path) else ""
    # Replace an earlier run's section rather than appending another.
    start = text.find(HEADER)
    if start >= 0:
        nxt = text.find("\n# ", start + len(HEADER))
        text = text[:start] + section + (text[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
    print(section)


if __name__ == "__main__":
    main()
