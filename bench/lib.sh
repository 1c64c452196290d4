# Shared by the bench/ scripts (sourced after ROOT is set): the BENCH_* knobs, messages,
# installs, free ports, process cleanup, waiting for HTTP, nginx configs and wrk runs. Keeps its
# temporary files in $WORK (removed on exit).

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export DEBIAN_FRONTEND=noninteractive

die() {
    printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
    exit 1
}
step() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        die "need root (or passwordless sudo) to run: $*"
    fi
}

# ensure_apt CMD:PACKAGE ... — installs PACKAGE from Debian when CMD is missing.
ensure_apt() {
    local pair missing=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair#*:}")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    step "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq </dev/null || die "apt-get update failed"
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null \
        || die "apt-get install ${missing[*]} failed"
}

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Processes started here, stopped on exit (by pid only).
PIDS=()
WORK=$(mktemp -d /tmp/authproxy-bench.XXXXXX)
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${BENCH_KEEP:-}" ]; then
        printf 'kept the logs and samples in %s (BENCH_KEEP)\n' "$WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

wait_http() { # wait_http URL EXPECTED_STATUS SECONDS
    local i code
    for ((i = 0; i < $3 * 10; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)
        [ "$code" = "$2" ] && return 0
        sleep 0.1
    done
    printf '%s: %s did not answer %s within %s s (last: %s)\n' "$(basename "$0")" "$1" "$2" "$3" "$code" >&2
    return 1
}

nginx_conf() { # nginx_conf NAME SERVER_BLOCK [WORKER_PROCESSES (auto)]
    local dir="$WORK/$1"
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes ${3:-auto};
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    $2
}
EOF
    echo "$dir/nginx.conf"
}

start_nginx() { # start_nginx CONF
    "$NGINX" -p "$(dirname "$1")" -c "$1" >"$(dirname "$1")/stdout.log" 2>&1 &
    PIDS+=($!)
}

# wrk_run NAME URL [HEADER] -> "req_per_s p99_ms p50_ms"
wrk_run() {
    local args=(-t"$THREADS" -c"$CONNECTIONS" --latency --timeout 5s)
    [ -n "${3:-}" ] && args+=(-H "$3")
    timeout 120 wrk "${args[@]}" -d"$WARMUP" "$2" >/dev/null || die "wrk warm-up against $1 failed"
    timeout 120 wrk "${args[@]}" -d"$DURATION" "$2" >"$WORK/wrk-$1.txt" || die "wrk against $1 failed"
    cat "$WORK/wrk-$1.txt" >&2
    if grep -q 'Non-2xx or 3xx responses' "$WORK/wrk-$1.txt"; then
        die "$1 answered non-2xx responses during the run: the numbers would be meaningless"
    fi
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { printf "%.0f %.3f %.3f\n", rps, p99, p50 }
    ' "$WORK/wrk-$1.txt"
}


# --- shared by bench/run.sh and bench/flame.sh -------------------------------------------------

# ensure_idp_packages: the test IdP's npm packages (tests/idp), installed when missing.
ensure_idp_packages() {
    [ -d "$ROOT/tests/idp/node_modules/oidc-provider" ] && return 0
    step "npm ci in tests/idp"
    (cd "$ROOT/tests/idp" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed"
}

# start_upstream_and_idp UP_PORT IDP_PORT PROXY_ORIGIN: nginx answering 200 on UP_PORT (the app)
# and the test IdP on IDP_PORT, which accepts PROXY_ORIGIN/oauth2/callback; waits for both.
start_upstream_and_idp() {
    start_nginx "$(nginx_conf upstream "server {
        listen 127.0.0.1:$1;
        keepalive_requests 100000;
        location / { default_type text/plain; return 200 'hello from the upstream\n'; }
    }")"
    IDP_REDIRECT_URIS="$3/oauth2/callback" node "$ROOT/tests/idp/server.mjs" "$2" >"$WORK/idp.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$1/" 200 10 || die "the upstream nginx did not start"
    wait_http "http://127.0.0.1:$2/.well-known/openid-configuration" 200 20 || die "the test IdP did not start"
}

# A 32-character secret, valid as a cookie secret for authproxy and oauth2-proxy alike (both
# take 16, 24 or 32 raw bytes).
secret32() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# rss_kib PID -> resident memory of one process in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# tokio_workers PID -> how many serving workers the process runs (authproxy names them
# `authproxy-worker-N`, which /proc shows cut to 15 characters; one per CPU of its
# affinity mask, see src/server/workers.rs).
tokio_workers() { grep -l '^authproxy-worke' /proc/"$1"/task/*/comm 2>/dev/null | wc -l; }

# cpu_ticks PID -> the CPU time (user + system, in clock ticks) the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# wrk_measure NAME URL CONNS [WRK OPTIONS...] [-- SCRIPT ARGS...] -> "req_per_s p50_ms p99_ms"
# (stdout). The load side runs under $LOAD_PIN (e.g. `taskset -c 1`) when set, with
# $WRK_THREADS threads. With $CPU_PID set, a fourth figure: the CPU time that process spent per
# request during the measured run, in microseconds. A run with a non-2xx answer, a socket error
# or no request at all is an error, not a figure.
wrk_measure() {
    local name=$1 url=$2 conns=$3
    shift 3
    local threads=${WRK_THREADS:-$THREADS}
    [ "$threads" -gt "$conns" ] && threads=$conns
    local args=(-t"$threads" -c"$conns" --latency --timeout 5s) tail=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then tail=("$@"); break; fi
        args+=("$1")
        shift
    done
    local pin=()
    [ -n "${LOAD_PIN:-}" ] && read -r -a pin <<<"$LOAD_PIN"
    if [ "${WARMUP%s}" != 0 ]; then
        timeout 120 "${pin[@]}" wrk "${args[@]}" -d"$WARMUP" "$url" "${tail[@]}" >/dev/null \
            || die "wrk warm-up against $name failed"
    fi
    local cpu0=0 cpu1=0
    [ -n "${CPU_PID:-}" ] && cpu0=$(cpu_ticks "$CPU_PID")
    timeout 120 "${pin[@]}" wrk "${args[@]}" -d"$DURATION" "$url" "${tail[@]}" >"$WORK/wrk-$name.txt" \
        || { cat "$WORK/wrk-$name.txt" >&2; die "wrk against $name failed"; }
    [ -n "${CPU_PID:-}" ] && cpu1=$(cpu_ticks "$CPU_PID")
    if grep -qE 'Non-2xx or 3xx responses|Socket errors' "$WORK/wrk-$name.txt"; then
        cat "$WORK/wrk-$name.txt" >&2
        die "$name: non-2xx answers or socket errors during the run: the numbers would be meaningless"
    fi
    awk -v cpu="${CPU_PID:+$((cpu1 - cpu0))}" -v hz="$(getconf CLK_TCK)" '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        / requests in / { n = $1 }
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END {
            if (n > 0 && cpu != "") printf "%.0f %.3f %.3f %.2f\n", rps, p50, p99, cpu * 1e6 / hz / n
            else if (n > 0) printf "%.0f %.3f %.3f\n", rps, p50, p99
        }
    ' "$WORK/wrk-$name.txt"
}

# record CASE SYSTEM ROUND METRIC VALUE: one sample for bench/report.py; a missing or
# non-numeric value stops the run.
record() {
    [[ "$5" =~ ^-?[0-9]+([.][0-9]+)?$ ]] || die "$1/$2 round $3: no figure for $4 (got '${5}')"
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$SAMPLES"
}
