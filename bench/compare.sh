#!/usr/bin/env bash
# compare.sh: turnkey vs coturn vs a plain UDP forwarder, in one run with
# identical settings, on this machine (loopback only).
#
#   bash bench/compare.sh            # ~5 minutes; results in bench/results/<UTC stamp>/
#
# Knobs (environment): ROUNDS (2), DURATION (5s), WARMUP (2s), ALLOCS (16),
# WINDOW (8), SIZES ("160 1200"), ALLOC_DURATION (5s), CONCURRENCY (32),
# TCP (1: also a 160 B TURN-over-TCP max run), PROFILE (1: CPU profiles of
# turnkey under a max run at each size, and CPU/block/mutex profiles under
# allocation churn, from its admin pprof).
#
# Phases: (1) max relayed packets/s per server and size: closed loop, each
# allocation keeping WINDOW packets in flight; rounds alternate servers so
# the machine's other load hits them alike; (2) a paced run at 80 % of each
# server's best max, showing loss; (3) allocations/s; (4) profile. All three
# servers run throughout on separate ports: an idle server costs nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-2s}
ALLOCS=${ALLOCS:-16}
WINDOW=${WINDOW:-8}
SIZES=${SIZES:-160 1200}
ALLOC_DURATION=${ALLOC_DURATION:-5s}
CONCURRENCY=${CONCURRENCY:-32}
TCP=${TCP:-1}
PROFILE=${PROFILE:-1}

raise_limits
ensure_coturn
build_tools
machine_info

# Separate relay port ranges so the servers never compete for ports.
start_coturn 3478 40000 49999
TARGETS=("coturn 127.0.0.1:3478 $CO_PID relay")
if [[ $TURNKEY_OK == 1 ]]; then
	if TK_PPROF=true start_turnkey turnkey 3479 50000 59999; then
		TARGETS=("turnkey 127.0.0.1:3479 $TK_PID relay" "${TARGETS[@]}")
	else
		TURNKEY_OK=0
	fi
fi
start_forwarder 3490
TARGETS+=("baseline 127.0.0.1:3490 $FW_PID baseline")
log "servers: ${TARGETS[*]}"

# pidstat per process and second beside each max run: which process held
# which core (the CPU column) and how hard.
SAMPLER_PID=
sample_cpu() {
	local tag=$1 secs=$2
	SAMPLER_PID=
	if command -v pidstat >/dev/null; then
		pidstat -u -C 'turnkey|turnserver|udpforward' 1 "$secs" >"$OUT/pidstat-$tag.txt" 2>&1 &
		SAMPLER_PID=$!
	fi
}
secs_of() { local d=${1%s}; echo $(( ${d%.*} + 1 )); }
RUN_SECS=$(( $(secs_of "$WARMUP") + $(secs_of "$DURATION") ))

log "phase 1: max packets/s ($ROUNDS rounds)"
for ((r = 1; r <= ROUNDS; r++)); do
	for size in $SIZES; do
		for t in "${TARGETS[@]}"; do
			read -r label addr pid mode <<<"$t"
			sample_cpu "$label-$size-r$r" "$RUN_SECS"
			bench -mode "$mode" -label "$label" -server "$addr" -server-pid "$pid" -allocs "$ALLOCS" \
				-window "$WINDOW" -size "$size" -warmup "$WARMUP" -duration "$DURATION" || true
			if [[ -n $SAMPLER_PID ]]; then wait "$SAMPLER_PID" || true; fi
		done
	done
done
if [[ $TCP == 1 ]]; then
	for t in "${TARGETS[@]}"; do
		read -r label addr pid mode <<<"$t"
		[[ $mode == relay ]] || continue
		bench -mode relay -transport tcp -label "$label" -server "$addr" -server-pid "$pid" -allocs "$ALLOCS" \
			-window "$WINDOW" -size 160 -warmup "$WARMUP" -duration "$DURATION" || true
	done
fi

