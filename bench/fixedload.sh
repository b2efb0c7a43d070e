#!/usr/bin/env bash
# fixedload.sh: turnkey vs coturn vs the plain UDP forwarder at fixed offered
# loads (issue 15's method), in one run, same client, servers alternating.
#
#   bash bench/fixedload.sh          # ~4 minutes; results in bench/results/<UTC stamp>/
#
# For every load (FLOWSxPPS: flows, packets/s per flow) and server, one
# turnkey-bench run: SIZE-byte payloads, WARMUP then a DURATION window. Each
# JSON line in results.jsonl has offered and relayed packets/s, loss, p50/p99
# RTT, the server's CPU per relayed packet (its /proc/PID/stat over the
# window / relayed packets), the whole machine's, the RcvbufErrors delta of
# /proc/net/snmp, and the machine's idle share and load average.
#
# Knobs (environment): LOADS_UDP ("200x100 1000x50 2000x25 2000x50"),
# LOADS_TCP ("500x50", TURN servers only), SIZE (160), WARMUP (2s),
# DURATION (6s), ROUNDS (1; each round reverses the server order),
# KERNEL (1: also turnkey with turn.kernel_offload auto, the default, which
# attaches the kernel fast path as root, as "turnkey-kernel"),
# CHURN (1: allocations/s, turnkey vs coturn; CHURN_DURATION 4s,
# CONCURRENCY 32), MAX (1: the closed-loop maximum too, MAX_ALLOCS 16,
# MAX_WINDOW 8, MAX_DURATION 4s; the full version is bench/compare.sh).
#
# turnkey runs its default configuration (socket buffers included), quotas
# raised only as far as the largest load needs, with the kernel fast path
# off; turnkey-kernel is the same with it at its default (auto: attached).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOADS_UDP=${LOADS_UDP:-200x100 1000x50 2000x25 2000x50}
LOADS_TCP=${LOADS_TCP:-500x50}
SIZE=${SIZE:-160}
WARMUP=${WARMUP:-2s}
DURATION=${DURATION:-6s}
ROUNDS=${ROUNDS:-1}
CHURN=${CHURN:-1}
CHURN_DURATION=${CHURN_DURATION:-4s}
CONCURRENCY=${CONCURRENCY:-32}
MAX=${MAX:-1}
MAX_ALLOCS=${MAX_ALLOCS:-16}
MAX_WINDOW=${MAX_WINDOW:-8}
MAX_DURATION=${MAX_DURATION:-4s}

most=0
for l in $LOADS_UDP $LOADS_TCP; do
	f=${l%x*}
	((f > most)) && most=$f
done
# The default quotas are 32 per identity, 1000 per account, 10000 in all;
# every bench user is its own identity in one account.
export TK_QUOTA_IDENTITY=32 TK_QUOTA_ACCOUNT=$((most > 1000 ? most + CONCURRENCY : 1000)) TK_QUOTA_TOTAL=10000

raise_limits
ensure_coturn
build_tools
machine_info

start_coturn 3478 40000 49999
SERVERS=("coturn 127.0.0.1:3478 $CO_PID relay")
if [[ $TURNKEY_OK == 1 ]] && start_turnkey turnkey 3479 50000 59999; then
	SERVERS=("turnkey 127.0.0.1:3479 $TK_PID relay" "${SERVERS[@]}")
else
	log "turnkey not measured"
fi
# The default configuration as it runs as root: turn.kernel_offload auto,
# which attaches the kernel fast path; a server of its own, on its own
# ports, measured only when the program did attach (else this row would
# be the userspace path again). Its program sees every packet on lo, the
# other servers' too: one hash lookup each, which the other rows' machine
# CPU includes. Its relaying runs in softirq context, charged to whichever
# process sent the packet (here mostly the bench client), so read its
# machine µs/pkt, not its server µs/pkt.
if [[ $TURNKEY_OK == 1 && ${KERNEL:-1} == 1 ]] &&
	TK_KERNEL_OFFLOAD=auto TK_ADMIN_ADDR=127.0.0.1:9642 TK_API_ADDR=127.0.0.1:8089 start_turnkey turnkey-kernel 3481 20000 29999; then
	if curl -fsS --max-time 2 http://127.0.0.1:9642/metrics | grep -qx 'turnkey_kernel_offload_attached 1'; then
		SERVERS=("turnkey-kernel 127.0.0.1:3481 $TK_PID relay" "${SERVERS[@]}")
	else
		log "turnkey-kernel: the kernel fast path did not attach (not root?): not measured"
	fi
else
	log "turnkey-kernel (kernel fast path) not measured"
fi
start_forwarder 3490
SERVERS+=("baseline 127.0.0.1:3490 $FW_PID baseline")
log "servers: ${SERVERS[*]}"

# order R I: the servers for round R and load I, rotated so that no server
# always runs first (right after the previous load's last run).
order() {
	local r=$1 i=$2 n=${#SERVERS[@]} k list=()
	for ((k = 0; k < n; k++)); do list+=("${SERVERS[$(((k + i) % n))]}"); done
	if ((r % 2 == 0)); then
		for ((k = n - 1; k >= 0; k--)); do printf '%s\n' "${list[$k]}"; done
	else
		printf '%s\n' "${list[@]}"
	fi
}

for ((r = 1; r <= ROUNDS; r++)); do
	i=0
	for tr in udp tcp; do
		loads=$LOADS_UDP
		[[ $tr == tcp ]] && loads=$LOADS_TCP
		for l in $loads; do
			flows=${l%x*} pps=${l#*x}
			log "round $r: $flows flows x $pps pps over $tr"
			while read -r label addr pid mode; do
				[[ $tr == tcp && $mode != relay ]] && continue
				bench -mode "$mode" -transport "$tr" -label "$label" -server "$addr" -server-pid "$pid" \
					-allocs "$flows" -pps "$pps" -size "$SIZE" -warmup "$WARMUP" -duration "$DURATION" \
					-concurrency "$CONCURRENCY" || true
			done < <(order "$r" "$i")
			i=$((i + 1))
		done
	done
done

if [[ $CHURN == 1 ]]; then
	log "allocations/s ($CONCURRENCY workers, $CHURN_DURATION)"
	while read -r label addr pid mode; do
		[[ $mode == relay ]] || continue
		bench -mode allocs -label "$label" -server "$addr" -server-pid "$pid" \
			-concurrency "$CONCURRENCY" -duration "$CHURN_DURATION" || true
	done < <(order 1 0)
fi

if [[ $MAX == 1 ]]; then
	log "closed-loop maximum ($MAX_ALLOCS allocations, window $MAX_WINDOW)"
	while read -r label addr pid mode; do
		bench -mode "$mode" -label "$label" -server "$addr" -server-pid "$pid" -allocs "$MAX_ALLOCS" \
			-window "$MAX_WINDOW" -size "$SIZE" -warmup "$WARMUP" -duration "$MAX_DURATION" || true
	done < <(order 1 1)
fi

echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
log "results: $OUT/results.jsonl"
