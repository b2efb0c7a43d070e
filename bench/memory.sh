#!/usr/bin/env bash
# memory.sh: resident memory and goroutines of turnkey (and coturn) holding
# 1k, 10k and 30k idle UDP allocations, each with one permission.
#
#   bash bench/memory.sh        # ~2 minutes; COUNTS ("1000 10000 30000"), SERVERS ("turnkey coturn")
#
# 30k allocations need 30k relay ports: the relay range is 10000-65535 on
# 127.0.0.1 (turnkey binds every relay socket to its one turn.relay_ip, and
# refuses a range holding its own listener ports, all below 10000), and
# the clients come from 127.0.0.2-9 so they never take a relay port. Each
# count runs on a freshly started server: RSS before is its idle footprint.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNTS=${COUNTS:-1000 10000 30000}
SERVERS=${SERVERS:-turnkey coturn}

raise_limits
# Each allocation is one descriptor in the server (its relay socket) and one
# in the client. Where the hard limit cannot be raised (a container without
# CAP_SYS_RESOURCE: 20000 here), the largest count is capped below it and
# the report extrapolates to 30k from bytes per allocation.
FD_LIMIT=$(ulimit -Hn)
log "open files: soft $(ulimit -n), hard $FD_LIMIT"
build_tools
[[ -f $OUT/machine.txt ]] || machine_info

for server in $SERVERS; do
	for n in $COUNTS; do
		if [[ $FD_LIMIT != unlimited ]] && ((n + 1500 > FD_LIMIT)); then
			log "$n allocations need more than the $FD_LIMIT descriptors allowed here: measuring $((FD_LIMIT - 1500))"
			n=$((FD_LIMIT - 1500))
		fi
		case $server in
		turnkey)
			[[ -x $BIN/turnkey ]] || { log "no turnkey binary"; continue; }
			start_turnkey turnkey-mem 3479 10000 65535
			pid=$TK_PID addr=127.0.0.1:3479 metrics=(-metrics "http://$TK_ADMIN/metrics")
			;;
		coturn)
			ensure_coturn
			start_coturn 3478 1024 65535
			pid=$CO_PID addr=127.0.0.1:3478 metrics=()
			;;
		esac
		log "$server: opening $n allocations"
		bench -mode hold -label "$server" -server "$addr" -server-pid "$pid" "${metrics[@]}" \
			-allocs "$n" -concurrency 64 -settle 3s -hold 0 -duration 10m || true
		stop_pid "$pid"
	done
done
"$BIN/benchsum" report "$OUT/results.jsonl" | tee -a "$OUT/summary-memory.md"
