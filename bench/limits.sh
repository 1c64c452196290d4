#!/usr/bin/env bash
# Resource-limit figures (docs/limits.md "Figures"), all on 127.0.0.1, bounded in time (about
# two minutes):
#   1. 10,000 concurrent client connections held by one authproxy, and its resident memory;
#   2. a signed-in user's latency (p50/p99/max, a new connection per request) before and during
#      a slowloris attack of 1,000 connections trickling request heads.
# The identity-provider and app outage pages are end-to-end tests (tests/e2e_outages.rs,
# tests/e2e_proxy.rs), not figures.
#
# Environment: LIMITS_CONNECTIONS (10000), LIMITS_SLOWLORIS (1000), LIMITS_DURATION (15 s per
#              latency phase), CARGO_TARGET_DIR (target/). Writes bench/limits-results.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
CONNS=${LIMITS_CONNECTIONS:-10000}
SLOW=${LIMITS_SLOWLORIS:-1000}
DURATION=${LIMITS_DURATION:-15}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS="$ROOT/bench/limits-results.md"
export DEBIAN_FRONTEND=noninteractive

die() {
    printf 'bench/limits.sh: error: %s\n' "$*" >&2
    exit 1
}
step() { printf '==> %s\n' "$*" >&2; }

# Both this shell's clients and authproxy need a descriptor per connection (authproxy two: client
# and app). Raising the hard limit needs root; otherwise use what the hard limit allows.
WANT_FDS=$((CONNS * 2 + 4096))
ulimit -n "$WANT_FDS" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
[ "$NOFILE" -ge $((CONNS + 1024)) ] \
    || die "ulimit -n is $NOFILE: too small for $CONNS connections (run as root, or lower LIMITS_CONNECTIONS)"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PIDS=()
