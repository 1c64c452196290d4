#!/usr/bin/env bash
# Three authproxy replicas behind nginx (round robin) on a Redis Sentinel set (1 master,
# 1 replica, 3 sentinels): BENCH_USERS users sign in through nginx, BENCH_REQUESTS requests
# rotate over their cookies, and the master is killed half-way. Reports errors, requests served
# with a wrong identity (must be 0), sessions lost (must be 0) and the time to recover.
# All on 127.0.0.1. See bench/README.md.
#
# Environment: BENCH_USERS (1000), BENCH_REQUESTS (50000), BENCH_SKIP_BUILD, CARGO_TARGET_DIR.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
USERS=${BENCH_USERS:-1000}
REQUESTS=${BENCH_REQUESTS:-50000}
RESULTS="$ROOT/bench/redis-failover-results.md"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

command -v node >/dev/null 2>&1 || die "node (20+) is required for the test IdP"
command -v curl >/dev/null 2>&1 || ensure_apt curl:curl
ensure_apt nginx:nginx-light redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -d "$ROOT/tests/idp/node_modules/oidc-provider" ]; then
    (cd "$ROOT/tests/idp" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed"
fi
if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    step "cargo build --release --bin authproxy"
    cargo build --release --bin authproxy </dev/null || die "release build failed"
fi
AUTHPROXY="$TARGET_DIR/release/authproxy"

UP=$(free_port); FRONT=$(free_port); IDP=$(free_port)
MASTER=$(free_port); REPLICA=$(free_port)
S1=$(free_port); S2=$(free_port); S3=$(free_port)
P1=$(free_port); P2=$(free_port); P3=$(free_port)

# The upstream answers with the identity it was given, so the client can check it.
start_nginx "$(nginx_conf upstream "server {
        listen 127.0.0.1:$UP;
        keepalive_requests 100000;
        location / { default_type text/plain; return 200 \"\$http_x_forwarded_email\"; }
    }")"
start_nginx "$(nginx_conf front "upstream replicas {
        server 127.0.0.1:$P1; server 127.0.0.1:$P2; server 127.0.0.1:$P3;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$FRONT;
        keepalive_requests 100000;
        location / {
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$http_host;
            proxy_next_upstream off;
        }
    }")"

redis() { # redis NAME PORT [ARGS...]
    local name=$1 port=$2
    shift 2
    mkdir -p "$WORK/$name"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/$name" \
        --logfile "$WORK/$name/redis.log" "$@" &
    PIDS+=($!)
    LAST_PID=$!
}
redis master "$MASTER"
MASTER_PID=$LAST_PID
redis replica "$REPLICA" --replicaof 127.0.0.1 "$MASTER"
for s in "$S1" "$S2" "$S3"; do
    mkdir -p "$WORK/sentinel-$s"
    cat >"$WORK/sentinel-$s/sentinel.conf" <<EOF
port $s
bind 127.0.0.1
dir $WORK/sentinel-$s
logfile $WORK/sentinel-$s/sentinel.log
sentinel monitor mymaster 127.0.0.1 $MASTER 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 6000
EOF
    redis-sentinel "$WORK/sentinel-$s/sentinel.conf" &
    PIDS+=($!)
done
for ((i = 0; i < 100; i++)); do
    redis-cli -p "$REPLICA" INFO replication 2>/dev/null | grep -q 'master_link_status:up' && break
    sleep 0.1
done
step "waiting for the sentinels to see each other and the replica"
for ((i = 0; i < 300; i++)); do
    n=$(redis-cli -p "$S1" SENTINEL sentinels mymaster 2>/dev/null | grep -c '^name$' || true)
    r=$(redis-cli -p "$S1" SENTINEL replicas mymaster 2>/dev/null | grep -c '^name$' || true)
    [ "$n" -ge 2 ] && [ "$r" -ge 1 ] && break
    sleep 0.1
done

IDP_REDIRECT_URIS="http://127.0.0.1:$FRONT/oauth2/callback" \
    node "$ROOT/tests/idp/server.mjs" "$IDP" >"$WORK/idp.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$IDP/.well-known/openid-configuration" 200 20 || die "the test IdP did not start"
SECRET=$(head -c 32 /dev/urandom | base64 | tr -- '+/' '-_')
for p in "$P1" "$P2" "$P3"; do
    "$AUTHPROXY" \
        --http-address="127.0.0.1:$p" \
        --provider=oidc --oidc-issuer-url="http://127.0.0.1:$IDP" \
        --client-id=authproxy --client-secret=authproxy-secret \
        --cookie-secret="$SECRET" --cookie-secure=false \
        --redirect-url="http://127.0.0.1:$FRONT/oauth2/callback" \
        --upstream="http://127.0.0.1:$UP" --email-domain='*' --pass-user-headers \
        --reverse-proxy --request-logging=false \
        --session-store-type=redis --redis-use-sentinel \
        --redis-sentinel-master-name=mymaster \
        --redis-sentinel-connection-urls="redis://127.0.0.1:$S1,redis://127.0.0.1:$S2,redis://127.0.0.1:$S3" \
        >"$WORK/authproxy-$p.log" 2>&1 &
    PIDS+=($!)
done
for p in "$P1" "$P2" "$P3"; do
    wait_http "http://127.0.0.1:$p/ready" 200 30 || { tail -n 30 "$WORK/authproxy-$p.log" >&2; die "replica $p not ready"; }
done
wait_http "http://127.0.0.1:$FRONT/ping" 200 10 || die "the front nginx did not start"

step "$USERS users sign in, $REQUESTS requests, the master is killed half-way"
OUT=$(timeout 900 node "$ROOT/bench/redis-failover.mjs" "http://127.0.0.1:$FRONT" "$USERS" "$REQUESTS" "$MASTER_PID" "$S1") \
    || { tail -n 20 "$WORK"/authproxy-*.log >&2; die "the load run failed"; }
NEW_MASTER=$(redis-cli -p "$S1" SENTINEL get-master-addr-by-name mymaster | tail -1)
field() { node -e "const o = JSON.parse(process.argv[1]); console.log(JSON.stringify(o[process.argv[2]]))" "$OUT" "$1"; }
CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
REPORT=$(cat <<EOF
# Redis Sentinel failover under load: results

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($CPU), loopback only, \`bash bench/redis_failover.sh\`.
Three authproxy replicas (release build, Redis session store through Sentinel) behind nginx round
robin; Sentinel set: 1 master, 1 replica, 3 sentinels (down-after 1 s). $(field users) users sign in
through nginx (16 at a time), then $(field requests) requests (32 in flight) rotate over their
cookies; the master gets SIGKILL after half of them. The upstream echoes \`X-Forwarded-Email\`.
After the promotion and 6 s more (past the replicas' 5 s session cache) every user is checked once
more, through Redis on the new master.

| figure | value |
|---|---:|
| sign-in of every user | $(field signInSeconds) s |
| requests answered 200 with the right identity | $(field ok) |
| requests answered with another user's identity | **$(field wrongIdentity)** (target 0) |
| failed requests by status | $(field errors) |
| error window (first to last failure) | $(field errorWindowSeconds) s |
| last failure after the kill | $(field recoveredSecondsAfterKill) s |
| replica promoted (Sentinel names the new master) after the kill | $(field promotedSecondsAfterKill) s |
| sessions lost (a user's cookie no longer signed in afterwards) | **$(field sessionsLost)** (target 0) |
| new master (port) | $NEW_MASTER (replica was $REPLICA) |
EOF
)
printf '%s\n' "$REPORT" >"$RESULTS"
printf '\n%s\n\nwritten to %s\n' "$REPORT" "${RESULTS#"$ROOT"/}"
