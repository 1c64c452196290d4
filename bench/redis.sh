#!/usr/bin/env bash
# Benchmark: authenticated proxied throughput with the Redis session store against the cookie
# session store, same machine, same run, interleaved rounds; plus Redis round trips per request
# and the cookie bytes of a session with an Entra-style ID token carrying 200 groups.
# All on 127.0.0.1. See bench/README.md.
#
# Environment: BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
#              BENCH_WARMUP (2s), BENCH_ROUNDS (3), CARGO_TARGET_DIR (target/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
RESULTS="$ROOT/bench/redis-results.md"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

command -v node >/dev/null 2>&1 || die "node (20+) is required for the test IdP"
command -v curl >/dev/null 2>&1 || ensure_apt curl:curl
ensure_apt wrk:wrk nginx:nginx-light redis-server:redis-server redis-cli:redis-tools
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
if [ ! -d "$ROOT/tests/idp/node_modules/oidc-provider" ]; then
    step "npm ci in tests/idp"
    (cd "$ROOT/tests/idp" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed"
fi
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    step "cargo build --release --bin authproxy --example session_size"
    cargo build --release --bin authproxy --example session_size </dev/null || die "release build failed"
fi
AUTHPROXY="$TARGET_DIR/release/authproxy"

UP=$(free_port)
COOKIE_PROXY=$(free_port)
REDIS_PROXY=$(free_port)
IDP=$(free_port)
REDIS=$(free_port)

start_nginx "$(nginx_conf upstream "server {
        listen 127.0.0.1:$UP;
        keepalive_requests 100000;
        location / { default_type text/plain; return 200 'hello from the upstream\n'; }
    }")"
"$REDIS_SERVER" --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
IDP_REDIRECT_URIS="http://127.0.0.1:$COOKIE_PROXY/oauth2/callback,http://127.0.0.1:$REDIS_PROXY/oauth2/callback" \
    node "$ROOT/tests/idp/server.mjs" "$IDP" >"$WORK/idp.log" 2>&1 &
PIDS+=($!)

SECRET=$(head -c 32 /dev/urandom | base64)
start_authproxy() { # PORT LOG [FLAGS...]
    local port=$1 log=$2
    shift 2
    "$AUTHPROXY" \
        --http-address="127.0.0.1:$port" \
        --provider=oidc \
        --oidc-issuer-url="http://127.0.0.1:$IDP" \
        --client-id=authproxy \
        --client-secret=authproxy-secret \
        --cookie-secret="$SECRET" \
        --cookie-secure=false \
        --redirect-url="http://127.0.0.1:$port/oauth2/callback" \
        --upstream="http://127.0.0.1:$UP" \
        --email-domain='*' \
        --pass-user-headers \
        --set-xauthrequest \
        --pass-access-token \
        "$@" >"$log" 2>&1 &
    PIDS+=($!)
}
wait_http "http://127.0.0.1:$UP/" 200 10 || die "the upstream nginx did not start"
wait_http "http://127.0.0.1:$IDP/.well-known/openid-configuration" 200 20 \
    || { cat "$WORK/idp.log" >&2; die "the test IdP did not start"; }
for ((i = 0; i < 50; i++)); do
    redis-cli -p "$REDIS" PING >/dev/null 2>&1 && break
    sleep 0.1
done
start_authproxy "$COOKIE_PROXY" "$WORK/cookie.log"
start_authproxy "$REDIS_PROXY" "$WORK/redis-proxy.log" \
    --session-store-type=redis --redis-connection-url="redis://127.0.0.1:$REDIS"
wait_http "http://127.0.0.1:$COOKIE_PROXY/ready" 200 30 || { tail -n 30 "$WORK/cookie.log" >&2; die "authproxy (cookie store) not ready"; }
wait_http "http://127.0.0.1:$REDIS_PROXY/ready" 200 30 || { tail -n 30 "$WORK/redis-proxy.log" >&2; die "authproxy (Redis store) not ready"; }

step "signing in through the IdP on both"
COOKIE_C=$(timeout 30 node "$ROOT/bench/login.mjs" "http://127.0.0.1:$COOKIE_PROXY" bench) \
    || { tail -n 30 "$WORK/cookie.log" >&2; die "login (cookie store) failed"; }
COOKIE_R=$(timeout 30 node "$ROOT/bench/login.mjs" "http://127.0.0.1:$REDIS_PROXY" bench) \
    || { tail -n 30 "$WORK/redis-proxy.log" >&2; die "login (Redis store) failed"; }

TARGETS=(cookie redis)
declare -A URL HDR LABEL RPS P99 P50 TRIPS
URL[cookie]="http://127.0.0.1:$COOKIE_PROXY/"; LABEL[cookie]="authproxy, cookie session store"; HDR[cookie]="Cookie: $COOKIE_C"
URL[redis]="http://127.0.0.1:$REDIS_PROXY/";   LABEL[redis]="authproxy, Redis session store";  HDR[redis]="Cookie: $COOKIE_R"
commands() { redis-cli -p "$REDIS" INFO stats | awk -F: '/^total_commands_processed/ { print $2 + 0 }'; }
for ((round = 1; round <= ROUNDS; round++)); do
    for t in "${TARGETS[@]}"; do
        step "round $round/$ROUNDS: ${LABEL[$t]}"
        before=$(commands)
        R=$(wrk_run "$t" "${URL[$t]}" "${HDR[$t]}") || exit 1
        after=$(commands)
        read -r a b c <<<"$R"; RPS[$t]+="$a "; P99[$t]+="$b "; P50[$t]+="$c "
        total=$(awk '/requests in/ { print $1 }' "$WORK/wrk-$t.txt")
        TRIPS[$t]+="$(awk -v d="$((after - before))" -v n="$total" 'BEGIN { printf "%.5f", (n > 0) ? d / n : 0 }') "
    done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }
