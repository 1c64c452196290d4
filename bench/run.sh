#!/usr/bin/env bash
# Benchmark: authenticated proxied throughput of authproxy against a bare nginx reverse proxy,
# both in front of the same small upstream, all on 127.0.0.1. See bench/README.md.
#
# Environment: BENCH_DURATION (10s), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
#              BENCH_WARMUP (2s), BENCH_ROUNDS (3), CARGO_TARGET_DIR (target/),
#              BENCH_AUTHPROXY_ARGS (extra authproxy flags, e.g. --request-logging=false).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
RESULTS="$ROOT/bench/results.md"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

# --- tools ---------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node (20+) is required for the test IdP"
command -v curl >/dev/null 2>&1 || ensure_apt curl:curl
ensure_apt wrk:wrk nginx:nginx-light
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found after install"
if [ ! -d "$ROOT/tests/idp/node_modules/oidc-provider" ]; then
    step "npm ci in tests/idp"
    (cd "$ROOT/tests/idp" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed"
fi
step "cargo build --release --bin authproxy --example bare_proxy"
cargo build --release --bin authproxy --example bare_proxy </dev/null || die "release build failed"
AUTHPROXY="$TARGET_DIR/release/authproxy"
[ -x "$AUTHPROXY" ] || die "no release binary at $AUTHPROXY"

# --- the system under test -----------------------------------------------------------------
UP=$(free_port)
BASE=$(free_port)
PROXY=$(free_port)
PROXY2=$(free_port)
BARE=$(free_port)
IDP=$(free_port)

start_nginx "$(nginx_conf upstream "server {
        listen 127.0.0.1:$UP;
        keepalive_requests 100000;
        location / { default_type text/plain; return 200 'hello from the upstream\n'; }
    }")"
start_nginx "$(nginx_conf baseline "upstream app { server 127.0.0.1:$UP; keepalive 128; }
    server {
        listen 127.0.0.1:$BASE;
        keepalive_requests 100000;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }")"

IDP_REDIRECT_URIS="http://127.0.0.1:$PROXY/oauth2/callback" \
    node "$ROOT/tests/idp/server.mjs" "$IDP" >"$WORK/idp.log" 2>&1 &
PIDS+=($!)

SECRET=$(head -c 32 /dev/urandom | base64)
# start_authproxy PORT LOG [EXTRA FLAGS...]: both instances share the cookie secret, so the one
# session cookie from the login below is valid on each.
start_authproxy() {
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
        --redirect-url="http://127.0.0.1:$PROXY/oauth2/callback" \
        --upstream="http://127.0.0.1:$UP" \
        --email-domain='*' \
        --pass-user-headers \
        --set-xauthrequest \
        --pass-access-token \
        "$@" ${BENCH_AUTHPROXY_ARGS:-} \
        >"$log" 2>&1 &
    PIDS+=($!)
}
start_authproxy "$PROXY" "$WORK/authproxy.log"
start_authproxy "$PROXY2" "$WORK/authproxy-nolog.log" --request-logging=false
"$TARGET_DIR/release/examples/bare_proxy" "127.0.0.1:$BARE" "127.0.0.1:$UP" >"$WORK/bare.log" 2>&1 &
PIDS+=($!)

wait_http "http://127.0.0.1:$UP/" 200 10 || die "the upstream nginx did not start"
wait_http "http://127.0.0.1:$BASE/" 200 10 || die "the baseline nginx did not start"
wait_http "http://127.0.0.1:$IDP/.well-known/openid-configuration" 200 20 \
    || { cat "$WORK/idp.log" >&2; die "the test IdP did not start"; }
wait_http "http://127.0.0.1:$PROXY/ready" 200 30 \
    || { tail -n 50 "$WORK/authproxy.log" >&2; die "authproxy did not become ready"; }
wait_http "http://127.0.0.1:$PROXY2/ready" 200 30 \
    || { tail -n 50 "$WORK/authproxy-nolog.log" >&2; die "the second authproxy did not become ready"; }
wait_http "http://127.0.0.1:$BARE/" 200 10 || die "the bare hyper proxy did not start"

step "signing in through the IdP"
COOKIE=$(timeout 30 node "$ROOT/bench/login.mjs" "http://127.0.0.1:$PROXY" bench) \
    || { tail -n 50 "$WORK/authproxy.log" >&2; die "could not get a session cookie"; }

# --- measurements --------------------------------------------------------------------------
# Interleaved rounds, reporting the median of each figure: on a small shared machine single
# runs of the same target vary by more than the differences being measured.
TARGETS=(direct nginx hyper authproxy authproxy_nolog)
declare -A URL HDR LABEL RPS P99 P50
URL[direct]="http://127.0.0.1:$UP/";              LABEL[direct]="upstream direct (no proxy)"
URL[nginx]="http://127.0.0.1:$BASE/";             LABEL[nginx]="nginx reverse proxy (baseline 1)"
URL[hyper]="http://127.0.0.1:$BARE/";             LABEL[hyper]="bare hyper reverse proxy (baseline 2)"
URL[authproxy]="http://127.0.0.1:$PROXY/";        LABEL[authproxy]="authproxy, authenticated, request log on (default)"
URL[authproxy_nolog]="http://127.0.0.1:$PROXY2/"; LABEL[authproxy_nolog]="authproxy, authenticated, request log off"
HDR[authproxy]="Cookie: $COOKIE"
HDR[authproxy_nolog]="Cookie: $COOKIE"
for ((round = 1; round <= ROUNDS; round++)); do
    for t in "${TARGETS[@]}"; do
        step "round $round/$ROUNDS: ${LABEL[$t]}"
        R=$(wrk_run "$t" "${URL[$t]}" "${HDR[$t]:-}") || exit 1
        read -r a b c <<<"$R"; RPS[$t]+="$a "; P99[$t]+="$b "; P50[$t]+="$c "
    done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A M_RPS M_P99 M_P50
for t in "${TARGETS[@]}"; do
    M_RPS[$t]=$(median "${RPS[$t]}"); M_P99[$t]=$(median "${P99[$t]}"); M_P50[$t]=$(median "${P50[$t]}")
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
ok_ratio() { awk -v r="$1" 'BEGIN { print (r >= 0.80) ? "met" : "missed" }'; }
ok_added() { awk -v d="$1" 'BEGIN { print (d <= 1.0) ? "met" : "missed" }'; }

CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
ROWS=""
for t in "${TARGETS[@]}"; do
    ROWS+="| ${LABEL[$t]} | ${M_RPS[$t]} | ${M_P50[$t]} | ${M_P99[$t]} |"$'\n'
done
CMP=""
for a in authproxy authproxy_nolog; do
    for b in nginx hyper; do
        r=$(ratio "${M_RPS[$a]}" "${M_RPS[$b]}"); d=$(added "${M_P99[$a]}" "${M_P99[$b]}")
        CMP+="| ${LABEL[$a]} vs ${LABEL[$b]} | **$r** ($(ok_ratio "$r")) | **$d ms** ($(ok_added "$d")) |"$'\n'
    done
done
REPORT=$(cat <<EOF
# authproxy benchmark results

$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($CPU), loopback only.
\`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\` after a $WARMUP warm-up, median of $ROUNDS interleaved
rounds. Upstream: nginx \`return 200\` (small static body). Baselines: nginx reverse proxy with
upstream keep-alive and no access log; a bare hyper reverse proxy (\`examples/bare_proxy.rs\`, the
same tokio/hyper stack as authproxy with no authentication). authproxy: release build, OIDC session
cookie from a real login, identity headers on (pass_user_headers, set_xauthrequest,
pass_access_token). wrk, the upstream, the baselines and authproxy share the same CPUs.

| target | req/s | p50 (ms) | p99 (ms) |
|---|---:|---:|---:|
$ROWS
| comparison | throughput ratio (target ≥ 0.80) | p99 added (target ≤ 1 ms) |
|---|---:|---:|
$CMP
EOF
)
printf '%s\n' "$REPORT" >"$RESULTS"
# A bar chart of the medians (SVG, no dependencies).
MAX=$(for t in "${TARGETS[@]}"; do echo "${M_RPS[$t]}"; done | sort -g | tail -1)
{
    echo '<svg xmlns="http://www.w3.org/2000/svg" width="820" height="300" font-family="sans-serif" font-size="13">'
    echo '<rect width="820" height="300" fill="#ffffff"/>'
    echo "<text x=\"20\" y=\"24\" font-size=\"15\" font-weight=\"bold\">Requests per second (median of $ROUNDS rounds, wrk -c$CONNECTIONS, $(nproc) CPUs, loopback)</text>"
    y=40
    colors=("#9ca3af" "#10b981" "#0ea5e9" "#4f46e5" "#818cf8")
    i=0
    for t in "${TARGETS[@]}"; do
        w=$(awk -v v="${M_RPS[$t]}" -v m="$MAX" 'BEGIN { printf "%d", 380 * v / m }')
        echo "<text x=\"20\" y=\"$((y + 28))\">${LABEL[$t]}</text>"
        echo "<rect x=\"360\" y=\"$((y + 12))\" width=\"$w\" height=\"22\" fill=\"${colors[$i]}\"/>"
        echo "<text x=\"$((360 + w + 6))\" y=\"$((y + 28))\">${M_RPS[$t]}</text>"
        y=$((y + 48)); i=$((i + 1))
    done
    echo '</svg>'
} >"$ROOT/bench/results.svg"
printf '\n%s\n\nwritten to %s and bench/results.svg\n' "$REPORT" "${RESULTS#"$ROOT"/}"
