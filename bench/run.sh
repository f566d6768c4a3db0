#!/usr/bin/env bash
# Builds release binaries and runs the benchmarks; results go to bench/results.md and
# bench/*.json. Needs wrk and podman (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p pipedreamer-engine -p pipedreamer
python3 bench/engine.py
python3 bench/image.py
