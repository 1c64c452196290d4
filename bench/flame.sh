#!/usr/bin/env bash
# A flame graph of authproxy's hot path: the proxied-path load of bench/run.sh (an authenticated
# request with identity headers, request log on, wrk -c64 over keep-alive, nginx `return 200`
# upstream, all on 127.0.0.1), recorded with `perf record -g` (Debian linux-perf) and rendered
# as an SVG with inferno (`cargo install inferno` when missing: a tool, not a dependency).
#
# Environment: FLAME_SECONDS (15, recorded under load after a 2 s warm-up), FLAME_FREQ (499 Hz),
#   FLAME_CALL_GRAPH (dwarf: release code has no frame pointers; `fp` for smaller files),
#   FLAME_OUT (docs/flamegraph.svg), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
#   BENCH_AUTHPROXY_BIN (default: target/release/authproxy, built with
#   `cargo build --release`, which keeps the symbol table), BENCH_AUTHPROXY_ARGS,
#   FLAME_KEEP (a directory: perf.data and the folded stacks are copied there for perf report),
#   FLAME_PATH (/: the proxied path; /oauth2/auth profiles forward auth, with BENCH_CONNECTIONS=8).
# Needs root (or perf_event_paranoid <= 1) for perf.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
SECONDS_=${FLAME_SECONDS:-15}
FREQ=${FLAME_FREQ:-499}
CALL_GRAPH=${FLAME_CALL_GRAPH:-dwarf}
FLAME_OUT=${FLAME_OUT:-$ROOT/docs/flamegraph.svg}
FLAME_PATH=${FLAME_PATH:-/}
case $FLAME_PATH in
    /) WHAT="authenticated proxied path" ;;
    *) WHAT="$FLAME_PATH" ;;
esac

command -v node >/dev/null 2>&1 || die "node (20+) is required for the test IdP"
command -v curl >/dev/null 2>&1 || ensure_apt curl:curl
ensure_apt wrk:wrk nginx:nginx-light perf:linux-perf
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if ! command -v inferno-flamegraph >/dev/null 2>&1 || ! command -v inferno-collapse-perf >/dev/null 2>&1; then
    export PATH="$PATH:$HOME/.cargo/bin"
    if ! command -v inferno-flamegraph >/dev/null 2>&1; then
        step "cargo install inferno (the flame graph renderer)"
        cargo install --locked inferno </dev/null || die "cargo install inferno failed"
    fi
fi
ensure_idp_packages
AUTHPROXY=${BENCH_AUTHPROXY_BIN:-$TARGET_DIR/release/authproxy}
if [ -z "${BENCH_AUTHPROXY_BIN:-}" ]; then
    step "cargo build --release --bin authproxy"
    cargo build --release --bin authproxy </dev/null || die "cargo build --release failed"
fi
[ -x "$AUTHPROXY" ] || die "no authproxy binary at $AUTHPROXY"

UP=$(free_port) IDP=$(free_port) AP=$(free_port)
start_upstream_and_idp "$UP" "$IDP" "http://127.0.0.1:$AP"
extra=()
[ -n "${BENCH_AUTHPROXY_ARGS:-}" ] && read -r -a extra <<<"$BENCH_AUTHPROXY_ARGS"
"$AUTHPROXY" --http-address="127.0.0.1:$AP" --provider=oidc --oidc-issuer-url="http://127.0.0.1:$IDP" \
    --client-id=authproxy --client-secret=authproxy-secret --cookie-secret="$(secret32)" \
    --cookie-secure=false --redirect-url="http://127.0.0.1:$AP/oauth2/callback" \
    --upstream="http://127.0.0.1:$UP" --email-domain='*' --pass-user-headers --set-xauthrequest \
    --pass-access-token "${extra[@]}" >"$WORK/authproxy.log" 2>&1 &
APID=$!
PIDS+=("$APID")
wait_http "http://127.0.0.1:$AP/ready" 200 30 || { tail -n 30 "$WORK/authproxy.log" >&2; die "authproxy did not become ready"; }
COOKIE=$(timeout 30 node "$ROOT/bench/login.mjs" "http://127.0.0.1:$AP" flame) \
    || { tail -n 30 "$WORK/authproxy.log" >&2; die "could not sign in"; }

step "load: wrk -t$THREADS -c$CONNECTIONS for $((SECONDS_ + 4)) s; perf record -g --call-graph $CALL_GRAPH -F $FREQ for $SECONDS_ s"
timeout $((SECONDS_ + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"$((SECONDS_ + 4))s" --latency \
    -H "Cookie: $COOKIE" "http://127.0.0.1:$AP$FLAME_PATH" >"$WORK/wrk.txt" 2>&1 &
WRK=$!
PIDS+=("$WRK")
sleep 2
timeout $((SECONDS_ + 60)) perf record -F "$FREQ" -g --call-graph "$CALL_GRAPH" -p "$APID" \
    -o "$WORK/perf.data" -- sleep "$SECONDS_" >"$WORK/perf.log" 2>&1 \
    || { cat "$WORK/perf.log" >&2; die "perf record failed (root, or kernel.perf_event_paranoid <= 1, is needed)"; }
wait "$WRK" || die "wrk failed"
cat "$WORK/wrk.txt" >&2
grep -q 'Non-2xx or 3xx responses' "$WORK/wrk.txt" && die "authproxy answered non-2xx during the recording"
step "rendering $FLAME_OUT"
timeout 900 perf script -i "$WORK/perf.data" >"$WORK/perf.script" 2>"$WORK/perf-script.log" \
    || { tail -n 20 "$WORK/perf-script.log" >&2; die "perf script failed"; }
inferno-collapse-perf <"$WORK/perf.script" >"$WORK/stacks.folded" 2>"$WORK/collapse.log" \
    || { tail -n 5 "$WORK/collapse.log" >&2; die "inferno-collapse-perf failed"; }
[ -s "$WORK/stacks.folded" ] || die "no stack recorded"
inferno-flamegraph --title "authproxy, $WHAT (wrk -c$CONNECTIONS, $(nproc) CPUs)" \
    <"$WORK/stacks.folded" >"$FLAME_OUT" || die "inferno-flamegraph failed"
if [ -n "${FLAME_KEEP:-}" ]; then
    mkdir -p "$FLAME_KEEP" && cp "$WORK/perf.data" "$WORK/stacks.folded" "$WORK/wrk.txt" "$FLAME_KEEP/"
fi
printf 'written to %s (%s distinct stacks; perf: %s)\n' "${FLAME_OUT#"$ROOT"/}" \
    "$(wc -l <"$WORK/stacks.folded")" "$(grep -o '([0-9]* samples)' "$WORK/perf.log" || echo '?')"
