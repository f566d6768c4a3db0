#!/usr/bin/env bash
# Builds release binaries and runs the benchmarks; results go to bench/results.md and
# bench/*.json. Needs wrk, podman, git, nats-server, caddy, chromium and chromium-driver
# (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p pipedreamer-engine -p pipedreamer
cargo build --release -p pipedreamer-engine --example nats_load
python3 bench/engine.py
python3 bench/image.py
python3 bench/nats.py
python3 bench/control_plane.py
python3 bench/proxy.py
python3 bench/dashboard.py
python3 bench/readme.py
