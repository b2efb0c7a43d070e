#!/usr/bin/env bash
# tokens.sh: requests/s and latency of turnkey's token endpoints against a
# bare Go handler on the same machine, with wrk (loopback only).
#
#   bash bench/tokens.sh   # ~1 minute; DURATION (10s), CONNS (50), LOW_CONNS (4), THREADS (1)
#   PROFILE=1 bash bench/tokens.sh   # also saves turnkey's CPU, block and mutex
#                                    # profiles of each CONNS run (pprof-*.pb.gz);
#                                    # profiling costs throughput, so the figures
#                                    # of such a run are not the ones to quote
#
# POST /2010-04-01/Accounts/{sid}/Tokens.json  Basic auth, the bootstrap account
# GET  /v1/ice-servers                         Bearer Access Token from an API key
#
# wrk exits 0 whatever the answers: the script counts non-2xx answers and
# socket errors, and checks one request of each with curl first.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10s}
CONNS=${CONNS:-50}
THREADS=${THREADS:-1} # wrk's own threads: the server needs the cores more
PROFILE=${PROFILE:-0}
if [[ $PROFILE == 1 ]]; then export TK_PPROF=true; fi

if ! command -v wrk >/dev/null; then
	log "wrk missing: installing Debian's wrk"
	DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >"$OUT/apt-wrk.log" 2>&1
fi
raise_limits
build_tools
[[ -f $OUT/machine.txt ]] || machine_info

"$BIN/barehttp" -listen 127.0.0.1:8099 -max-lifetime 30m >"$OUT/barehttp.log" 2>&1 &
BARE_PID=$!
PIDS+=("$BARE_PID")

TK_API_ADDR=127.0.0.1:8088 TK_ADMIN_ADDR=127.0.0.1:9641 start_turnkey turnkey-api 3479 50000 59999
for _ in $(seq 50); do [[ -s $TK_DATA/initial-account.json ]] && break; sleep 0.2; done
ACC=$(grep -o '"account_sid": *"AC[0-9a-f]*"' "$TK_DATA/initial-account.json" | grep -o 'AC[0-9a-f]*')
TOK=$(grep -o '"auth_token": *"[^"]*"' "$TK_DATA/initial-account.json" | sed 's/.*: *"\(.*\)"/\1/')
KEYJSON=$("$BIN/turnkey" keys create -config "$WORK/turnkey-api.yaml" --account "$ACC" --name bench --json)
KEY_SID=$(grep -o '"sid": *"SK[0-9a-f]*"' <<<"$KEYJSON" | grep -o 'SK[0-9a-f]*')
KEY_SECRET=$(grep -o '"secret": *"[^"]*"' <<<"$KEYJSON" | sed 's/.*: *"\(.*\)"/\1/')
ACCESS=$("$BIN/turnkey" token access -account "$ACC" -key "$KEY_SID" -secret "$KEY_SECRET" -identity bench -ttl 1h)
BASIC=$(printf '%s:%s' "$ACC" "$TOK" | base64 -w0)

TOKENS_URL="http://$TK_API/2010-04-01/Accounts/$ACC/Tokens.json"
ICE_URL="http://$TK_API/v1/ice-servers"
log "check: POST Tokens.json -> $(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Basic $BASIC" -d Ttl=3600 "$TOKENS_URL")"
log "check: GET ice-servers   -> $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ACCESS" "$ICE_URL")"
log "check: bare              -> $(curl -s -o /dev/null -w '%{http_code}' -X POST -d Ttl=3600 http://127.0.0.1:8099/)"

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "Ttl=3600"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
LUA
cat >"$WORK/get.lua" <<LUA
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $ACCESS"
LUA

# run_wrk LABEL PID LUA URL: one wrk run, parsed into a JSON line.
run_wrk() {
	local label=$1 pid=$2 lua=$3 url=$4 txt=$OUT/wrk-$1.txt
	local t0 t1
	local prof=() secs=$((${DURATION%s} - 2)) kind
	t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$lua" "$url" >"$txt" 2>&1 &
	local wrk_pid=$!
	if [[ $PROFILE == 1 && $pid == "$TK_PID" && $secs -gt 0 ]]; then
		sleep 1
		for kind in profile block mutex; do
			curl -s --max-time $((secs + 10)) -o "$OUT/pprof-$label-$kind.pb.gz" \
				"http://$TK_ADMIN/debug/pprof/$kind?seconds=$secs" &
			prof+=($!)
		done
	fi
	wait "$wrk_pid"
	if ((${#prof[@]})); then wait "${prof[@]}"; fi
	t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
	cat "$txt" >&2
	awk -v label="$label" -v ticks="$((t1 - t0))" -v dur="${DURATION%s}" '
		function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
		/^ +50%/ { p50 = ms($2) }
		/^ +99%/ { p99 = ms($2) }
		/requests in/ { req = $1 }
		/Non-2xx or 3xx responses:/ { non2xx = $NF }
		/Socket errors:/ { gsub(/,/, ""); serr = $4 + $6 + $8 + $10 }
		/^Requests\/sec:/ { rps = $2 }
		END { printf "{\"mode\":\"http\",\"label\":\"%s\",\"rps\":%s,\"p50_ms\":%s,\"p99_ms\":%s,\"requests\":%s,\"non2xx\":%d,\"socket_errors\":%d,\"server_cpu_pct\":%.0f}\n",
			label, rps+0, p50+0, p99+0, req+0, non2xx+0, serr+0, ticks/dur }' "$txt" >>"$OUT/results.jsonl"
}

run_wrk bare "$BARE_PID" "$WORK/post.lua" http://127.0.0.1:8099/
run_wrk tokens-post "$TK_PID" "$WORK/post.lua" "$TOKENS_URL"
run_wrk ice-servers-get "$TK_PID" "$WORK/get.lua" "$ICE_URL"
# At saturation p99 is queueing (CONNS / rate); a light-load pass shows the
# service time itself.
CONNS=${LOW_CONNS:-4}
run_wrk bare-c$CONNS "$BARE_PID" "$WORK/post.lua" http://127.0.0.1:8099/
run_wrk tokens-post-c$CONNS "$TK_PID" "$WORK/post.lua" "$TOKENS_URL"
run_wrk ice-servers-get-c$CONNS "$TK_PID" "$WORK/get.lua" "$ICE_URL"

"$BIN/benchsum" report "$OUT/results.jsonl" | tee -a "$OUT/summary-tokens.md"
