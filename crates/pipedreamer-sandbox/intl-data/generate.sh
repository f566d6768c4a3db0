#!/bin/sh
# Regenerates ./baked, the ICU4X data of the sandbox's Intl, from ICU4X's compiled data (see
# generate/src/main.rs). Uses its own target directory: the generator is not a workspace member.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/pipedreamer-intl-data-target}"
cargo run --release --locked --manifest-path "$here/generate/Cargo.toml" -- "$here/baked"
