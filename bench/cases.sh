# shellcheck shell=bash
# The cases of bench/run.sh (sourced by it once every system is up and signed in): run_case
# and one measure_<case> function per case, each taking SYSTEM ROUND and recording its figures
# with `record` (bench/lib.sh). Notes for the report go to $WORK/notes.tsv.

# run_case CASE SYSTEM...: ROUNDS rounds; within a round every system once, the order rotated
# by one each round so no system always runs right after the same other one.
run_case() {
    local case=$1 round i n s
    shift
    local systems=("$@")
    n=${#systems[@]}
    for s in "${systems[@]}"; do printf '%s\t%s\n' "$case" "$s" >>"$EXPECT"; done
    for ((round = 1; round <= ROUNDS; round++)); do
        for ((i = 0; i < n; i++)); do
            s=${systems[$(((i + round - 1) % n))]}
            step "$case, round $round/$ROUNDS: $s"
            "measure_${case%%_*}" "$case" "$s" "$round"
        done
    done
}
note() { printf 'note.%s\t%s\n' "$1" "$2" >>"$WORK/notes.tsv"; }

record_wrk() { # record_wrk CASE SYSTEM ROUND "rps p50 p99 [cpu_us]"
    local rps p50 p99 cpu
    read -r rps p50 p99 cpu <<<"$4"
    record "$1" "$2" "$3" rps "$rps"
    record "$1" "$2" "$3" p50 "$p50"
    record "$1" "$2" "$3" p99 "$p99"
    [ -z "$cpu" ] || record "$1" "$2" "$3" cpu_us "$cpu"
}

# 1. The proxied path: the same request (with the session cookie) through each proxy.
measure_proxied() {
    local url cookie=$COOKIE
    case $2 in
        nginx) url="http://127.0.0.1:$NGX/" ;;
        authproxy) url="http://127.0.0.1:$AP/" ;;
        authproxy_nolog) url="http://127.0.0.1:$APN/" ;;
        hyper) url="http://127.0.0.1:$HYPER/" ;;
        oauth2_proxy) url="http://127.0.0.1:$O2P_PORT/" cookie=$COOKIE_O2P ;;
    esac
    record_wrk "$1" "$2" "$3" "$(wrk_measure "$1-$2" "$url" "$CONNECTIONS" -H "Cookie: $cookie")"
}

# 2. Forward auth: the check endpoints, a different user's cookie on every request (fwd_many)
# or one cookie (fwd_one), over FWD_CONNS keep-alive connections.
measure_fwd() {
    local url file pid
    case $2 in
        ap_auth) url="http://127.0.0.1:$AP/oauth2/auth" file=ap pid=$AP_PID ;;
        ap_extauthz) url="http://127.0.0.1:$AP/oauth2/ext_authz/app/page?q=1" file=ap pid=$AP_PID ;;
        o2p_auth) url="http://127.0.0.1:$O2P_PORT/oauth2/auth" file=o2p pid=$O2P_PID ;;
    esac
    if [ "$1" = fwd_many ]; then file="$WORK/cookies-$file.txt"; else file="$WORK/cookie-$file.txt"; fi
    if [ "$3" = 1 ] && [ "$2" = ap_auth ]; then
        if [ "$1" = fwd_many ]; then
            note "$1" "$(wc -l <"$file") signed-in users' cookies, the next one on every request (bench/rotate.lua), over $FWD_CONNS keep-alive connections (wrk -t$THREADS), as nginx \`auth_request\` and Envoy ext_authz send them. ext_authz: \`/oauth2/ext_authz/app/page?q=1\`."
        else
            note "$1" "One user's cookie on every request over $FWD_CONNS keep-alive connections (wrk -t$THREADS)."
        fi
    fi
    record_wrk "$1" "$2" "$3" "$(CPU_PID=$pid wrk_measure "$1-$2" "$url" "$FWD_CONNS" -s "$ROOT/bench/rotate.lua" -- "$file")"
    if [ "$1" = fwd_many ] && [ "$2" = ap_auth ] && [ "$3" = 1 ] && [[ "${BENCH_AUTHPROXY_ARGS:-}" != *request-logging* ]]; then
        # The request log names the user of every check: each signed-in user must be there.
        local seen want
        sleep 0.5
        seen=$(awk '/"\/oauth2\/auth" / && !($5 in u) { u[$5]; n++ } END { print n + 0 }' "$WORK/authproxy.log")
        want=$(wc -l <"$file")
        [ "$seen" -eq "$want" ] \
            || die "fwd_many: authproxy logged $seen distinct users on /oauth2/auth, expected $want (does bench/rotate.lua rotate?)"
    fi
}

