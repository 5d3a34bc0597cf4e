#!/usr/bin/env bash
# Install toolsmith where a user's shell and an IDE find it, with what it needs at run time, so
# that it runs without this checkout: the binary to $PREFIX/bin, the runtime component and the
# embedding model to $PREFIX/share/toolsmith (the binary looks there first). PREFIX defaults to
# ~/.local. Run after scripts/setup.sh (setup.sh calls it); it only copies.
set -euo pipefail
source "$(dirname "$0")/env.sh"
PREFIX="${PREFIX:-$HOME/.local}"
BIN_DIR="$PREFIX/bin"
DATA_DIR="$PREFIX/share/toolsmith"
MODEL_SRC="$TOOLSMITH_CACHE/models/all-MiniLM-L6-v2"

[ -x "$TOOLSMITH_BIN" ] || { echo "install.sh: $TOOLSMITH_BIN is missing: run scripts/setup.sh first" >&2; exit 1; }
[ -f "$TOOLSMITH_RUNTIME" ] || { echo "install.sh: $TOOLSMITH_RUNTIME is missing: run guest-runtime/build.sh" >&2; exit 1; }
[ -f "$MODEL_SRC/model.safetensors" ] || { echo "install.sh: no model in $MODEL_SRC: run scripts/fetch-model.sh" >&2; exit 1; }

# Each file goes in under a temporary name and is renamed into place, so a running toolsmith
# never sees half a file.
put() { # put SRC DEST [MODE]
    local tmp="$2.tmp.$$"
    mkdir -p "$(dirname "$2")"
    cp "$1" "$tmp"
    chmod "${3:-0644}" "$tmp"
    mv -f "$tmp" "$2"
}
# Debug information is for developers: the installed binary is stripped (115 MB → ~40 MB).
tmp_bin="$(mktemp)"
objcopy --strip-debug "$TOOLSMITH_BIN" "$tmp_bin" 2>/dev/null || cp "$TOOLSMITH_BIN" "$tmp_bin"
put "$tmp_bin" "$BIN_DIR/toolsmith" 0755
rm -f "$tmp_bin"
cmp -s "$TOOLSMITH_RUNTIME" "$DATA_DIR/runtime/runtime.wasm" || put "$TOOLSMITH_RUNTIME" "$DATA_DIR/runtime/runtime.wasm"
for f in model.safetensors tokenizer.json config.json; do
    cmp -s "$MODEL_SRC/$f" "$DATA_DIR/models/all-MiniLM-L6-v2/$f" || put "$MODEL_SRC/$f" "$DATA_DIR/models/all-MiniLM-L6-v2/$f"
done
echo "$BIN_DIR/toolsmith"
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) echo "install.sh: add $BIN_DIR to PATH to run toolsmith by name" >&2 ;;
esac
