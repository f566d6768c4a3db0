#!/usr/bin/env python3
"""bench/peers.sh's measuring hands: a free port, cold start to the first correct reply, reply
checks, RSS of a process tree, one wrk run, and the final table. It starts no server itself:
peers.sh starts (and stops) every process, this only talks to them on 127.0.0.1.

  probe.py port
  probe.py ready URL TIMEOUT_S            -> prints "armed", reads "PID T0" (T0: bash $EPOCHREALTIME just
                                             before the spawn), prints ms from T0 to the first correct reply
  probe.py check URL                      -> exit 1 unless every case replies correctly
  probe.py rss PID                        -> "VmRSS_KiB VmHWM_KiB", summed over PID and its descendants
  probe.py wrk URL CONNECTIONS DURATION   -> "rps p50_ms p99_ms non_2xx socket_errors"
  probe.py table RESULTS_TSV              -> the markdown table (medians over rounds)
"""
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

BODY = '{"name": "ada lovelace"}'
# examples/hello/tests/greet.yaml's cases that succeed: (request body, message, length)
CASES = [
    (BODY, "Hello, Ada Lovelace!", 20),
    ("{}", "Hello, World!", 13),
    ('{"name": "   "}', "Hello, World!", 13),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def post(url, body, timeout=5.0):
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("POST", u.path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wrong(url, body, message, length):
    """None when POST body answers 200 with the expected output, else what was wrong."""
    try:
        status, data = post(url, body)
    except OSError as e:
        return f"no reply ({e})"
    try:
        reply = json.loads(data)
    except ValueError:
        return f"HTTP {status}, not JSON: {data[:200]!r}"
    if isinstance(reply, list) and reply:  # n8n's "all entries" shape, just in case
        reply = reply[0]
    out = reply.get("output", reply) if isinstance(reply, dict) else None
    if status != 200 or not isinstance(out, dict) or out.get("message") != message or out.get("length") != length:
        return f"HTTP {status}, {data[:300].decode(errors='replace')}"
    return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ready(url, pid, t0, timeout_s):
    deadline = time.monotonic() + timeout_s
    last = "not tried"
    while time.monotonic() < deadline:
        last = wrong(url, BODY, CASES[0][1], CASES[0][2])
        if last is None:
            print(f"{(time.time() - t0) * 1000:.1f}", flush=True)
            return 0
        if not alive(pid):
            print(f"process {pid} exited before its first correct reply (last: {last})", file=sys.stderr)
            return 1
        time.sleep(0.0005 if last.startswith("no reply") else 0.005)
    print(f"no correct reply within {timeout_s} s (last: {last})", file=sys.stderr)
    return 1


def check(url):
    bad = 0
    for body, message, length in CASES:
        w = wrong(url, body, message, length)
        if w:
            print(f"POST {url} {body} -> {w}; wanted output {{message: {message!r}, length: {length}}}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def tree(pid):
    pids, children = [pid], {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    i = 0
    while i < len(pids) and i < 1000:
        pids += children.get(pids[i], [])
        i += 1
    return pids


def rss(pid):
    total = {"VmRSS": 0, "VmHWM": 0}
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    key = line.split(":", 1)[0]
                    if key in total:
                        total[key] += int(line.split()[1])
        except OSError:
            pass
    print(total["VmRSS"], total["VmHWM"])
    return 0


def wrk(url, connections, duration):
    """The same wrk settings as bench/engine.py (bench/loadgen.py): 2 threads, 1 for one connection."""
    connections = int(connections)
    lua = f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    seconds = float(re.match(r"[\d.]+", duration).group(0)) * (60 if duration.endswith("m") else 1)
    try:
        out = subprocess.run(
            ["wrk", "-t", str(2 if connections > 1 else 1), "-c", str(connections), "-d", duration, "--latency",
             "-s", script.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)

    def ms(label):
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return "nan"
        v, unit = float(m.group(1)), m.group(2)
        return f"{v / 1000 if unit == 'us' else v * 1000 if unit == 's' else v:.3f}"

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    print(rps.group(1) if rps else "0", ms("50%"), ms("99%"), non2xx.group(1) if non2xx else 0,
          sum(int(x) for x in sock.groups()) if sock else 0)
    return 0


def table(path):
    """RESULTS_TSV lines: peer, version, round, metric, value. Medians over rounds."""
    peers, versions, values = [], {}, {}
    with open(path) as f:
        for line in f:
            peer, version, _round, metric, value = line.rstrip("\n").split("\t")
            if peer not in peers:
                peers.append(peer)
            versions[peer] = version
            values.setdefault((peer, metric), []).append(float(value))

    def med(peer, metric):
        v = [x for x in values.get((peer, metric), []) if x == x]
        return statistics.median(v) if v else None

    def num(v, digits=0):
        if v is None:
            return "–"
        return f"{v:,.0f}" if digits == 0 else f"{v:.{digits}f}"

    def lat(peer, c):
        p50, p99 = med(peer, f"p50_{c}"), med(peer, f"p99_{c}")
        return f"{num(p50, 2)} / {num(p99, 2)}"

    def errs(peer, c):
        n = sum(values.get((peer, f"non2xx_{c}"), [])) + sum(values.get((peer, f"sockerr_{c}"), []))
        return f" ⚠ {n:.0f} errors" if n else ""

    rows = [
        "| | runs/s, 2 conn. | p50 / p99 ms, 2 conn. | runs/s, 16 conn. | p50 / p99 ms, 16 conn. | idle RSS MiB | peak RSS MiB | cold start ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in peers:
        idle, peak = med(p, "idle_kib"), med(p, "peak_kib")
        rows.append(
            f"| {p} {versions[p]} | {num(med(p, 'rps_2'))}{errs(p, 2)} | {lat(p, 2)} | {num(med(p, 'rps_16'))}{errs(p, 16)} "
            f"| {lat(p, 16)} | {num(idle and idle / 1024, 1)} | {num(peak and peak / 1024, 1)} | {num(med(p, 'cold_ms'), 1)} |"
        )
    ratios = []
    ours = med(peers[0], "rps_16") if peers else None
    for p in peers[1:]:
        theirs = med(p, "rps_16")
        if ours and theirs:
            ratios.append(f"{peers[0]} / {p} at 16 connections: {ours / theirs:.2f}×")
    print("\n".join(rows))
    if ratios:
        print("\n" + "; ".join(ratios) + ".")
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "port" and len(argv) == 2:
        print(free_port())
        return 0
    if cmd == "ready" and len(argv) == 4:
        # Loaded before the server is spawned, so its own start-up is not in the cold start.
        print("armed", flush=True)
        pid, t0 = sys.stdin.readline().split()
        return ready(argv[2], int(pid), float(t0), float(argv[3]))
    if cmd == "check" and len(argv) == 3:
        return check(argv[2])
    if cmd == "rss" and len(argv) == 3:
        return rss(int(argv[2]))
    if cmd == "wrk" and len(argv) == 5:
        return wrk(argv[2], argv[3], argv[4])
    if cmd == "table" and len(argv) == 3:
        return table(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
