#!/usr/bin/env bash
# Pipedreamer side by side with its peers, in one run on this machine: examples/hello
# (POST /run → parse → greet → format → JSON) on the engine, on Node-RED 4 (the same three
# steps as function nodes) and on Deno 2 (the same three functions in one isolate, no per-run
# isolation), optionally on n8n (--n8n; it is large). Same wrk settings for all (as
# bench/engine.py: 2 threads, POST {"name": "ada lovelace"}); every reply is checked before
# measuring. Prints one markdown table and writes it to bench/peers-results.md.
#
#   bench/peers.sh [--n8n] [--rounds N] [--duration 5s] [--warmup 2s] [--cold N] [--out FILE]
#
# Peers come from npm into a scratch directory ($PEERS_DIR, default /tmp/pipedreamer-peers),
# installed once and reused. The engine is the release binary bench/run.sh builds; this script
# builds nothing. Servers listen on 127.0.0.1 only, every wait is bounded, and everything this
# script started is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT/bench/peers
PY=$(python3 -c 'import sys; print(sys.executable)') # the interpreter itself, not a pyenv shim
PROBE=("$PY" "$HERE/probe.py")
ENGINE=${PEERS_ENGINE:-$ROOT/target/x86_64-unknown-linux-gnu/release/pipedreamer-engine}
SCRATCH=${PEERS_DIR:-${TMPDIR:-/tmp}/pipedreamer-peers}
NODE_RED_PKG=${PEERS_NODE_RED_PKG:-node-red@4}
DENO_PKG=${PEERS_DENO_PKG:-deno@2}
N8N_PKG=${PEERS_N8N_PKG:-n8n@1} # n8n 2 wants Node.js >= 24; n8n 1 runs on Node.js 20
ROUNDS=3 DURATION=5s WARMUP=2s COLD=2 WITH_N8N=0 OUT=$ROOT/bench/peers-results.md

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --n8n) WITH_N8N=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --cold) COLD=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 >&2 ;;
  esac
  shift
done
[[ $ROUNDS =~ ^[1-9]$|^10$ ]] || { echo "--rounds takes 1 to 10" >&2; exit 2; }
[[ $COLD =~ ^[0-9]$|^10$ ]] || { echo "--cold takes 0 to 10 (extra cold starts per round)" >&2; exit 2; }
[[ $DURATION =~ ^[0-9]+s$ && $WARMUP =~ ^[0-9]+s$ ]] || { echo "--duration and --warmup are like 5s" >&2; exit 2; }

log() { echo "peers: $*" >&2; }
for tool in wrk python3 node npm curl; do
  command -v "$tool" >/dev/null || { log "needs $tool (apt-get install wrk python3 nodejs npm curl)"; exit 1; }
done
[ -x "$ENGINE" ] || { log "missing $ENGINE: build it with bench/run.sh (cargo build --release -p pipedreamer-engine)"; exit 1; }

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
mkdir -p "$SCRATCH"
RUN_DIR=$(mktemp -d "$SCRATCH/run.XXXXXX")
TSV=$RUN_DIR/results.tsv
: >"$TSV"
declare -a STARTED=() NOTES=() PEERS=()
declare -A VERSION=()

# --- processes -------------------------------------------------------------------------------

descendants() { # PID -> its descendants, deepest last
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}

gone() { # PID -> true once it has exited (a zombie counts as exited)
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
  [ "$state" = Z ]
}

