#!/usr/bin/env bash
# soak.sh: creates and releases 100,000 TURN allocations on a freshly started
# turnkey with `turnkey-bench soak` and reports whether its goroutines, open
# descriptors and resident memory return to baseline (see bench/SOAK.md for
# the last result).
#
#   bash bench/soak.sh                      # ~1-3 minutes on 2 cores
#   N=10000 CONCURRENCY=100 bash bench/soak.sh
#
# Everything runs on 127.0.0.0/8. lib.sh stops only the turnkey it started,
# by PID, and removes its temporary directory; turnkey's log stays in
# bench/results/<stamp>/soak.log. Arguments go to turnkey-bench soak as
# they are (e.g. -duration 30s -settle 10s for a short check).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${N:-100000}
CONCURRENCY=${CONCURRENCY:-200}
UDP_PORT=${UDP_PORT:-3491}
# Live allocations never exceed CONCURRENCY, so a few thousand relay ports
# are plenty; a released port may be taken again at once.
MIN_PORT=${MIN_PORT:-40000}
MAX_PORT=${MAX_PORT:-49999}
# Its own ports, so it can run beside a turnkey the other scripts started.
TK_ADMIN_ADDR=${TK_ADMIN_ADDR:-127.0.0.1:9651}
TK_API_ADDR=${TK_API_ADDR:-127.0.0.1:8091}

build_tools
((TURNKEY_OK)) || { log "turnkey does not build: see $OUT/turnkey-build.log"; exit 1; }
# UDP only: the soak's clients use nothing else.
TK_TCP_PORT=0 start_turnkey soak "$UDP_PORT" "$MIN_PORT" "$MAX_PORT"
log "turnkey ready (pid $TK_PID); soaking with $N allocations, $CONCURRENCY at a time"

# In the background and waited for, so a signal runs lib.sh's trap at once
# and the trap stops the soak too. Progress goes to stderr; the table and
# the JSON line to soak.txt, then here.
rc=0
"$BIN/turnkey-bench" soak -server "127.0.0.1:$UDP_PORT" -secret "$SECRET" -realm turnkey \
	-admin "$TK_ADMIN" -pid "$TK_PID" -n "$N" -concurrency "$CONCURRENCY" "$@" >"$OUT/soak.txt" &
sp=$!
PIDS+=("$sp")
wait "$sp" || rc=$?
cat "$OUT/soak.txt"

# Only warnings and errors: the log also holds the throwaway bootstrap
# account's credentials.
if grep -qE 'level=(WARN|ERROR)' "$OUT/soak.log"; then
	log "turnkey's warnings and errors:"
	grep -E 'level=(WARN|ERROR)' "$OUT/soak.log" | tail -20 >&2
fi
exit "$rc"