log "phase 2: 80 % of each server's best max"
for size in $SIZES; do
	for t in "${TARGETS[@]}"; do
		read -r label addr pid mode <<<"$t"
		best=$("$BIN/benchsum" field "$OUT/results.jsonl" pps label="$label" size="$size" transport=udp target_pps_per_flow=) || continue
		per=$(awk -v b="$best" -v n="$ALLOCS" 'BEGIN{printf "%.1f", b*0.8/n}')
		bench -mode "$mode" -label "$label" -server "$addr" -server-pid "$pid" -allocs "$ALLOCS" \
			-pps "$per" -size "$size" -warmup "$WARMUP" -duration "$DURATION" || true
	done
done

log "phase 3: allocations/s ($CONCURRENCY workers)"
for ((r = 1; r <= ROUNDS; r++)); do
	for t in "${TARGETS[@]}"; do
		read -r label addr pid mode <<<"$t"
		[[ $mode == relay ]] || continue
		bench -mode allocs -label "$label" -server "$addr" -server-pid "$pid" \
			-concurrency "$CONCURRENCY" -duration "$ALLOC_DURATION" || true
	done
done

if [[ $PROFILE == 1 && $TURNKEY_OK == 1 ]]; then
	# CPU profiles of turnkey under a max run at each size, and CPU, block
	# and mutex profiles under allocation churn; top lists beside the raw
	# profiles (go tool pprof -top / -cum). Not part of any figure above.
	topfiles() {
		local name=$1
		[[ -s $OUT/$name.pprof ]] || return 0
		go tool pprof -top -nodecount=35 "$BIN/turnkey" "$OUT/$name.pprof" >"$OUT/$name-top.txt" 2>&1 || true
		go tool pprof -top -cum -nodecount=50 "$BIN/turnkey" "$OUT/$name.pprof" >"$OUT/$name-cum.txt" 2>&1 || true
	}
	for size in $SIZES; do
		log "phase 4: turnkey CPU profile under a $size B max run"
		name=turnkey-cpu
		[[ $size == 160 ]] || name=turnkey-cpu-$size
		"$BIN/turnkey-bench" -mode relay -label turnkey-profiled -server 127.0.0.1:3479 -secret "$SECRET" \
			-client-ips "$CLIENT_IPS" -allocs "$ALLOCS" -window "$WINDOW" -size "$size" -warmup 1s -duration 8s \
			>"$OUT/profile-run-$size.txt" 2>&1 &
		bpid=$!
		sleep 2
		curl -fsS --max-time 20 "http://$TK_ADMIN/debug/pprof/profile?seconds=5" -o "$OUT/$name.pprof" || log "profile failed"
		wait "$bpid" || true
		topfiles "$name"
	done
	log "phase 4: turnkey CPU, block and mutex profiles under allocation churn"
	"$BIN/turnkey-bench" -mode allocs -label turnkey-profiled -server 127.0.0.1:3479 -secret "$SECRET" \
		-client-ips "$CLIENT_IPS" -concurrency "$CONCURRENCY" -duration 10s >"$OUT/profile-run-allocs.txt" 2>&1 &
	bpid=$!
	sleep 2
	cpids=()
	for kind in profile block mutex; do
		curl -fsS --max-time 20 "http://$TK_ADMIN/debug/pprof/$kind?seconds=6" -o "$OUT/turnkey-allocs-$kind.pprof" &
		cpids+=($!)
	done
	for p in "${cpids[@]}"; do wait "$p" || log "allocs profile failed"; done
	wait "$bpid" || true
	for kind in profile block mutex; do topfiles "turnkey-allocs-$kind"; done
fi

"$BIN/benchsum" report "$OUT/results.jsonl" | tee "$OUT/summary.md"
if [[ $TURNKEY_OK != 1 ]]; then
	echo
	echo "NOTE: turnkey was not measured (it did not build or start; see $OUT/turnkey-build.log, $OUT/turnkey.log)."
fi
log "results: $OUT"