stop() { # PID: TERM it and its descendants, KILL what is left after 10 s
  local pid=$1 p i all
  all="$pid $(descendants "$pid" | tr '\n' ' ')"
  for p in $all; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    local left=0
    for p in $all; do gone "$p" || left=1; done
    [ $left = 0 ] && break
    sleep 0.1
  done
  for p in $all; do gone "$p" || kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do gone "$pid" || stop "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- installing the peers from npm -----------------------------------------------------------

npm_install() { # PREFIX PACKAGE... -> 0 when npm installed them; its output goes to PREFIX/npm.log
  local prefix=$1; shift
  mkdir -p "$prefix"
  [ -f "$prefix/package.json" ] || echo '{"name": "pipedreamer-peers", "private": true}' >"$prefix/package.json"
  log "npm install $* (into $prefix)"
  timeout 1800 npm install --prefix "$prefix" --no-audit --no-fund "$@" >"$prefix/npm.log" 2>&1
}

npm_failure() { # PREFIX -> npm's last error lines, on one line
  grep -E 'npm (error|ERR)' "$1/npm.log" | tail -n 4 | tr '\n' ' ' | cut -c1-400
}

pkg_version() { node -p "require('$1/package.json').version" 2>/dev/null || true; }

deno_bin() { # the deno binary the npm package ships (its platform package; no postinstall needed)
  local arch c
  case $(uname -m) in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) return 1 ;; esac
  for c in "$SCRATCH/node_modules/@deno/linux-$arch-glibc/deno" "$SCRATCH/node_modules/deno/deno"; do
    if [ -x "$c" ] && "$c" --version >/dev/null 2>&1; then echo "$c"; return 0; fi
  done
  return 1
}

install_peers() {
  local want_nr=${NODE_RED_PKG##*@} want_deno=${DENO_PKG##*@} have
  have=$(pkg_version "$SCRATCH/node_modules/node-red")
  local deno_have=""
  deno_bin >/dev/null && deno_have=$("$(deno_bin)" --version | awk 'NR==1{print $2}')
  if [[ $have != "$want_nr".* || $deno_have != "$want_deno".* ]]; then
    npm_install "$SCRATCH" "$NODE_RED_PKG" "$DENO_PKG" || NOTES+=("npm install $NODE_RED_PKG $DENO_PKG failed: $(npm_failure "$SCRATCH")")
  fi
  have=$(pkg_version "$SCRATCH/node_modules/node-red")
  if [[ $have == "$want_nr".* ]]; then
    PEERS+=(node-red); VERSION[node-red]="$have (Node.js $(node --version | tr -d v))"
  else
    NOTES+=("Node-RED: not measured, $NODE_RED_PKG is not installed in $SCRATCH (see $SCRATCH/npm.log)")
  fi
  if deno_bin >/dev/null; then
    DENO=$(deno_bin); PEERS+=(deno); VERSION[deno]=$("$DENO" --version | awk 'NR==1{print $2}')
  else
    NOTES+=("Deno: not measured, $DENO_PKG installed no runnable deno binary for $(uname -m) in $SCRATCH/node_modules/@deno")
  fi
  if [ $WITH_N8N = 1 ]; then
    local want_n8n=${N8N_PKG##*@}
    have=$(pkg_version "$SCRATCH/n8n/node_modules/n8n")
    if [[ $have != "$want_n8n".* ]]; then
      # n8n-nodes-base asks for xlsx as a tarball from the SheetJS CDN, which is not the npm
      # registry (unreachable here): take the registry's last xlsx instead. isolated-vm 6 (for
      # @n8n/expression-runtime) wants Node.js 22 and does not compile on 20: take 5.0.4.
      mkdir -p "$SCRATCH/n8n"
      echo '{"name": "pipedreamer-peers-n8n", "private": true, "overrides": {"xlsx": "0.18.5", "isolated-vm": "5.0.4"}}' >"$SCRATCH/n8n/package.json"
      npm_install "$SCRATCH/n8n" "$N8N_PKG" || NOTES+=("npm install $N8N_PKG failed: $(npm_failure "$SCRATCH/n8n")")
      have=$(pkg_version "$SCRATCH/n8n/node_modules/n8n")
    fi
    if [[ $have == "$want_n8n".* ]]; then
      PEERS+=(n8n); VERSION[n8n]="$have (Node.js $(node --version | tr -d v))"
    else
      NOTES+=("n8n: not measured, $N8N_PKG is not installed in $SCRATCH/n8n (see $SCRATCH/n8n/npm.log)")
    fi
  fi
}

# --- one peer --------------------------------------------------------------------------------

name_of() { case $1 in pipedreamer) echo Pipedreamer ;; deno) echo Deno ;; node-red) echo Node-RED ;; n8n) echo n8n ;; esac; }
url_of() { if [ "$1" = n8n ]; then echo "http://127.0.0.1:$2/webhook/run"; else echo "http://127.0.0.1:$2/run"; fi; }
ready_timeout() { if [ "$1" = n8n ]; then echo 180; else echo 60; fi; }

