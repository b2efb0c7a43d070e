#!/usr/bin/env bash
# soak.sh: creates and releases 100,000 TURN allocations on a freshly started
# turnkey and reports whether its goroutines, open descriptors and resident
# memory return to baseline (see bench/SOAK.md for the last result).
#
#   bash bench/soak.sh                      # ~1-3 minutes on 2 cores
#   N=10000 CONCURRENCY=100 bash bench/soak.sh
#
# Everything runs on 127.0.0.0/8. The script stops only the turnkey it
# started, by PID, and removes its temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-100000}
CONCURRENCY=${CONCURRENCY:-200}
UDP_PORT=${UDP_PORT:-3491}
API_ADDR=${API_ADDR:-127.0.0.1:8091}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:9651}
# Live allocations never exceed CONCURRENCY, so a few thousand relay ports
# are plenty; a released port may be taken again at once.
MIN_PORT=${MIN_PORT:-40000}
MAX_PORT=${MAX_PORT:-49999}
SECRET=soak-secret-$RANDOM$RANDOM$RANDOM
WORK=$(mktemp -d /tmp/turnkey-soak.XXXXXX)
TK_PID=

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
	if [[ -n $TK_PID ]]; then
		kill -TERM "$TK_PID" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$TK_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$TK_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building turnkey and turnkey-soak"
(cd "$ROOT" && go build -o "$WORK/turnkey" ./cmd/turnkey && go build -o "$WORK/turnkey-soak" ./cmd/turnkey-soak)

mkdir -p "$WORK/data"
cat >"$WORK/turnkey.yaml" <<YAML
data_dir: $WORK/data
drain_timeout: 2s
log:
  level: warn
turn:
  realm: turnkey
  secrets: ["$SECRET"]
  listen_ip: 127.0.0.1
  relay_ip: 127.0.0.1
  udp_port: $UDP_PORT
  tcp_port: 0
  alt_tcp_port: 0
  tls_port: 0
  min_port: $MIN_PORT
  max_port: $MAX_PORT
  peer_policy:
    allow: ["127.0.0.0/8"]
  quotas:
    allocations_per_identity: 1000000
    allocations_per_account: 1000000
    allocations_total: 1000000
api:
  listen: $API_ADDR
admin:
  listen: $ADMIN_ADDR
YAML

"$WORK/turnkey" serve -config "$WORK/turnkey.yaml" >"$WORK/turnkey.log" 2>&1 &
TK_PID=$!
for ((i = 0; i < 150; i++)); do
	if ! kill -0 "$TK_PID" 2>/dev/null; then
		log "turnkey exited during start-up:"
		tail -20 "$WORK/turnkey.log" >&2
		exit 1
	fi
	if curl -fsS --max-time 1 "http://$ADMIN_ADDR/readyz" >/dev/null 2>&1; then
		break
	fi
	sleep 0.2
done
curl -fsS --max-time 1 "http://$ADMIN_ADDR/readyz" >/dev/null || {
	log "turnkey not ready after 30 s"
	tail -20 "$WORK/turnkey.log" >&2
	exit 1
}
log "turnkey ready (pid $TK_PID); soaking with $N allocations, $CONCURRENCY at a time"

# The soak's own limit on open files is the client side: CONCURRENCY
# sockets at most.
rc=0
"$WORK/turnkey-soak" -server "127.0.0.1:$UDP_PORT" -secret "$SECRET" -realm turnkey \
	-admin "$ADMIN_ADDR" -pid "$TK_PID" -n "$N" -concurrency "$CONCURRENCY" || rc=$?

# Only warnings and errors: stdout also holds the throwaway bootstrap
# account's credentials.
if grep -qE 'level=(WARN|ERROR)' "$WORK/turnkey.log"; then
	log "turnkey's warnings and errors:"
	grep -E 'level=(WARN|ERROR)' "$WORK/turnkey.log" | tail -20 >&2
fi
exit "$rc"
