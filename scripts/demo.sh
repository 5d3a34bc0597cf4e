#!/usr/bin/env bash
# The main job: set up, then show the runtime at work on a real tool under limits.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$ROOT/scripts/setup.sh"
INSTALLED="${PREFIX:-$HOME/.local}/bin/toolsmith"
cd "$ROOT/examples"
# The installed binary, as a user's shell or an IDE runs it: without the variables that point
# the project's own runs at this checkout.
ts() { echo "\$ toolsmith $*" >&2; env -u TOOLSMITH_RUNTIME "$INSTALLED" "$@"; }
ts doctor
ts run --file profit_margins.py --allow-read data --args '{"path": "data/sales.csv"}'
ts run --file factorial.py --args '{"n": 30}' --json
echo "A tool that never stops is stopped by its limits:" >&2
ts run --file spin.py --timeout-ms 300 --json || true
echo "A tool that reaches for the host is refused:" >&2
ts run --file snoop.py --json || true
echo "Registering it: tested with pytest in Docker, then in the WASM runtime, then stored and indexed:" >&2
export TOOLSMITH_HOME="$(mktemp -d)"
ts tools add --name profit_margins --code profit_margins.py --tests test_profit_margins.py --data data
ts tools search "what margin does each product make"
echo "Example requests (written with a tool, or learned from the requests it answered) lift a paraphrase:" >&2
while IFS= read -r request; do
  ts tools examples profit_margins --add "$request" >/dev/null
done < profit_margins.requests.txt
ts tools search "what margin does each product make"
ts run profit_margins --allow-read data --args '{"path": "data/sales.csv"}' --json
ts run profit_margins --args '{"path": 42}' --json || true
rm -rf "$TOOLSMITH_HOME"
echo "toolsmith is installed at $INSTALLED" >&2