n8n_env() { # PORT -> the environment n8n runs with: loopback, its own folder, no telemetry, no saved runs
  echo N8N_USER_FOLDER="$RUN_DIR/n8n-home" N8N_PORT="$1" N8N_LISTEN_ADDRESS=127.0.0.1 N8N_HOST=127.0.0.1 \
    N8N_RUNNERS_BROKER_LISTEN_ADDRESS=127.0.0.1 N8N_RUNNERS_BROKER_PORT="$("${PROBE[@]}" port)" \
    N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false N8N_TEMPLATES_ENABLED=false \
    N8N_PERSONALIZATION_ENABLED=false N8N_HIRING_BANNER_ENABLED=false N8N_LOG_LEVEL=warn \
    EXECUTIONS_DATA_SAVE_ON_SUCCESS=none EXECUTIONS_DATA_SAVE_ON_ERROR=none \
    EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS=false N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=false
}

command_of() { # PEER PORT -> CMD array
  local peer=$1 port=$2
  case $peer in
    pipedreamer)
      CMD=(env RUST_LOG=warn "$ENGINE" --workflow "$ROOT/examples/hello" --host 127.0.0.1 --port "$port") ;;
    deno)
      CMD=(env DENO_DIR="$SCRATCH/deno-dir" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
        "$DENO" run --quiet --no-config --no-prompt --allow-net="127.0.0.1:$port" "$HERE/hello.ts" "$port") ;;
    node-red)
      mkdir -p "$RUN_DIR/node-red"
      # No function-node timeouts by default: Node-RED runs a node with a timeout under vm's
      # watchdog, which halves its runs/s here. PEERS_NODE_RED_TIMEOUT=1 gives format the 5 s of
      # workflow.yaml (the engine always has its per-node timeouts: 30 s, and 5 s on format).
      python3 -c 'import json, sys
flow = json.load(open(sys.argv[1]))
for n in flow:
    if n.get("id") == "format":
        n["timeout"] = 5 if sys.argv[2] == "1" else 0
json.dump(flow, open(sys.argv[3], "w"))' "$HERE/node-red-flow.json" "${PEERS_NODE_RED_TIMEOUT:-0}" "$RUN_DIR/node-red/flows.json"
      CMD=(env PEERS_NODE_RED_FLOW="$RUN_DIR/node-red/flows.json" node "$SCRATCH/node_modules/node-red/red.js"
        --settings "$HERE/node-red-settings.js" --userDir "$RUN_DIR/node-red" --port "$port") ;;
    n8n)
      read -r -a N8N_ENV <<<"$(n8n_env "$port")"
      CMD=(env "${N8N_ENV[@]}" node "$SCRATCH/n8n/node_modules/n8n/bin/n8n" start) ;;
  esac
}

