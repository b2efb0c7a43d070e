#!/usr/bin/env bash
# fuzz.sh: runs every Go fuzz target in the module, one at a time, each for
# a bounded time, and fails if any of them finds a crash.
#
#   bash .ci/fuzz.sh                    # 20 s per target
#   FUZZTIME=60s bash .ci/fuzz.sh       # any -fuzztime value: 60s, 2m, 5000x
#   bash .ci/fuzz.sh FuzzSTUNDatagram   # only the targets named
#
# Targets are found by grepping test files for `func Fuzz`, so a new one is
# picked up without editing this script. A crasher the fuzzer finds is
# written by go test to the package's testdata/fuzz/<Target>/; this script
# names it in the summary. Keep it there (it becomes a regression input that
# plain `go test` runs) once the bug is fixed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

FUZZTIME=${FUZZTIME:-20s}
if [[ $FUZZTIME =~ ^[0-9]+$ ]]; then FUZZTIME=${FUZZTIME}s; fi

# wall_limit: seconds one target may take in all (build, baseline coverage
# of the corpus, fuzzing, minimising a crasher) before it is called hung.
wall_limit() {
	local n=${FUZZTIME%[smh]} unit=${FUZZTIME: -1}
	case $unit in
	s) echo $((n + 600)) ;;
	m) echo $((n * 60 + 600)) ;;
	h) echo $((n * 3600 + 600)) ;;
	*) echo 1800 ;; # an iteration count: no time to derive from it
	esac
}
LIMIT=$(wall_limit)

# Lines "package-dir target", sorted, from every _test.go outside vendored
# and generated trees.
mapfile -t TARGETS < <(
	grep -rHoE --include='*_test.go' --exclude-dir=.git --exclude-dir=node_modules --exclude-dir=vendor \
		'^func Fuzz[A-Za-z0-9_]*\(' . |
		sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#; s#^\./[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#. \1#' |
		sort -u
)
if ((${#TARGETS[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 2
fi

LOGDIR=$(mktemp -d /tmp/turnkey-fuzz.XXXXXX)
declare -a SUMMARY
failed=0
ran=0
for entry in "${TARGETS[@]}"; do
	dir=${entry% *} name=${entry#* }
	if (($# > 0)); then
		want=0
		for only in "$@"; do [[ $only == "$name" ]] && want=1; done
		((want)) || continue
	fi
	ran=$((ran + 1))
	log="$LOGDIR/$name.log"
	corpus="$dir/testdata/fuzz/$name"
	before=$(find "$corpus" -type f 2>/dev/null | sort)
	echo "=== $name (./$dir, $FUZZTIME)"
	start=$(date +%s)
	timeout --kill-after=30s "${LIMIT}s" \
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	after=$(find "$corpus" -type f 2>/dev/null | sort)
	new=$(comm -13 <(echo "$before") <(echo "$after") | grep -v '^$' || true)
	if ((rc == 0)); then
		result=ok
	else
		failed=$((failed + 1))
		case $rc in
		124 | 137) result="HUNG (over ${LIMIT}s)" ;;
		*) result="FAIL (exit $rc)" ;;
		esac
		tail -40 "$log"
		if [[ -n $new ]]; then
			echo "--- new crasher(s), keep under $corpus as regression inputs:"
			echo "$new"
		fi
	fi
	SUMMARY+=("$(printf '%-28s %-28s %-22s %6ss %12s' "$name" "./$dir" "$result" "$secs" "${execs:-?}")")
done

echo
echo "fuzz summary (fuzztime $FUZZTIME per target; logs in $LOGDIR)"
printf '%-28s %-28s %-22s %7s %12s\n' target package result time execs
for line in "${SUMMARY[@]}"; do echo "$line"; done
if ((ran == 0)); then
	echo "fuzz.sh: no target matched: $*" >&2
	exit 2
fi
if ((failed > 0)); then
	echo "fuzz.sh: $failed of $ran target(s) failed" >&2
	exit 1
fi
echo "fuzz.sh: $ran target(s), 0 crashes"