WORK=$(mktemp -d /tmp/authproxy-limits.XXXXXX)
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() { # wait_http URL EXPECTED_STATUS SECONDS
    local i code=""
    for ((i = 0; i < $3 * 10; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)
        [ "$code" = "$2" ] && return 0
        sleep 0.1
    done
    printf 'bench/limits.sh: %s did not answer %s within %s s (last: %s)\n' "$1" "$2" "$3" "$code" >&2
    return 1
}

# --- tools ---------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node (20+) is required for the test IdP"
command -v python3 >/dev/null 2>&1 || die "python3 is required for the load client"
command -v curl >/dev/null 2>&1 || die "curl is required"
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    step "installing nginx-light (the upstream app)"
    apt-get update -qq </dev/null && apt-get install -y -qq --no-install-recommends nginx-light </dev/null \
        || die "apt-get install nginx-light failed"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -d "$ROOT/tests/idp/node_modules/oidc-provider" ]; then
    step "npm ci in tests/idp"
    (cd "$ROOT/tests/idp" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed"
fi
step "cargo build --release --bin authproxy"
cargo build --release --bin authproxy </dev/null || die "release build failed"
AUTHPROXY="$TARGET_DIR/release/authproxy"

# --- the system under test -----------------------------------------------------------------
UP=$(free_port)
IDP=$(free_port)
PROXY=$(free_port)
METRICS=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$UP;
        location / { default_type text/plain; return 200 'hello from the upstream\n'; }
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout.log" 2>&1 &
PIDS+=($!)
IDP_REDIRECT_URIS="http://127.0.0.1:$PROXY/oauth2/callback" \
    node "$ROOT/tests/idp/server.mjs" "$IDP" >"$WORK/idp.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$UP/" 200 10 || die "the upstream nginx did not start"
wait_http "http://127.0.0.1:$IDP/.well-known/openid-configuration" 200 20 || die "the test IdP did not start"

# Default limits, except max_connections: room for the held connections plus the measuring
# clients. Request logging off: the figure is about connections, not the log.
"$AUTHPROXY" \
    --http-address="127.0.0.1:$PROXY" \
    --metrics-address="127.0.0.1:$METRICS" \
    --provider=oidc \
    --oidc-issuer-url="http://127.0.0.1:$IDP" \
    --client-id=authproxy \
    --client-secret=authproxy-secret \
    --cookie-secret="$(head -c 32 /dev/urandom | base64)" \
    --cookie-secure=false \
    --redirect-url="http://127.0.0.1:$PROXY/oauth2/callback" \
    --upstream="http://127.0.0.1:$UP" \
    --email-domain='*' \
    --request-logging=false \
    --max-connections=$((CONNS + 100)) \
    >"$WORK/authproxy.log" 2>&1 &
APID=$!
PIDS+=($APID)
wait_http "http://127.0.0.1:$PROXY/ready" 200 30 || { tail -n 30 "$WORK/authproxy.log" >&2; die "authproxy did not become ready"; }
COOKIE=$(timeout 30 node "$ROOT/bench/login.mjs" "http://127.0.0.1:$PROXY" limits) \
    || { tail -n 30 "$WORK/authproxy.log" >&2; die "could not sign in"; }

# --- measurements --------------------------------------------------------------------------
step "holding $CONNS connections"
HOLD=$(timeout 120 python3 "$ROOT/bench/limits.py" hold --port "$PROXY" --pid "$APID" \
    --count "$CONNS" --hold 5 --metrics "$METRICS") || die "the hold phase failed"
echo "$HOLD" >&2
sleep 2
step "slowloris: $SLOW connections, ${DURATION}s before and ${DURATION}s during"
SLOWLORIS=$(timeout $((DURATION * 2 + 90)) python3 "$ROOT/bench/limits.py" slowloris --port "$PROXY" \
    --cookie "$COOKIE" --count "$SLOW" --duration "$DURATION" --metrics "$METRICS") \
    || die "the slowloris phase failed"
echo "$SLOWLORIS" >&2
kill -0 "$APID" 2>/dev/null || die "authproxy died during the measurements"

field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=d
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1" "$2"; }
CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
cat >"$RESULTS" <<EOF
# Resource-limit figures

Written by \`bash bench/limits.sh\` on $(date -u +%Y-%m-%d), $(nproc) CPU ($CPU), loopback only,
release build, default limits (\`max_connections\` raised to $((CONNS + 100)) for the held
connections), request logging off, \`ulimit -n\` $NOFILE.

| Figure | Value |
|---|---|
| Connections held at once (one \`GET /ping\` answered on each, then kept open) | $(field "$HOLD" answered_200) of $(field "$HOLD" connections) ($(field "$HOLD" still_open_after_hold) still open after 5 s; \`authproxy_connections_open\` $(field "$HOLD" authproxy_connections_open)) |
| Resident memory (VmRSS) idle → with them | $(( $(field "$HOLD" rss_idle_kib) / 1024 )) MiB → $(( $(field "$HOLD" rss_with_connections_kib) / 1024 )) MiB ($(field "$HOLD" rss_per_connection_bytes) bytes per connection) |
| Slowloris connections trickling request heads | $(field "$SLOWLORIS" slowloris_connections) (\`authproxy_connections_open\` $(field "$SLOWLORIS" authproxy_connections_open_during_attack)) |
| Signed-in user before the attack: requests, failures, p50 / p99 / max | $(field "$SLOWLORIS" before.requests), $(field "$SLOWLORIS" before.failures), $(field "$SLOWLORIS" before.p50_ms) / $(field "$SLOWLORIS" before.p99_ms) / $(field "$SLOWLORIS" before.max_ms) ms |
| Signed-in user during the attack: requests, failures, p50 / p99 / max | $(field "$SLOWLORIS" during.requests), $(field "$SLOWLORIS" during.failures), $(field "$SLOWLORIS" during.p50_ms) / $(field "$SLOWLORIS" during.p99_ms) / $(field "$SLOWLORIS" during.max_ms) ms |

Each of the user's requests opens a new connection (so it also has to get through the accept
queue the attack is filling), sends its session cookie and is proxied to the app.
EOF
cat "$RESULTS"