PID="" COLD_MS=""
launch() { # PEER PORT -> PID and COLD_MS (spawn → first correct reply); 1 when it never replied right
  local peer=$1 port=$2 t0 armed="" limit
  limit=$(ready_timeout "$peer")
  command_of "$peer" "$port"
  # The probe is started (and has loaded) before the server, then told its pid and start time.
  coproc READY { "${PROBE[@]}" ready "$(url_of "$peer" "$port")" "$limit" 2>>"$RUN_DIR/$peer.probe"; }
  local ready_pid=$READY_PID ready_in=${READY[1]} ready_out=${READY[0]}
  STARTED+=("$ready_pid")
  read -r -t 30 armed <&"$ready_out" || true
  t0=$EPOCHREALTIME
  "${CMD[@]}" >>"$RUN_DIR/$peer.log" 2>&1 &
  PID=$!
  STARTED+=("$PID")
  echo "$PID $t0" >&"$ready_in"
  COLD_MS=""
  read -r -t $((limit + 10)) COLD_MS <&"$ready_out" || true
  wait "$ready_pid" 2>/dev/null || true
  if [ "$armed" != armed ] || ! [[ $COLD_MS =~ ^[0-9.]+$ ]]; then
    stop "$PID"
    return 1
  fi
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$(name_of "$1")" "${VERSION[$1]}" "$2" "$3" "$4" >>"$TSV"; }

n8n_import() { # the workflow goes into a fresh n8n folder and is activated, before any timing
  local env_now
  read -r -a env_now <<<"$(n8n_env "$("${PROBE[@]}" port)")"
  timeout 300 env "${env_now[@]}" node "$SCRATCH/n8n/node_modules/n8n/bin/n8n" import:workflow --input="$HERE/n8n-workflow.json" >>"$RUN_DIR/n8n.log" 2>&1 &&
    timeout 300 env "${env_now[@]}" node "$SCRATCH/n8n/node_modules/n8n/bin/n8n" update:workflow --id=peersHello000001 --active=true >>"$RUN_DIR/n8n.log" 2>&1
}

setup() { # PEER -> 0 when it starts and answers every case right (primes caches; not timed)
  local peer=$1 port
  if [ "$peer" = n8n ] && ! n8n_import; then
    NOTES+=("n8n: not measured, importing or activating the workflow failed: $(tail -n 3 "$RUN_DIR/n8n.log" | tr '\n' ' ' | cut -c1-300)")
    return 1
  fi
  port=$("${PROBE[@]}" port)
  if ! launch "$peer" "$port"; then
    NOTES+=("$(name_of "$peer"): not measured, no correct reply after start: $(tail -n 2 "$RUN_DIR/$peer.probe" | tr '\n' ' ' | cut -c1-300) (log: $(tail -n 2 "$RUN_DIR/$peer.log" | tr '\n' ' ' | cut -c1-200))")
    return 1
  fi
  if ! "${PROBE[@]}" check "$(url_of "$peer" "$port")" 2>>"$RUN_DIR/$peer.probe"; then
    NOTES+=("$(name_of "$peer"): not measured, wrong replies: $(tail -n 3 "$RUN_DIR/$peer.probe" | tr '\n' ' ' | cut -c1-400)")
    stop "$PID"
    return 1
  fi
  record "$peer" 0 setup_ms "$COLD_MS"
  stop "$PID"
}

measure() { # PEER ROUND: extra cold starts, then one start under load
  local peer=$1 round=$2 port url i c out r idle peak
  for ((i = 0; i < COLD; i++)); do
    port=$("${PROBE[@]}" port)
    launch "$peer" "$port" || { log "$peer: no correct reply in a cold start (round $round)"; return 1; }
    record "$peer" "$round" cold_ms "$COLD_MS"
    stop "$PID"
  done
  port=$("${PROBE[@]}" port)
  url=$(url_of "$peer" "$port")
  launch "$peer" "$port" || { log "$peer: no correct reply (round $round)"; return 1; }
  record "$peer" "$round" cold_ms "$COLD_MS"
  if ! "${PROBE[@]}" check "$url" 2>>"$RUN_DIR/$peer.probe"; then
    log "$peer: wrong replies (round $round), see $RUN_DIR/$peer.probe"; stop "$PID"; return 1
  fi
  sleep 1
  read -r idle _ < <("${PROBE[@]}" rss "$PID")
  record "$peer" "$round" idle_kib "$idle"
  "${PROBE[@]}" wrk "$url" 16 "$WARMUP" >/dev/null 2>>"$RUN_DIR/$peer.probe" || true
  for c in 2 16; do
    if ! out=$("${PROBE[@]}" wrk "$url" "$c" "$DURATION" 2>>"$RUN_DIR/$peer.probe"); then
      log "$peer: wrk failed (round $round, $c connections)"; stop "$PID"; return 1
    fi
    read -r -a r <<<"$out"
    record "$peer" "$round" "rps_$c" "${r[0]}"
    record "$peer" "$round" "p50_$c" "${r[1]}"
    record "$peer" "$round" "p99_$c" "${r[2]}"
    record "$peer" "$round" "non2xx_$c" "${r[3]}"
    record "$peer" "$round" "sockerr_$c" "${r[4]}"
    log "$(name_of "$peer") round $round, $c connections: ${r[0]} runs/s, p50 ${r[1]} ms, p99 ${r[2]} ms"
  done
  read -r _ peak < <("${PROBE[@]}" rss "$PID")
  record "$peer" "$round" peak_kib "$peak"
  if ! "${PROBE[@]}" check "$url" 2>>"$RUN_DIR/$peer.probe"; then
    NOTES+=("$(name_of "$peer"): wrong replies after the load in round $round")
  fi
  stop "$PID"
}

# --- the run ---------------------------------------------------------------------------------

log "scratch $RUN_DIR; load average at start $LOAD_AT_START on $(nproc) cores"
PEERS=(pipedreamer)
VERSION[pipedreamer]=$("$ENGINE" --version | awk '{print $2}')
install_peers
ACTIVE=()
for peer in "${PEERS[@]}"; do
  log "checking $(name_of "$peer") ${VERSION[$peer]}"
  if setup "$peer"; then ACTIVE+=("$peer"); fi
done
[[ " ${ACTIVE[*]} " == *" pipedreamer "* ]] || { log "the engine gave no correct reply: ${NOTES[*]}"; exit 1; }

for ((round = 1; round <= ROUNDS; round++)); do
  # interleaved, and each round starts with a different peer
  n=${#ACTIVE[@]}
  for ((k = 0; k < n; k++)); do
    peer=${ACTIVE[$(((k + round - 1) % n))]}
    measure "$peer" "$round" || NOTES+=("$(name_of "$peer"): round $round incomplete, see $RUN_DIR/$peer.probe")
  done
done

TABLE=$("${PROBE[@]}" table "$TSV")
{
  echo "# Pipedreamer and its peers, side by side"
  echo
  echo "\`bench/peers.sh\` on $STARTED_AT, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at start $LOAD_AT_START."
  echo "Workflow \`examples/hello\` (POST /run → parse → greet → format → JSON) on every peer; wrk with 2 threads"
  echo "(sharing the cores), POST \`{\"name\": \"ada lovelace\"}\`, $DURATION per row after a $WARMUP warm-up at 16 connections;"
  if [ "$ROUNDS" = 1 ]; then echo "one round."; else echo "medians of $ROUNDS interleaved rounds."; fi
  echo "Cold start: spawn → first correct reply to POST /run, median of $((ROUNDS * (COLD + 1))) starts."
  echo "Idle RSS 1 s after the reply checks; peak RSS is the high-water mark after the load (summed over the process tree)."
  echo
  echo "$TABLE"
  echo
  echo "- Pipedreamer: the release engine; every run isolated (its own input and output copies and \`ctx.run\`, a frozen \`ctx\` per node, reseeded random, frozen realm; the nodes' modules have no state, so the realm shares one frozen instance of them), per-node timeouts on (30 s default, 5 s on format)."
  echo "- Deno: \`bench/peers/hello.ts\`, the same three functions in one isolate, Deno.serve, **no** per-run isolation."
  if [ "${PEERS_NODE_RED_TIMEOUT:-0}" = 1 ]; then nr_timeout="format with the 5 s timeout of workflow.yaml"; else nr_timeout="no function timeouts, which Node-RED runs under vm's watchdog (PEERS_NODE_RED_TIMEOUT=1 sets format's 5 s)"; fi
  echo "- Node-RED: \`bench/peers/node-red-flow.json\`, http in → three function nodes → http response; $nr_timeout; editor and admin API off, log level warn."
  [ $WITH_N8N = 1 ] && echo "- n8n: \`bench/peers/n8n-workflow.json\`, webhook → three Code nodes, answered by the last node; successful runs not saved."
  for note in "${NOTES[@]}"; do echo "- ⚠ $note"; done
} >"$RUN_DIR/results.md"
cp "$RUN_DIR/results.md" "$OUT"
cat "$OUT"
log "wrote $OUT (raw numbers: $TSV)"