RATIO=$(awk -v a="$(median "${RPS[redis]}")" -v b="$(median "${RPS[cookie]}")" 'BEGIN { printf "%.2f", a / b }')
VERDICT=$(awk -v r="$RATIO" 'BEGIN { print (r >= 0.80) ? "met" : "missed" }')

step "cookie bytes of a 200-group Entra-style session"
SIZES=$("$TARGET_DIR/release/examples/session_size") || die "examples/session_size failed"

CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
REPORT=$(cat <<EOF
# Redis session store: benchmark results

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($CPU), loopback only, \`bash bench/redis.sh\`.
\`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\` after a $WARMUP warm-up, $ROUNDS interleaved rounds
(median, min–max). Both proxies: release build, same upstream (nginx \`return 200\`), same IdP
login, identity headers on, request log on. Redis: a local \`redis-server\` without persistence.

| target | req/s median (min–max) | p50 (ms) | p99 (ms) | Redis commands per request |
|---|---:|---:|---:|---:|
| ${LABEL[cookie]} | $(median "${RPS[cookie]}") ($(minmax "${RPS[cookie]}")) | $(median "${P50[cookie]}") | $(median "${P99[cookie]}") | $(median "${TRIPS[cookie]}") |
| ${LABEL[redis]} | $(median "${RPS[redis]}") ($(minmax "${RPS[redis]}")) | $(median "${P50[redis]}") | $(median "${P99[redis]}") | $(median "${TRIPS[redis]}") |

Redis / cookie throughput: **$RATIO** (target ≥ 0.80: $VERDICT). A replica keeps a verified
session for at most 5 s (invalidated at once by pub/sub on sign-out, refresh and back-channel
logout), so a busy session costs one Redis read per 5 s per replica, not one per request.

$SIZES
EOF
)
printf '%s\n' "$REPORT" >"$RESULTS"
printf '\n%s\n\nwritten to %s\n' "$REPORT" "${RESULTS#"$ROOT"/}"
