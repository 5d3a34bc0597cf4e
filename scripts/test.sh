#!/usr/bin/env bash
# The whole test suite, after the same set-up as the main job.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
log "harness tests (native CPython)"
bash guest-runtime/test.sh
log "cargo tests"
cargo test --workspace --no-fail-fast --quiet -- --test-threads=2
