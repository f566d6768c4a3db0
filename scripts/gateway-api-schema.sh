#!/usr/bin/env bash
# The Gateway API's published schema for the HTTPRoute tests: @kubernetes-models/gateway-api,
# pinned with its dependencies by tests/fixtures/gateway-api/package-lock.json.
#
#   scripts/gateway-api-schema.sh     installs it once per lockfile (npm ci --ignore-scripts into
#                                     target/gateway-api-schema) and prints the directory that
#                                     holds validate.mjs and node_modules
#
# Run `node DIR/validate.mjs FILE.json...` to judge HTTPRoutes. Exits 3 when npm is missing
# (scripts/test.sh installs it). Concurrent callers wait on a lock.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tests/fixtures/gateway-api"
target="${CARGO_TARGET_DIR:-$root/target}"
dest="$target/gateway-api-schema"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "gateway-api-schema: npm and node are not installed; install them with \`apt-get install nodejs npm\`" >&2
  exit 3
fi

mkdir -p "$target"
exec 9>"$dest.lock"
flock 9
want="$(cat "$src/package-lock.json" "$src/validate.mjs" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$dest/.lock-sha256" 2>/dev/null || true)" != "$want" ]; then
  echo "gateway-api-schema: installing @kubernetes-models/gateway-api with npm ci into $dest" >&2
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  cp "$src/package.json" "$src/package-lock.json" "$src/validate.mjs" "$dest.tmp/"
  (cd "$dest.tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$dest.tmp/.lock-sha256"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
fi
echo "$dest"