# 3. One and two worker threads: two authproxy instances started under taskset; tokio sizes its
# worker pool from the CPU affinity mask (std::thread::available_parallelism), recorded here as
# the number of tokio-runtime-worker threads each instance runs.
measure_threads() {
    local url pid cpus load
    cpus=$(nproc)
    if [ "$cpus" -ge 4 ]; then load="2-$((cpus - 1))"; else load=$((cpus - 1)); fi
    case $2 in
        ap_1cpu) url="http://127.0.0.1:$AP1/" pid=$AP1_PID ;;
        ap_2cpu) url="http://127.0.0.1:$AP2/" pid=$AP2_PID ;;
    esac
    [ "$3" = 1 ] && [ "$2" = ap_1cpu ] && note "$1" "wrk pinned with \`taskset -c $load\` (the same for both; on a 2-CPU machine it shares CPU 1 with the second instance's second worker, so the factor understates the scaling), the upstream nginx unpinned."
    local threads=1
    [ "$cpus" -ge 5 ] && threads=2
    record_wrk "$1" "$2" "$3" "$(LOAD_PIN="taskset -c $load" WRK_THREADS=$threads \
        wrk_measure "$1-$2" "$url" "$CONNECTIONS" -H "Cookie: $COOKIE")"
    local workers
    workers=$(tokio_workers "$pid")
    [ "$workers" -gt 0 ] || die "threads case: no authproxy-worker thread in process $pid"
    record "$1" "$2" "$3" workers "$workers"
}

# 4. Memory and start: a fresh process each round (bench/probe.py start): start → /ready 200
# with the IdP answering discovery, idle RSS, RSS with HOLD idle keep-alive connections.
measure_memory() {
    local port json cmd
    port=$(free_port)
    if [ "$2" = authproxy ]; then
        ap_cmd "$port" --max-connections=$((HOLD + 100))
        cmd=("${AP_CMD[@]}")
    else
        o2p_cmd "$port"
        cmd=("${O2P_CMD[@]}")
    fi
    [ "$3" = 1 ] && [ "$2" = authproxy ] && note "$1" "A new process each round: start → first 200 on /ready (polled every millisecond, the IdP answering discovery), RSS 1 s later, then $HOLD keep-alive connections, each after one \`GET /ping\`, held 2 s (bench/probe.py with bench/limits.py's loader)."
    json=$(timeout 300 python3 "$ROOT/bench/probe.py" start --port "$port" --count "$HOLD" \
        --log "$WORK/memory-$2-$3.log" -- "${cmd[@]}") \
        || { tail -n 20 "$WORK/memory-$2-$3.log" >&2; die "memory case: $2 failed"; }
    local ready idle conns held per
    read -r ready idle conns held per < <(python3 -c 'import json, sys
d = json.loads(sys.argv[1])
print(d["ready_ms"], round(d["rss_idle_kib"] / 1024, 1), round(d["rss_conns_kib"] / 1024, 1), d["held"], d["conn_bytes"])' "$json")
    record "$1" "$2" "$3" ready_ms "$ready"
    record "$1" "$2" "$3" rss_idle_mib "$idle"
    record "$1" "$2" "$3" rss_conns_mib "$conns"
    record "$1" "$2" "$3" conns "$held"
    record "$1" "$2" "$3" conn_bytes "$per"
}

# 5. WebSocket: WS_CLIENTS clients of examples/ws_bench, each sending a 128-byte message and
# waiting for the echo (examples/bench_app /ws) again and again.
measure_websocket() {
    local port out
    case $2 in
        nginx_ws) port=$NGX_S ;;
        ap_ws) port=$AP_S ;;
    esac
    [ "$3" = 1 ] && [ "$2" = ap_ws ] && note "$1" "$WS_CLIENTS WebSocket clients (examples/ws_bench.rs), one 128-byte text message in flight each, echoed by examples/bench_app.rs; $DURATION per measurement; authproxy with proxy_websockets on and the session cookie on the upgrade request."
    out=$(timeout 120 "$WS_BIN" "ws://127.0.0.1:$port/ws" "$WS_CLIENTS" "$(dur_s "$DURATION")" 128 "$COOKIE") \
        || die "websocket case: $2 failed"
    local msgs p50 p99
    read -r msgs p50 p99 _ <<<"$out"
    record "$1" "$2" "$3" msgs "$msgs"
    record "$1" "$2" "$3" p50 "$p50"
    record "$1" "$2" "$3" p99 "$p99"
}

