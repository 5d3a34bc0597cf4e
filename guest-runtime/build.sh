#!/usr/bin/env bash
# Builds the shared Python runtime component: guest-runtime/build/runtime.wasm.
#
#   guest-runtime/build.sh          build (or reuse) the component; its path is stdout's last line
#   guest-runtime/build.sh --venv   only set up the build venv; its path is stdout's last line
#
# Everything it needs it sets up itself, under ${TOOLSMITH_CACHE:-$HOME/.cache/toolsmith}:
#   venv-<hash>/             a private venv with the pinned componentize-py (requirements-build.txt)
#   site-<hash>/             the guest's pure-Python packages (requirements-guest.txt), pip --target
#   runtime/<hash>/runtime.wasm   the component, keyed by a hash of every input (the WIT, the harness,
#                            the allow-list, both requirements files and this script)
# A build whose inputs are unchanged only copies the cached component (about a second).
# Progress goes to stderr. PYTHON picks the interpreter that makes the venv (default python3).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CACHE="${TOOLSMITH_CACHE:-$HOME/.cache/toolsmith}"
PYTHON="${PYTHON:-python3}"
GUEST_PYTHON_VERSION="3.14"  # the CPython inside componentize-py 0.25.1

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A short hash of the named files (paths relative to guest-runtime/, names included) and any
# extra words given after `--`.
hash_inputs() {
    local files=() extra=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
    [ $# -gt 0 ] && shift && extra=("$@")
    {
        printf '%s\n' "${extra[@]}"
        for f in "${files[@]}"; do
            printf '%s %s\n' "$f" "$(sha256sum <"$HERE/$f" | cut -d' ' -f1)"
        done
    } | sha256sum | cut -c1-20
}

# Run "$@" holding an exclusive lock on $1 (other builds of the same thing wait for it).
with_lock() {
    local lock="$1"
    shift
    mkdir -p "$(dirname "$lock")"
    exec {fd}>"$lock"
    flock "$fd"
    "$@"
    local status=$?
    flock -u "$fd"
    exec {fd}>&-
    return $status
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON to a Python 3.10+ interpreter)"
command -v flock >/dev/null || die "flock not found (util-linux)"
mkdir -p "$CACHE"

# --- 1. the build venv ------------------------------------------------------------------------
py_version="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
VENV="$CACHE/venv-$(hash_inputs requirements-build.txt -- "$py_version")"

make_venv() {
    [ -f "$VENV/.complete" ] && return 0
    log "creating the build venv $VENV (Python $py_version)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --requirement "$HERE/requirements-build.txt" >&2
    touch "$VENV/.complete"
}
with_lock "$VENV.lock" make_venv

if [ "${1:-}" = "--venv" ]; then
    echo "$VENV"
    exit 0
fi
[ $# -eq 0 ] || die "unknown arguments: $* (usage: build.sh [--venv])"

# --- 2. the allow-list is published twice: check the copies agree --------------------------
"$VENV/bin/python" - "$HERE/allowed_modules.txt" "$REPO/schemas/allowed-modules.json" <<'EOF' || die "allowed_modules.txt and schemas/allowed-modules.json differ"
import json, sys
names = [l.split("#", 1)[0].strip() for l in open(sys.argv[1], encoding="utf-8")]
names = [n for n in names if n]
published = json.load(open(sys.argv[2], encoding="utf-8"))
sys.exit(0 if names == published else 1)
EOF

# --- 3. the guest's packages --------------------------------------------------------------------
SITE="$CACHE/site-$(hash_inputs requirements-guest.txt -- "$GUEST_PYTHON_VERSION")"

make_site() {
    [ -d "$SITE" ] && return 0
    log "installing the guest packages into $SITE"
    local tmp="$SITE.tmp.$$"
    rm -rf "$tmp"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --target "$tmp" --no-deps --only-binary=:all: \
        --implementation py --python-version "$GUEST_PYTHON_VERSION" --abi none --platform any \
        --requirement "$HERE/requirements-guest.txt" >&2
    rm -rf "$tmp/bin"
    mv "$tmp" "$SITE"
}
with_lock "$SITE.lock" make_site

# --- 4. the component ---------------------------------------------------------------------------
mapfile -t inputs < <(
    cd "$HERE" && find wit harness -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort
)
inputs+=(allowed_modules.txt requirements-build.txt requirements-guest.txt build.sh)
KEY="$(hash_inputs "${inputs[@]}")"
OUT_DIR="$CACHE/runtime/$KEY"
OUT="$OUT_DIR/runtime.wasm"

make_component() {
    [ -f "$OUT" ] && return 0
    local tmp="$OUT_DIR.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp/stage"
    # The harness reads allowed_modules.txt next to its package at build time.
    cp -r "$HERE/harness/." "$tmp/stage/"
    cp "$HERE/allowed_modules.txt" "$tmp/stage/"
    find "$tmp/stage" -name __pycache__ -prune -exec rm -rf {} +
    log "building the component $KEY (componentize-py; 15-40 s)"
    local started=$SECONDS
    (cd "$tmp" && "$VENV/bin/componentize-py" -d "$HERE/wit" -w runtime componentize app \
        -p "$tmp/stage" -p "$SITE" -o "$tmp/runtime.wasm" >&2) || {
        rm -rf "$tmp"
        die "componentize-py failed (a warm-up failure in harness/toolsmith_harness/warmup.py shows above)"
    }
    log "built in $((SECONDS - started)) s: $(du -h "$tmp/runtime.wasm" | cut -f1)"
    rm -rf "$tmp/stage"
    rm -rf "$OUT_DIR"
    mv "$tmp" "$OUT_DIR"
}
with_lock "$OUT_DIR.lock" make_component

# Keep the newest few components: each is ~30 MB and a harness edit makes a new one.
KEEP=5
find "$CACHE/runtime" -mindepth 1 -maxdepth 1 -type d ! -name '*.tmp.*' -printf '%T@ %p\n' |
    sort -rn | tail -n +$((KEEP + 1)) | cut -d' ' -f2- | while read -r old; do
        [ "$old" = "$OUT_DIR" ] || rm -rf "$old" "$old.lock"
    done

mkdir -p "$HERE/build"
if ! cmp -s "$OUT" "$HERE/build/runtime.wasm"; then
    cp "$OUT" "$HERE/build/runtime.wasm.tmp.$$"
    mv "$HERE/build/runtime.wasm.tmp.$$" "$HERE/build/runtime.wasm"
fi
printf '%s\n' "$KEY" >"$HERE/build/runtime.key"
log "component: $OUT"
echo "$HERE/build/runtime.wasm"
