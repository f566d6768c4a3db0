#!/usr/bin/env python3
"""Single-host routing benchmark: `pipedreamer server` with `routing.base_domain`, a real Caddy
(`tls internal`, loopback ports) and a podman deployment of examples/hello on a subdomain.

- route set-up: from the deployment answering `POST /run` on its own port (the rollout is live)
  to the first HTTPS 200 through Caddy at `https://hello.example.test:<port>/run`; each round
  stops the deployment (its route goes) and deploys it again; median of BENCH_ROUNDS (target < 1 s);
- the proxy hop: wrk `POST /run` directly on the deployment's port vs through Caddy over HTTPS
  (TLS terminated by Caddy, kept-alive connections), runs/s and p99 side by side, the best of
  BENCH_HOP_ROUNDS alternating runs per side. wrk resolves
  the subdomain through a private /etc/hosts in its own mount namespace (`unshare -m`), so
  nothing on the machine changes.

Appends to bench/results.md and writes bench/proxy-results.json. Needs caddy, podman, wrk and the
binaries (`BENCH_BIN_DIR`, default the release build; `BENCH_ENGINE` for another engine binary).
"""
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from control_plane import git, request, wait_build
from loadgen import free_port, wrk

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release"))
CLI = os.path.join(BIN, "pipedreamer")
ENGINE = os.environ.get("BENCH_ENGINE", os.path.join(BIN, "pipedreamer-engine"))
RESULTS = os.path.join(ROOT, "bench/proxy-results.json")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "16,64").split(",")]
HOP_ROUNDS = int(os.environ.get("BENCH_HOP_ROUNDS", "2"))
HOST = "hello.example.test"
BODY = b'{"name": "bench"}'
LUA = 'wrk.method = "POST"\nwrk.body = \'{"name": "bench"}\'\nwrk.headers["Content-Type"] = "application/json"\n'


def start_caddy(tmp):
    admin, http_port, https_port = free_port(), free_port(), free_port()
    data = os.path.join(tmp, "caddy-data")
    config = {
        "admin": {"listen": f"127.0.0.1:{admin}"},
        "storage": {"module": "file_system", "root": data},
        "logging": {"logs": {"default": {"level": "ERROR"}}},
        "apps": {"http": {"http_port": http_port, "https_port": https_port},
                 "pki": {"certificate_authorities": {"local": {"install_trust": False}}}},
    }
    path = os.path.join(tmp, "caddy.json")
    with open(path, "w") as f:
        json.dump(config, f)
    home = os.path.join(tmp, "caddy-home")
    proc = subprocess.Popen(["caddy", "run", "--config", path], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, "caddy.log"), "w"),
                            env={**os.environ, "HOME": home, "XDG_CONFIG_HOME": home, "XDG_DATA_HOME": home})
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", admin), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        raise SystemExit(f"caddy did not start; see {tmp}/caddy.log")
    return proc, f"http://127.0.0.1:{admin}", https_port, os.path.join(data, "pki/authorities/local/root.crt")


