#!/usr/bin/env bash
# Split a labelled query file (query<TAB>tool, header first) in two halves per tool, alternating in
# file order: the 1st, 3rd, … query of each tool go to HISTORY, the 2nd, 4th, … to EVAL. Used to
# draw the learning curve of `eval retrieval --history` on the dev half without touching what is
# held out.
#   scripts/split-queries.sh ../shared/data/metatool/queries-dev.tsv HISTORY EVAL
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 QUERIES HISTORY EVAL" >&2; exit 2; }
awk -F'\t' -v h="$2" -v e="$3" '
  NR == 1 { print > h; print > e; next }
  { n[$2]++; if (n[$2] % 2 == 1) print > h; else print > e }
' "$1"
