#!/usr/bin/env bash
# The main job: set up, then show the runtime at work on a real tool under limits.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT/examples"
ts() { echo "\$ toolsmith $*" >&2; "$TOOLSMITH_BIN" "$@"; }
ts doctor
ts run --file profit_margins.py --allow-read data --args '{"path": "data/sales.csv"}'
ts run --file factorial.py --args '{"n": 30}' --json
echo "A tool that never stops is stopped by its limits:" >&2
ts run --file spin.py --timeout-ms 300 --json || true
echo "A tool that reaches for the host is refused:" >&2
ts run --file snoop.py --json || true
