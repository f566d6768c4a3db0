#!/usr/bin/env bash
# How the vendored htmx files were fetched (run once by hand; the product embeds the result and
# never fetches anything). Pinned exact versions: htmx 2.0.x (not 4.x) and its SSE extension.
#   bash crates/pipedreamer-server/assets/fetch.sh
# then check `sha256sum -c SHA256SUMS` and commit the .js files with their licences.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent htmx.org@2.0.11 htmx-ext-sse@2.2.4 >/dev/null)
tar xzf "$tmp/htmx.org-2.0.11.tgz" -C "$tmp" package/dist/htmx.min.js package/LICENSE
cp "$tmp/package/dist/htmx.min.js" htmx-2.0.11.min.js
cp "$tmp/package/LICENSE" htmx.LICENSE
rm -rf "$tmp/package"
tar xzf "$tmp/htmx-ext-sse-2.2.4.tgz" -C "$tmp" package/dist/sse.min.js package/LICENSE
cp "$tmp/package/dist/sse.min.js" htmx-ext-sse-2.2.4.min.js
cp "$tmp/package/LICENSE" htmx-ext-sse.LICENSE
sha256sum -c SHA256SUMS
