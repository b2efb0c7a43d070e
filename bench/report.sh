#!/usr/bin/env bash
# report.sh: regenerate BENCHMARKS.md (and its chart, BENCHMARKS.svg) from the
# committed tree, in one command.
#
#   bash bench/report.sh            # ~15 minutes on 2 cores, loopback only
#
# It exports HEAD (git archive) into a temporary directory, builds and runs
# bench/fixedload.sh from there, so what is measured is exactly the commit
# the report names. Raw outputs go to bench/results/<UTC stamp>/ (ignored
# by git); BENCHMARKS.md and BENCHMARKS.svg are written at the top of the
# repository.
#
# It refuses a working tree with uncommitted changes to tracked files
# (other than BENCHMARKS.md/.svg) unless ALLOW_DIRTY=1, in which case the
# report says the tree was dirty (the changes are still not measured).
# MEMORY=1 adds bench/memory.sh, TOKENS=1 bench/tokens.sh to the same run;
# VALIDATION=1 labels the report a validation run. Every knob of
# fixedload.sh (LOADS_UDP, LOADS_TCP, DURATION, WARMUP, ROUNDS, CHURN, MAX,
# ...) passes through; anything but the method's loads and window is
# labelled a validation run by benchsum itself. ROUNDS defaults to 3 here
# (fixedload.sh alone: 1): on a VM whose speed drifts, one round of a load
# near the machine's capacity can land in a slow minute, and the report
# quotes medians and counts loss over every round.
#
#   RESULTS=bench/results/<stamp> bash bench/report.sh
#                                   # re-render a finished run, no new run;
#                                   # the report names the commit it measured
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse HEAD)
short=$(git -C "$repo" rev-parse --short HEAD)
dirty=$(git -C "$repo" status --porcelain --untracked-files=no -- . ':!BENCHMARKS.md' ':!BENCHMARKS.svg')
dirty_flag=()
if [[ -n $dirty ]]; then
	if [[ ${ALLOW_DIRTY:-0} != 1 ]]; then
		echo "report.sh: the working tree has uncommitted changes; commit them (or ALLOW_DIRTY=1 to measure HEAD $short anyway):" >&2
		echo "$dirty" >&2
		exit 1
	fi
	echo "report.sh: WARNING: uncommitted changes are not measured; building HEAD $short" >&2
	dirty_flag=(-dirty)
fi

SRC=$(mktemp -d /tmp/turnkey-report.XXXXXX)
CHILD=
cleanup() {
	# The child script stops its own servers on TERM (its EXIT trap).
	if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
	rm -rf "$SRC" "${repo:?}/BENCHMARKS.md.new"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# run_bounded SECS CMD...: in the background and waited for, so a signal
# reaches the trap at once; timeout bounds it.
run_bounded() {
	local secs=$1 rc=0
	shift
	timeout --kill-after=10 "$secs" "$@" &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}
git -C "$repo" archive --format=tar "$commit" | tar -x -C "$SRC"

export BIN=$SRC/bench/.bin
if [[ -n ${RESULTS:-} ]]; then
	OUT=$(cd "$RESULTS" && pwd)
	[[ -s $OUT/results.jsonl && -s $OUT/commit.txt ]] || { echo "report.sh: $OUT has no results.jsonl/commit.txt" >&2; exit 1; }
	short=$(git -C "$repo" rev-parse --short "$(cat "$OUT/commit.txt")")
	echo "report.sh: re-rendering $OUT (commit $short), no new run" >&2
	mkdir -p "$BIN"
	(cd "$SRC" && go build -o "$BIN/benchsum" ./bench/benchsum)
	dirty_flag=()
else
	export STAMP=${STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}
	export OUT=${OUT:-$repo/bench/results/$STAMP}
	export TURNKEY_COMMIT=$short
	mkdir -p "$OUT"
	echo "report.sh: measuring commit $commit; raw outputs in $OUT" >&2
	echo "$commit" >"$OUT/commit.txt"

	# Each script starts and stops its own servers (by PID, on exit) and is
	# bounded in time (every load run by RUN_TIMEOUT).
	export ROUNDS=${ROUNDS:-3}
	run_bounded "${REPORT_TIMEOUT:-3600}" bash "$SRC/bench/fixedload.sh"
	if [[ ${MEMORY:-0} == 1 ]]; then run_bounded 900 bash "$SRC/bench/memory.sh"; fi
	if [[ ${TOKENS:-0} == 1 ]]; then run_bounded 600 bash "$SRC/bench/tokens.sh"; fi
fi

validation=()
[[ ${VALIDATION:-0} == 1 ]] && validation=(-validation)
"$BIN/benchsum" fixed "$OUT/results.jsonl" -machine "$OUT/machine.txt" -commit "$short" \
	-svg "$repo/BENCHMARKS.svg" -svg-ref BENCHMARKS.svg "${dirty_flag[@]}" "${validation[@]}" \
	-command "bash bench/report.sh" >"$repo/BENCHMARKS.md.new"
mv "$repo/BENCHMARKS.md.new" "$repo/BENCHMARKS.md"
cp "$repo/BENCHMARKS.md" "$repo/BENCHMARKS.svg" "$OUT/"
echo "report.sh: wrote $repo/BENCHMARKS.md and BENCHMARKS.svg (commit $short; raw: $OUT)" >&2
