#!/usr/bin/env bash
# All set-up on a fresh machine of this kind (Debian, Rust, Python 3, Docker): system packages,
# the Python runtime component, the embedding model, the binary (built and installed), the sandbox
# image. Idempotent:
# each step is skipped when its cached output matches its inputs.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

need_apt=()
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v unzip >/dev/null || need_apt+=(unzip)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

log "Python runtime component"
bash guest-runtime/build.sh >/dev/null

log "embedding model"
bash scripts/fetch-model.sh >/dev/null

log "MCP client for the MCP tests (the official Python SDK, in a private venv)"
bash scripts/mcp-client.sh >/dev/null

# One build serves the main job and the tests: the dev profile with dependencies at opt-level 3.
log "building toolsmith (a first build takes ~28 min on 2 cores; later ones seconds)"
cargo build --workspace --all-targets --quiet

log "installing toolsmith (PREFIX=${PREFIX:-$HOME/.local})"
bash scripts/install.sh >/dev/null

log "sandbox image"
if docker info >/dev/null 2>&1; then
  "$TOOLSMITH_BIN" sandbox build
else
  log "Docker is not running: new tools can only be verified with --verify wasm-only"
fi
