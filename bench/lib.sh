# shellcheck shell=bash
# Helpers shared by the bench scripts: build the binaries, start servers and
# remember their PIDs, stop exactly those on exit. Sourced, not run.
#
# Every address used is on 127.0.0.0/8: these scripts never send traffic off
# the machine.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/bench/.bin}
SECRET=${SECRET:-bench-shared-secret-0123456789}
STAMP=${STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}
OUT=${OUT:-$ROOT/bench/results/$STAMP}
WORK=${WORK:-$(mktemp -d /tmp/turnkey-bench.XXXXXX)}
mkdir -p "$BIN" "$OUT"

# Client source addresses: kept off 127.0.0.1, where the servers bind their
# relay ports, so client and relay ports never collide.
CLIENT_IPS=${CLIENT_IPS:-127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9}

PIDS=()
TURNKEY_OK=0

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	PIDS=()
	if [[ ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
# A signal must run the EXIT trap too, so no server outlives the script.
trap 'exit 130' INT TERM

# stop_pid PID: stop one server we started and forget it.
stop_pid() {
	local pid=$1 keep=() p
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

raise_limits() {
	# Tens of thousands of sockets on each side for the memory run.
	ulimit -Hn 200000 2>/dev/null || true
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
}

build_tools() {
	log "building tools into $BIN"
	(cd "$ROOT" && go build -o "$BIN/turnkey-bench" ./cmd/turnkey-bench &&
		go build -o "$BIN/udpforward" ./bench/udpforward &&
		go build -o "$BIN/benchsum" ./bench/benchsum &&
		go build -o "$BIN/barehttp" ./bench/barehttp)
	if (cd "$ROOT" && go build -o "$BIN/turnkey" ./cmd/turnkey) 2>"$OUT/turnkey-build.log"; then
		TURNKEY_OK=1
	else
		log "turnkey does not build yet (see $OUT/turnkey-build.log): measuring coturn and the baseline only"
		TURNKEY_OK=0
	fi
}

ensure_coturn() {
	if ! command -v turnserver >/dev/null; then
		log "turnserver missing: installing Debian's coturn"
		DEBIAN_FRONTEND=noninteractive apt-get install -y coturn >"$OUT/apt.log" 2>&1 ||
			{ apt-get update >>"$OUT/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y coturn >>"$OUT/apt.log" 2>&1; }
	fi
}

# machine_info: the facts BENCHMARKS.md quotes.
machine_info() {
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "nproc: $(nproc)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
		echo "kernel: $(uname -r)"
		echo "go: $(go version | cut -d' ' -f3-)"
		echo "coturn: $(turnserver --version 2>/dev/null | head -1 || echo missing)"
		echo "turnkey: ${TURNKEY_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo uncommitted)}"
		echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "net.core.rmem_max: $(cat /proc/sys/net/core/rmem_max)"
		echo "net.core.wmem_max: $(cat /proc/sys/net/core/wmem_max)"
		echo "uid: $(id -u)"
	} | tee "$OUT/machine.txt" >&2
}

# start_turnkey NAME UDP_PORT MIN_PORT MAX_PORT: writes a config, starts
# turnkey serve, waits for /readyz; sets TK_PID, TK_DATA, TK_ADMIN, TK_API.
# TCP listens on UDP_PORT too unless TK_TCP_PORT says otherwise (0: none).
# TK_KERNEL_OFFLOAD (off) is turn.kernel_offload: off keeps every packet on
# the userspace path (as root the default, auto, would attach the eBPF
# program); on is the kernel fast path's row, which fails to start without
# the privilege for it.
start_turnkey() {
	local name=$1 port=$2 minp=$3 maxp=$4
	TK_DATA=$WORK/$name-data
	TK_ADMIN=${TK_ADMIN_ADDR:-127.0.0.1:9641}
	TK_API=${TK_API_ADDR:-127.0.0.1:8088}
	mkdir -p "$TK_DATA"
	cat >"$WORK/$name.yaml" <<YAML
data_dir: $TK_DATA
log:
  level: warn
turn:
  realm: turnkey
  secrets: ["$SECRET"]
  listen_ip: 127.0.0.1
  relay_ip: 127.0.0.1
  udp_port: $port
  tcp_port: ${TK_TCP_PORT:-$port}
  alt_tcp_port: 0
  tls_port: 0
  min_port: $minp
  max_port: $maxp
  kernel_offload: ${TK_KERNEL_OFFLOAD:-off}
  peer_policy:
    allow: ["127.0.0.0/8"]
  quotas:
    allocations_per_identity: ${TK_QUOTA_IDENTITY:-1000000}
    allocations_per_account: ${TK_QUOTA_ACCOUNT:-1000000}
    allocations_total: ${TK_QUOTA_TOTAL:-1000000}
api:
  listen: $TK_API
admin:
  listen: $TK_ADMIN
  pprof: ${TK_PPROF:-false}
YAML
	"$BIN/turnkey" serve -config "$WORK/$name.yaml" >"$OUT/$name.log" 2>&1 &
	TK_PID=$!
	PIDS+=("$TK_PID")
	local i
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$TK_PID" 2>/dev/null; then
			log "turnkey exited during start-up:"
			tail -20 "$OUT/$name.log" >&2
			return 1
		fi
		if curl -fsS --max-time 1 "http://$TK_ADMIN/readyz" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	log "turnkey not ready after 30 s"
	tail -20 "$OUT/$name.log" >&2
	return 1
}

# start_coturn PORT MIN_PORT MAX_PORT: sets CO_PID.
start_coturn() {
	local port=$1 minp=$2 maxp=$3
	turnserver --use-auth-secret --static-auth-secret="$SECRET" --realm=turnkey \
		-L 127.0.0.1 --relay-ip=127.0.0.1 -p "$port" --min-port="$minp" --max-port="$maxp" \
		--no-tls --no-dtls --allow-loopback-peers --no-cli --no-rfc5780 \
		--total-quota=1000000 --user-quota=1000000 \
		--log-file stdout --simple-log --no-multicast-peers \
		--pidfile "$WORK/coturn.pid" >"$OUT/coturn.log" 2>&1 &
	CO_PID=$!
	PIDS+=("$CO_PID")
	wait_turn "127.0.0.1:$port" "$CO_PID" coturn
}

# start_forwarder PORT: the plain UDP baseline; sets FW_PID.
start_forwarder() {
	"$BIN/udpforward" -listen "127.0.0.1:$1" -peer 127.0.0.1:3480 -max-lifetime 2h >"$OUT/udpforward.log" 2>&1 &
	FW_PID=$!
	PIDS+=("$FW_PID")
	sleep 0.3
	kill -0 "$FW_PID"
}

# wait_turn ADDR PID NAME: a server is ready once one allocation succeeds.
wait_turn() {
	local addr=$1 pid=$2 name=$3 i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || { log "$name exited during start-up"; tail -20 "$OUT/$name.log" >&2; return 1; }
		if "$BIN/turnkey-bench" -mode allocs -server "$addr" -secret "$SECRET" -client-ips 127.0.0.2 \
			-concurrency 1 -duration 100ms >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	log "$name: no allocation succeeded within 10 s"
	return 1
}

# bench ARGS...: one turnkey-bench run; its table goes to the terminal and
# its JSON to results.jsonl. RUN_TIMEOUT (seconds, 300) bounds every run.
bench() {
	# In the background and waited for, so a signal to the script runs its
	# trap at once and the trap stops this run too (timeout passes it on).
	local bp rc=0 keep=() p
	timeout --kill-after=5 "${RUN_TIMEOUT:-300}" "$BIN/turnkey-bench" -out "$OUT/results.jsonl" \
		-client-ips "$CLIENT_IPS" -secret "$SECRET" "$@" >&2 &
	bp=$!
	PIDS+=("$bp")
	wait "$bp" || rc=$?
	for p in "${PIDS[@]}"; do [[ $p == "$bp" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	if ((rc != 0)); then
		log "run failed (exit $rc): turnkey-bench $*"
		return 1
	fi
}
