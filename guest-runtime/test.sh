#!/usr/bin/env bash
# Runs the harness's tests (guest-runtime/tests) with the build venv's Python and pytest:
# natively, and against the component that build.sh makes (built first, cached after).
#
#   guest-runtime/test.sh                 both; a missing component is an error
#   guest-runtime/test.sh --native-only   without building or loading the component
#   guest-runtime/test.sh -k describe     any further arguments go to pytest
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$("$HERE/build.sh" --venv | tail -n 1)"

if [ "${1:-}" = "--native-only" ]; then
    shift
    set -- -k "not component" "$@"
else
    "$HERE/build.sh" >/dev/null
    export TOOLSMITH_REQUIRE_COMPONENT=1
fi

export PYTHONDONTWRITEBYTECODE=1
exec "$VENV/bin/python" -m pytest "$HERE/tests" -p no:cacheprovider -q "$@"
