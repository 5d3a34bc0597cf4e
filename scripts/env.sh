# Sourced by the project's scripts: one place for the directories they share.
# Build output and caches live outside the checkout so that a fresh clone (CI) reuses them;
# everything is keyed by its inputs, so a stale entry is never used.
export TOOLSMITH_CACHE="${TOOLSMITH_CACHE:-$HOME/.cache/toolsmith}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TOOLSMITH_CACHE/target}"
export TOOLSMITH_BIN="${TOOLSMITH_BIN:-$CARGO_TARGET_DIR/debug/toolsmith}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
# The project's runs use the component this checkout just built, never an older installed one.
export TOOLSMITH_RUNTIME="${TOOLSMITH_RUNTIME:-$ROOT/guest-runtime/build/runtime.wasm}"
