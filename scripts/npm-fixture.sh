#!/usr/bin/env bash
# The real npm packages the tests import (tests/fixtures/npm: exact versions, a lockfile).
#
#   scripts/npm-fixture.sh        installs them once per lockfile and prints the directory
#                                 that holds `node_modules`
#   scripts/npm-fixture.sh DIR    also links that `node_modules` (hard links, so no copy and
#                                 nothing pointing out of DIR) and package*.json into DIR, a
#                                 workflow directory, and prints DIR
#
# `npm ci --ignore-scripts` from the lockfile into target/npm-fixture, rerun only when
# package-lock.json changes; concurrent callers wait on a lock. Exits 3 when npm is missing
# (tests skip loudly then; scripts/test.sh installs it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tests/fixtures/npm"
target="${CARGO_TARGET_DIR:-$root/target}"
dest="$target/npm-fixture"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm-fixture: npm is not installed; install it with \`apt-get install nodejs npm\`" >&2
  exit 3
fi

mkdir -p "$target"
exec 9>"$dest.lock"
flock 9
want="$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$dest/.lock-sha256" 2>/dev/null || true)" != "$want" ]; then
  echo "npm-fixture: installing $(grep -c '"node_modules/' "$src/package-lock.json") packages with npm ci into $dest" >&2
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  cp "$src/package.json" "$src/package-lock.json" "$dest.tmp/"
  (cd "$dest.tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  echo "$want" > "$dest.tmp/.lock-sha256"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
fi

if [ $# -ge 1 ]; then
  dir="$1"
  mkdir -p "$dir"
  cp "$dest/package.json" "$dest/package-lock.json" "$dir/"
  rm -rf "$dir/node_modules"
  # Hard links when DIR is on the same file system (fast, no space), else a copy.
  cp -al "$dest/node_modules" "$dir/node_modules" 2>/dev/null || cp -a "$dest/node_modules" "$dir/node_modules"
  echo "$dir"
else
  echo "$dest"
fi