def https_run(port, cafile, timeout=2):
    """POST /run to HOST through Caddy on loopback (SNI and Host = HOST); the status code."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOST) as s:
            s.sendall(b"POST /run HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (HOST.encode(), port, len(BODY), BODY))
            head = s.recv(64)
    return int(head.split(b" ", 2)[1])


def direct_run(url):
    try:
        return request("POST", f"{url}/run", {"name": "bench"}, timeout=2)[0]
    except OSError:
        return None


def first_success(probe, until):
    """Polls `probe` every 5 ms until it returns 200; the perf_counter time of that answer."""
    while time.perf_counter() < until:
        try:
            if probe() == 200:
                return time.perf_counter()
        except (OSError, ssl.SSLError, ValueError, IndexError):
            pass
        time.sleep(0.005)
    return None


def wrk_via_hosts(url, connections, hosts_file):
    """wrk with HOST resolving to loopback through a private /etc/hosts (its own mount namespace)."""
    shim = tempfile.mkdtemp(prefix="pd-wrk-")
    wrapper = os.path.join(shim, "wrk")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec unshare -m sh -c \'mount --bind "{hosts_file}" /etc/hosts && exec {shutil.which("wrk")} "$@"\' wrk "$@"\n')
    os.chmod(wrapper, 0o755)
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{shim}:{path}"
    try:
        return wrk(url, connections, DURATION, LUA)
    finally:
        os.environ["PATH"] = path
        shutil.rmtree(shim, ignore_errors=True)


def main():
    for exe in (CLI, ENGINE):
        if not os.path.exists(exe):
            raise SystemExit(f"{exe} is missing: cargo build --release -p pipedreamer -p pipedreamer-engine")
    for tool in ("caddy", "podman", "wrk", "unshare"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (scripts/test.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="pd-proxy-bench-")
    repo = os.path.join(tmp, "repo")
    shutil.copytree(os.path.join(ROOT, "examples/hello"), repo,
                    ignore=shutil.ignore_patterns(".pipedreamer", "node_modules"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hello")
    caddy, admin, https_port, root_ca = start_caddy(tmp)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    lo = 24400 + (port % 100) * 2
    server = subprocess.Popen(
        [CLI, "server", "--data-dir", os.path.join(tmp, "data"), "--port", str(port), "--public-url", api,
         "--engine", ENGINE],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "server.log"), "w"),
        env={**os.environ, "RUST_LOG": "warn", "PIPEDREAMER_SERVER_LOCAL__PORT_RANGE": f"{lo}-{lo + 1}",
             "PIPEDREAMER_SERVER_ROUTING__BASE_DOMAIN": "example.test",
             "PIPEDREAMER_SERVER_ROUTING__TLS": "internal",
             "PIPEDREAMER_SERVER_ROUTING__HTTPS_PORT": str(https_port),
             "PIPEDREAMER_SERVER_CADDY__ADMIN": admin})
    dep_id = None
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if request("GET", f"{api}/readyz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"the server exited; see {tmp}/server.log")
            time.sleep(0.05)
        with open(os.path.join(tmp, "data", "admin-token")) as f:
            token = f.read().strip()
        request("POST", f"{api}/api/workspaces", {"name": "bench"}, token)
        status, dep = request("POST", f"{api}/api/workspaces/bench/deployments", {
            "name": "hello", "repo": f"file://{repo}", "branch": "main",
            "target": {"type": "local"}, "subdomain": "hello"}, token)
        assert status in (200, 201), (status, dep)
        dep_id = dep["id"]

        setups = []
        direct_url = None
        for n in range(ROUNDS + 1):
            if n > 0:
                status, stopped = request("POST", f"{api}/api/deployments/{dep_id}/stop", None, token)
                assert status == 200, (status, stopped)
            status, queued = request("POST", f"{api}/api/deployments/{dep_id}/deploy", None, token)
            assert status == 202, (status, queued)
            if direct_url is None:
                # The first round also builds the image and reserves the port.
                b = wait_build(api, token, queued["build_id"], timeout=300)
                assert b["status"] == "SUCCESS", b
                direct_url = local_url(dep_id, tmp)
                continue
            until = time.perf_counter() + 300
            times = {}
            pollers = [
                threading.Thread(target=lambda: times.__setitem__("direct", first_success(lambda: direct_run(direct_url), until)), daemon=True),
                threading.Thread(target=lambda: times.__setitem__("https", first_success(lambda: https_run(https_port, root_ca), until)), daemon=True),
            ]
            for t in pollers:
                t.start()
            for t in pollers:
                t.join()
            if times.get("direct") is None or times.get("https") is None:
                raise SystemExit(f"round {n}: no answer ({times}); see {tmp}/server.log and {tmp}/caddy.log")
            setups.append(max(0.0, times["https"] - times["direct"]))
            wait_build(api, token, queued["build_id"], timeout=300)

        hosts = os.path.join(tmp, "hosts")
        with open("/etc/hosts") as f:
            system_hosts = f.read()
        with open(hosts, "w") as f:
            f.write(f"127.0.0.1 {HOST}\n{system_hosts}")
        hop = []
        load = os.getloadavg()[0]
        for c in CONNECTIONS:
            # Alternating rounds, the best of each side: the machine is shared, and a busy moment
            # should not count against either side.
            directs, vias = [], []
            for _ in range(HOP_ROUNDS):
                directs.append(wrk(f"{direct_url}/run", c, DURATION, LUA))
                vias.append(wrk_via_hosts(f"https://{HOST}:{https_port}/run", c, hosts))
            best = lambda runs: max(runs, key=lambda r: r["requests_per_s"])
            hop.append({"connections": c, "direct": best(directs), "caddy_https": best(vias),
                        "all_direct": directs, "all_caddy_https": vias})
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        caddy.kill()
        caddy.wait()
        # Only this run's containers: other deployments on the machine are not ours to remove.
        if dep_id:
            ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=pipedreamer.deployment={dep_id}"],
                                 capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["podman", "rm", "-f", "-t", "0", *ids], capture_output=True)

    result = {
        "route_setup_s": {"median": statistics.median(setups), "max": max(setups), "all": setups},
        "hop": hop,
        "load_average_1m_before_wrk": load,
        "binaries": BIN,
        "engine": ENGINE,
    }
    with open(RESULTS, "w") as f:
        json.dump(result, f, indent=2)
    runtime = "gVisor (runsc)" if shutil.which("runsc") else "runc"
    lines = [
        "",
        "# Proxy benchmark",
        "",
        f"`pipedreamer server` with `routing.base_domain`, Caddy {caddy_version()} (`tls internal`), `examples/hello` "
        f"under podman + {runtime}; wrk {DURATION} per run, best of {HOP_ROUNDS} alternating runs per side; wrk, "
        f"Caddy and the engine share the 2 cores (1-minute load average {load:.1f} before the wrk runs).",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| route set-up (deployment answers on its port → first HTTPS 200 through Caddy), median of {ROUNDS} "
        f"| {result['route_setup_s']['median'] * 1000:.0f} ms (max {max(setups) * 1000:.0f} ms) | < 1 s |",
    ]
    for h in hop:
        d, v = h["direct"], h["caddy_https"]
        lines.append(
            f"| `POST /run`, {h['connections']} connections: direct vs through Caddy (HTTPS), runs/s "
            f"| {d['requests_per_s']} vs {v['requests_per_s']} ({(v['requests_per_s'] / d['requests_per_s'] - 1) * 100:+.0f}%) | |")
        lines.append(
            f"| `POST /run`, {h['connections']} connections: direct vs through Caddy (HTTPS), p99 "
            f"| {d['p99_ms']:.1f} vs {v['p99_ms']:.1f} ms | |")
    lines.append("")
    with open(os.path.join(ROOT, "bench/results.md"), "a") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)


def local_url(deployment, tmp):
    """The deployment's own `http://<bind>:<port>` (the API shows the public URL), from the engine's
    arguments in its container."""
    ids = subprocess.run(["podman", "ps", "-q", "--filter", f"label=pipedreamer.deployment={deployment}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        args = json.loads(subprocess.run(["podman", "inspect", "--format", "{{json .Args}}", ids[0]],
                                         capture_output=True, text=True).stdout)
        # The image's default arguments come first (`--port 8080`); the last ones count.
        last = {flag: args[i + 1] for i, flag in enumerate(args[:-1]) if flag in ("--host", "--port")}
        if "--port" in last:
            return f"http://{last.get('--host', '127.0.0.1')}:{last['--port']}"
    raise SystemExit(f"cannot find the deployment's port in its container; see {tmp}/server.log")


def caddy_version():
    out = subprocess.run(["caddy", "version"], capture_output=True, text=True).stdout.split()
    return out[0] if out else "?"


if __name__ == "__main__":
    sys.exit(main())
