#!/usr/bin/env bash
# The benchmark (issue 11 "Targets"): every case side by side in one run, all on 127.0.0.1,
# the systems of a case alternating round by round; writes bench/results.md and
# bench/results.svg (bench/report.py) and prints the tables. See bench/README.md.
#
#   1. proxied   authenticated proxied path: nginx, authproxy log on/off, bare hyper, oauth2-proxy
#   2. fwd       forward auth (/oauth2/auth, /oauth2/ext_authz/), 50 users over 8 connections
#                (fwd_many) and one cookie (fwd_one), against oauth2-proxy /oauth2/auth
#   3. threads   authproxy under taskset -c 0 and -c 0,1: the scaling factor
#   4. memory    start → /ready, idle RSS, RSS with 10,000 idle keep-alive connections
#   5. websocket echo app behind authproxy and nginx, N clients: messages/s, p99 round trip
#   6. streaming 10 MiB download and upload (MB/s), first chunk of a slow chunked stream
#   7. redis     Redis-backed sessions against cookie sessions (BENCH_REDIS=0 leaves it out)
#
# Environment (defaults in brackets; BENCH_SMOKE=1 changes them, see below):
#   BENCH_DURATION (10s)  BENCH_WARMUP (2s)  BENCH_ROUNDS (3)  BENCH_CONNECTIONS (64)
#   BENCH_THREADS (2, wrk threads)  BENCH_USERS (50)  BENCH_FWD_CONNECTIONS (8)
#   BENCH_HOLD (10000 idle connections)  BENCH_WS_CLIENTS (50)  BENCH_STREAM_MIB (10)
#   BENCH_STREAM_REPEAT (10 transfers per round)  BENCH_CASES (all: "proxied fwd threads
#   memory websocket streaming redis")  BENCH_REDIS (1)  BENCH_OUT (bench/)
#   BENCH_PROFILE (release; debug uses target/debug)  BENCH_SKIP_BUILD (build what is missing)
#   BENCH_AUTHPROXY_BIN, BENCH_BARE_PROXY_BIN, BENCH_APP_BIN, BENCH_WS_BIN: binaries to use
#   BENCH_OAUTH2_PROXY: an oauth2-proxy binary, compared where it applies (cases 1, 2, 4)
#   BENCH_AUTHPROXY_ARGS: extra flags for every authproxy instance
# BENCH_SMOKE=1: the CI smoke (scripts/test.sh): debug binaries cargo already built (no build),
# 1 s per measurement, no warm-up, 1 round, fewer connections/users, results in a temporary
# directory (printed, then removed), never bench/results.md. Fails when any case has no figures.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
    : "${BENCH_DURATION:=1s}" "${BENCH_WARMUP:=0s}" "${BENCH_ROUNDS:=1}" "${BENCH_CONNECTIONS:=16}"
    : "${BENCH_PROFILE:=debug}" "${BENCH_USERS:=5}" "${BENCH_HOLD:=200}" "${BENCH_WS_CLIENTS:=4}"
    : "${BENCH_STREAM_MIB:=2}" "${BENCH_STREAM_REPEAT:=2}" "${BENCH_SKIP_BUILD:=1}"
fi
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

