#!/usr/bin/env bash
# axe-core for the dashboard's accessibility checks (tests only; never embedded in the
# product): `npm pack` of one pinned version, checked against its SHA-256, unpacked once into
# target/axe-core-<version>. Prints the path of axe.min.js. Exits 3 when npm is missing
# (scripts/test.sh installs it).
set -euo pipefail
version=4.11.0
sha256=e9e5863c33a874f09bc01acd9234b7e3c871479f5eef8802fa582544465e6d01
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
dest="$target/axe-core-$version"
if [ -f "$dest/axe.min.js" ]; then
  echo "$dest/axe.min.js"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "axe-fixture: npm is not installed; install it with \`apt-get install nodejs npm\`" >&2
  exit 3
fi
mkdir -p "$target"
exec 9>"$dest.lock"
flock 9
if [ ! -f "$dest/axe.min.js" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
  tar xzf "$tmp/axe-core-$version.tgz" -C "$tmp" package/axe.min.js package/LICENSE
  echo "$sha256  $tmp/package/axe.min.js" | sha256sum -c --quiet -
  mkdir -p "$dest.tmp"
  cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$dest.tmp/"
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
fi
echo "$dest/axe.min.js"
