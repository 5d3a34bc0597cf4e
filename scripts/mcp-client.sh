#!/usr/bin/env bash
# A private venv with the official MCP Python SDK (tests/mcp/requirements.txt), for the MCP tests
# and `toolsmith bench mcp`. Its python's path is stdout's last line.
#
# Cached under $TOOLSMITH_CACHE/mcp-venv-<hash>, keyed by the requirements file and the Python
# version; a venv whose inputs are unchanged is reused at once. PYTHON picks the interpreter.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
PYTHON="${PYTHON:-python3}"
REQS="$ROOT/tests/mcp/requirements.txt"
py_version="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
key="$( { sha256sum <"$REQS" | cut -d' ' -f1; echo "$py_version"; } | sha256sum | cut -c1-20)"
VENV="$TOOLSMITH_CACHE/mcp-venv-$key"
mkdir -p "$TOOLSMITH_CACHE"
exec {fd}>"$VENV.lock"
flock "$fd"
if [ ! -f "$VENV/.complete" ]; then
  log "creating the MCP client venv $VENV (Python $py_version)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --requirement "$REQS" >&2
  touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