PROFILE=${BENCH_PROFILE:-release}
USERS=${BENCH_USERS:-50}
FWD_CONNS=${BENCH_FWD_CONNECTIONS:-8}
HOLD=${BENCH_HOLD:-10000}
WS_CLIENTS=${BENCH_WS_CLIENTS:-50}
STREAM_BYTES=$((${BENCH_STREAM_MIB:-10} * 1024 * 1024))
STREAM_REPEAT=${BENCH_STREAM_REPEAT:-10}
CASES=${BENCH_CASES:-proxied fwd threads memory websocket streaming redis}
[ "${BENCH_REDIS:-1}" = 0 ] && CASES=${CASES//redis/}
if [ "$SMOKE" = 1 ]; then OUT=${BENCH_OUT:-$WORK/out}; else OUT=${BENCH_OUT:-$ROOT/bench}; fi
mkdir -p "$OUT"
SAMPLES="$WORK/samples.tsv" EXPECT="$WORK/expect.tsv" INFO="$WORK/info.tsv"
: >"$SAMPLES"
: >"$EXPECT"
: >"$INFO"
wants() { [[ " $CASES " == *" $1 "* ]]; }
dur_s() { awk -v d="$1" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; print n }'; }

# --- tools and binaries ----------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node (20+) is required for the test IdP"
command -v python3 >/dev/null 2>&1 || die "python3 is required for bench/probe.py and bench/report.py"
command -v curl >/dev/null 2>&1 || ensure_apt curl:curl
ensure_apt wrk:wrk nginx:nginx-light taskset:util-linux
wants redis && ensure_apt redis-server:redis-server
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found after install"
if [ ! -d "$ROOT/tests/idp/node_modules/oidc-provider" ]; then
    step "npm ci in tests/idp"
    (cd "$ROOT/tests/idp" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed"
fi
BIN_DIR="$TARGET_DIR/$PROFILE"
AUTHPROXY=${BENCH_AUTHPROXY_BIN:-$BIN_DIR/authproxy}
BARE_BIN=${BENCH_BARE_PROXY_BIN:-$BIN_DIR/examples/bare_proxy}
APP_BIN=${BENCH_APP_BIN:-$BIN_DIR/examples/bench_app}
WS_BIN=${BENCH_WS_BIN:-$BIN_DIR/examples/ws_bench}
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    build=()
    [ -n "${BENCH_AUTHPROXY_BIN:-}" ] || build+=(--bin authproxy)
    [ -n "${BENCH_BARE_PROXY_BIN:-}" ] || build+=(--example bare_proxy)
    [ -n "${BENCH_APP_BIN:-}" ] || build+=(--example bench_app)
    [ -n "${BENCH_WS_BIN:-}" ] || build+=(--example ws_bench)
    if [ "${#build[@]}" -gt 0 ]; then
        profile=(--profile "$PROFILE")
        [ "$PROFILE" = debug ] && profile=()
        step "cargo build ${profile[*]} ${build[*]}"
        cargo build "${profile[@]}" "${build[@]}" </dev/null || die "cargo build failed"
    fi
fi
for b in "$AUTHPROXY" "$BARE_BIN" "$APP_BIN" "$WS_BIN"; do
    [ -x "$b" ] || die "no binary at $b (cargo build${PROFILE:+ --profile $PROFILE} --bin authproxy --examples, or the BENCH_*_BIN overrides)"
done
O2P=${BENCH_OAUTH2_PROXY:-}
[ -z "$O2P" ] || [ -x "$O2P" ] || die "BENCH_OAUTH2_PROXY=$O2P is not an executable"

# Descriptors for the idle connections of the memory case: the limit is per process, and the
# loader and the proxy each hold one per connection.
ulimit -n $((HOLD + 4096)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if wants memory && [ "$(ulimit -n)" -lt $((HOLD + 1024)) ]; then
    die "ulimit -n is $(ulimit -n): too small for BENCH_HOLD=$HOLD connections (run as root, or lower BENCH_HOLD)"
fi

# --- the systems -----------------------------------------------------------------------------
UP=$(free_port) IDP=$(free_port) NGX=$(free_port) AP=$(free_port) APN=$(free_port)
HYPER=$(free_port) O2P_PORT=$(free_port) AP1=$(free_port) AP2=$(free_port) APP=$(free_port)
NGX_S=$(free_port) AP_S=$(free_port) REDIS=$(free_port) AP_R=$(free_port)
SECRET=$(secret32)
O2P_SECRET=$(secret32)

start_nginx "$(nginx_conf upstream "server {
        listen 127.0.0.1:$UP;
        keepalive_requests 100000;
        location / { default_type text/plain; return 200 'hello from the upstream\n'; }
    }")"
start_nginx "$(nginx_conf baseline "upstream app { server 127.0.0.1:$UP; keepalive 128; }
    server {
        listen 127.0.0.1:$NGX;
        keepalive_requests 100000;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }" 2)"
IDP_REDIRECT_URIS="http://127.0.0.1:$AP/oauth2/callback,http://127.0.0.1:$O2P_PORT/oauth2/callback,http://127.0.0.1:$AP_R/oauth2/callback" \
    node "$ROOT/tests/idp/server.mjs" "$IDP" >"$WORK/idp.log" 2>&1 &
PIDS+=($!)

# ap_cmd PORT [FLAGS...]: the authproxy command line in AP_CMD. Every instance shares the
# cookie secret and the callback of the main one, so one session cookie is valid on each
# (cookie store); identity headers on as an app behind the sidecar would get them.
# AP_UPSTREAM and AP_CALLBACK (a port) replace the upstream and the callback.
ap_cmd() {
    local port=$1
    shift
    local extra=()
    [ -n "${BENCH_AUTHPROXY_ARGS:-}" ] && read -r -a extra <<<"$BENCH_AUTHPROXY_ARGS"
    AP_CMD=("$AUTHPROXY" --http-address="127.0.0.1:$port" --provider=oidc
        --oidc-issuer-url="http://127.0.0.1:$IDP" --client-id=authproxy
        --client-secret=authproxy-secret --cookie-secret="$SECRET" --cookie-secure=false
        --redirect-url="http://127.0.0.1:${AP_CALLBACK:-$AP}/oauth2/callback"
        --upstream="${AP_UPSTREAM:-http://127.0.0.1:$UP}"
        --email-domain='*' --pass-user-headers --set-xauthrequest --pass-access-token
        "$@" "${extra[@]}")
}
# o2p_cmd PORT: the same configuration for oauth2-proxy (PKCE: the test IdP requires it).
o2p_cmd() {
    O2P_CMD=("$O2P" --http-address="127.0.0.1:$1" --provider=oidc
        --oidc-issuer-url="http://127.0.0.1:$IDP" --client-id=authproxy
        --client-secret=authproxy-secret --cookie-secret="$O2P_SECRET" --cookie-secure=false
        --redirect-url="http://127.0.0.1:$O2P_PORT/oauth2/callback"
        --upstream="http://127.0.0.1:$UP" --email-domain='*' --pass-user-headers
        --set-xauthrequest --pass-access-token --code-challenge-method=S256)
}
start_bg() { # start_bg LOG COMMAND... (the pid in LAST_PID)
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

wait_http "http://127.0.0.1:$UP/" 200 10 || die "the upstream nginx did not start"
wait_http "http://127.0.0.1:$IDP/.well-known/openid-configuration" 200 20 \
    || { cat "$WORK/idp.log" >&2; die "the test IdP did not start"; }
ap_cmd "$AP"
start_bg "$WORK/authproxy.log" "${AP_CMD[@]}"
AP_PID=$LAST_PID
ap_cmd "$APN" --request-logging=false
start_bg "$WORK/authproxy-nolog.log" "${AP_CMD[@]}"
start_bg "$WORK/bare.log" "$BARE_BIN" "127.0.0.1:$HYPER" "127.0.0.1:$UP"
if [ -n "$O2P" ]; then
    o2p_cmd "$O2P_PORT"
    start_bg "$WORK/oauth2-proxy.log" "${O2P_CMD[@]}"
    O2P_PID=$LAST_PID
fi
if wants threads; then
    # The authproxy CPUs are 0 (one worker) and 0,1 (two); the load side (wrk) gets the CPUs
    # after the first two when there are any, else the last one.
    ap_cmd "$AP1"
    start_bg "$WORK/authproxy-1cpu.log" taskset -c 0 "${AP_CMD[@]}"
    AP1_PID=$LAST_PID
    ap_cmd "$AP2"
    start_bg "$WORK/authproxy-2cpu.log" taskset -c 0,1 "${AP_CMD[@]}"
    AP2_PID=$LAST_PID
fi
if wants websocket || wants streaming; then
    start_bg "$WORK/app.log" "$APP_BIN" "127.0.0.1:$APP"
    start_nginx "$(nginx_conf stream "upstream app { server 127.0.0.1:$APP; keepalive 128; }
    map \$http_upgrade \$connection_upgrade { default upgrade; '' \"\"; }
    server {
        listen 127.0.0.1:$NGX_S;
        keepalive_requests 100000;
        client_max_body_size 0;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_request_buffering off;
            proxy_max_temp_file_size 0;
        }
    }" 2)"
    AP_UPSTREAM="http://127.0.0.1:$APP" ap_cmd "$AP_S" --proxy-websockets=true
    start_bg "$WORK/authproxy-stream.log" "${AP_CMD[@]}"
fi
if wants redis; then
    start_bg "$WORK/redis.log" "$(command -v redis-server || echo /usr/bin/redis-server)" \
        --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK"
    AP_CALLBACK=$AP_R ap_cmd "$AP_R" --session-store-type=redis \
        --redis-connection-url="redis://127.0.0.1:$REDIS"
    start_bg "$WORK/authproxy-redis.log" "${AP_CMD[@]}"
fi

ready() { # ready URL LOG NAME
    wait_http "$1" 200 30 || { tail -n 40 "$2" >&2; die "$3 did not become ready"; }
}
wait_http "http://127.0.0.1:$NGX/" 200 10 || die "the baseline nginx did not start"
ready "http://127.0.0.1:$AP/ready" "$WORK/authproxy.log" authproxy
ready "http://127.0.0.1:$APN/ready" "$WORK/authproxy-nolog.log" "authproxy (log off)"
wait_http "http://127.0.0.1:$HYPER/" 200 10 || die "the bare hyper proxy did not start"
[ -z "$O2P" ] || ready "http://127.0.0.1:$O2P_PORT/ready" "$WORK/oauth2-proxy.log" oauth2-proxy
if wants threads; then
    ready "http://127.0.0.1:$AP1/ready" "$WORK/authproxy-1cpu.log" "authproxy (taskset -c 0)"
    ready "http://127.0.0.1:$AP2/ready" "$WORK/authproxy-2cpu.log" "authproxy (taskset -c 0,1)"
fi
if wants websocket || wants streaming; then
    wait_http "http://127.0.0.1:$APP/" 200 10 || die "examples/bench_app did not start"
    wait_http "http://127.0.0.1:$NGX_S/" 200 10 || die "the streaming nginx did not start"
    ready "http://127.0.0.1:$AP_S/ready" "$WORK/authproxy-stream.log" "authproxy (app upstream)"
fi
wants redis && ready "http://127.0.0.1:$AP_R/ready" "$WORK/authproxy-redis.log" "authproxy (Redis)"

step "signing in through the IdP"
login() { # login ORIGIN LOG NAME [N] -> cookies, one per line
    timeout 120 node "$ROOT/bench/login-many.mjs" "$1" "${4:-1}" "${3}-" \
        || { tail -n 30 "$2" >&2; die "could not sign in on $3"; }
}
login "http://127.0.0.1:$AP" "$WORK/authproxy.log" authproxy "$USERS" >"$WORK/cookies-ap.txt"
head -n 1 "$WORK/cookies-ap.txt" >"$WORK/cookie-ap.txt"
COOKIE=$(cat "$WORK/cookie-ap.txt")
if [ -n "$O2P" ]; then
    login "http://127.0.0.1:$O2P_PORT" "$WORK/oauth2-proxy.log" oauth2-proxy "$USERS" >"$WORK/cookies-o2p.txt"
    head -n 1 "$WORK/cookies-o2p.txt" >"$WORK/cookie-o2p.txt"
    COOKIE_O2P=$(cat "$WORK/cookie-o2p.txt")
fi
wants redis && COOKIE_R=$(login "http://127.0.0.1:$AP_R" "$WORK/authproxy-redis.log" redis)

# --- the cases -------------------------------------------------------------------------------
# shellcheck source=bench/cases.sh
. "$ROOT/bench/cases.sh"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
wants proxied && run_case proxied nginx authproxy authproxy_nolog hyper ${O2P:+oauth2_proxy}
if wants fwd; then
    run_case fwd_many ap_auth ap_extauthz ${O2P:+o2p_auth}
    run_case fwd_one ap_auth ap_extauthz ${O2P:+o2p_auth}
fi
wants threads && run_case threads ap_1cpu ap_2cpu
wants memory && run_case memory authproxy ${O2P:+oauth2_proxy}
wants websocket && run_case websocket nginx_ws ap_ws
wants streaming && run_case streaming nginx_stream ap_stream
wants redis && run_case redis ap_cookie ap_redis

# --- the report ------------------------------------------------------------------------------
CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
MEM=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
O2P_VERSION=""
[ -z "$O2P" ] || O2P_VERSION=$("$O2P" --version 2>&1 | head -n 1)
CMD_ENV=$(env | grep -E '^BENCH_' | grep -v '^BENCH_AUTHPROXY_ARGS=$' | sort | tr '\n' ' ' || true)
{
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'machine\t%s CPUs (%s), %s, Linux %s; load average %s at the start, %s at the end\n' \
        "$(nproc)" "$CPU" "$MEM" "$(uname -r)" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'command\t%sbash bench/run.sh\n' "$CMD_ENV"
    printf 'settings\t%s\n' "$PROFILE build. wrk -t$THREADS --latency, $DURATION per measurement after a $WARMUP warm-up, $ROUNDS rounds; $CONNECTIONS connections on the proxied path. Upstream: nginx \`return 200\` (small body). authproxy: OIDC session cookie from a real login at tests/idp (oidc-provider), identity headers on (pass_user_headers, set_xauthrequest, pass_access_token); every request, nginx's and the bare proxy's included, carries the same Cookie header.${O2P_VERSION:+ oauth2-proxy: $O2P_VERSION, same IdP, upstream and header options.} Load generator, upstream and proxies share the machine's CPUs."
    cat "$WORK/notes.tsv" 2>/dev/null || true
} >>"$INFO"
python3 "$ROOT/bench/report.py" --samples "$SAMPLES" --expect "$EXPECT" --info "$INFO" \
    --md "$OUT/results.md" --svg "$OUT/results.svg" || die "the report is incomplete"
cat "$OUT/results.md"
printf '\nwritten to %s/results.md and %s/results.svg\n' "$OUT" "$OUT" >&2