# 6. Streaming: STREAM_REPEAT downloads and uploads of STREAM_BYTES through each proxy (curl, one
# at a time), and the first chunk of a slow chunked stream (5 chunks, 200 ms apart).
measure_streaming() {
    local port base i line total_b=0 total_s=0 up_b=0 up_s=0
    case $2 in
        nginx_stream) port=$NGX_S ;;
        ap_stream) port=$AP_S ;;
    esac
    base="http://127.0.0.1:$port"
    [ -f "$WORK/upload.bin" ] || head -c "$STREAM_BYTES" /dev/zero | tr '\0' 'u' >"$WORK/upload.bin"
    [ "$3" = 1 ] && [ "$2" = ap_stream ] && note "$1" "examples/bench_app.rs behind each proxy (nginx: response buffering on as by default but in memory only, proxy_max_temp_file_size 0; proxy_request_buffering off so uploads stream as through authproxy). $STREAM_REPEAT downloads and $STREAM_REPEAT uploads of $((STREAM_BYTES / 1048576)) MiB per round with curl (MB = 10^6 bytes); the slow stream sends 5 chunks 200 ms apart, the first at once: its first chunk must arrive at once, not after the whole stream."
    for ((i = 0; i < STREAM_REPEAT; i++)); do
        line=$(curl -sS --max-time 60 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
            -H "Cookie: $COOKIE" "$base/big?bytes=$STREAM_BYTES") || die "streaming case: download through $2 failed"
        read -r code b s <<<"$line"
        if [ "$code" != 200 ] || [ "$b" != "$STREAM_BYTES" ]; then
            die "streaming case: download through $2: $line"
        fi
        total_b=$((total_b + b))
        total_s=$(awk -v a="$total_s" -v b="$s" 'BEGIN { print a + b }')
        line=$(curl -sS --max-time 60 -o "$WORK/upload.out" -w '%{http_code} %{size_upload} %{time_total}' \
            -H "Cookie: $COOKIE" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
            --data-binary "@$WORK/upload.bin" "$base/upload") || die "streaming case: upload through $2 failed"
        read -r code b s <<<"$line"
        if [ "$code" != 200 ] || [ "$(cat "$WORK/upload.out")" != "$STREAM_BYTES" ]; then
            die "streaming case: upload through $2: $line, app saw $(cat "$WORK/upload.out")"
        fi
        up_b=$((up_b + b))
        up_s=$(awk -v a="$up_s" -v b="$s" 'BEGIN { print a + b }')
    done
    record "$1" "$2" "$3" down_mbs "$(awk -v b="$total_b" -v s="$total_s" 'BEGIN { printf "%.1f", b / s / 1e6 }')"
    record "$1" "$2" "$3" up_mbs "$(awk -v b="$up_b" -v s="$up_s" 'BEGIN { printf "%.1f", b / s / 1e6 }')"
    local first whole
    read -r first whole < <(timeout 30 python3 "$ROOT/bench/probe.py" ttfb --port "$port" \
        --path "/slow?chunks=5&ms=200" --cookie "$COOKIE" || echo x x)
    record "$1" "$2" "$3" ttfb_ms "$first"
    record "$1" "$2" "$3" slow_total_ms "$whole"
}

# 7. Redis-backed sessions against cookie sessions: the same request, each with its own login.
measure_redis() {
    local url cookie
    case $2 in
        ap_cookie) url="http://127.0.0.1:$AP/" cookie=$COOKIE ;;
        ap_redis) url="http://127.0.0.1:$AP_R/" cookie=$COOKIE_R ;;
    esac
    [ "$3" = 1 ] && [ "$2" = ap_cookie ] && note "$1" "The cookie system is the proxied case's authproxy (request log on); the Redis one the same configuration with session_store_type=redis on a local redis-server without persistence, signed in on its own. bench/redis.sh adds Redis commands per request and session cookie sizes."
    record_wrk "$1" "$2" "$3" "$(wrk_measure "$1-$2" "$url" "$CONNECTIONS" -H "Cookie: $cookie")"
}
