#!/usr/bin/env bash
# run-all.sh: every benchmark of BENCHMARKS.md in one command, results in one
# directory (bench/results/<UTC stamp>/): relay and allocation comparison
# against coturn and the plain forwarder, memory per allocation, token API.
#
#   bash bench/run-all.sh       # ~8 minutes on 2 cores
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export STAMP=${STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}
export OUT=${OUT:-$here/results/$STAMP}
mkdir -p "$OUT"
# Each script starts and stops its own servers (by PID, on exit).
bash "$here/compare.sh"
bash "$here/memory.sh"
bash "$here/tokens.sh"
"$here/.bin/benchsum" report "$OUT/results.jsonl" >"$OUT/summary-all.md"
echo "all results: $OUT/summary-all.md"
