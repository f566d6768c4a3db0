#!/usr/bin/env bash
# Builds release binaries and runs the benchmarks; results go to bench/results.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p pipedreamer-engine -p pipedreamer
python3 bench/engine.py
