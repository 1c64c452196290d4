#!/usr/bin/env bash
# Regenerates link/symbol-order.txt: the functions the release binary runs, hottest first, which
# build.rs hands to the linker so that they sit together in the binary (build.rs says why).
#
# It runs the release build under valgrind's callgrind (which counts what every function
# executes) through what a sidecar does: startup with OIDC discovery against the test IdP
# (tests/idp), the sign-in page, a real sign-in, proxied requests, /oauth2/auth and ext_authz
# checks, /oauth2/userinfo, keep-alive connections left idle long enough to be parked, the
# metrics listener, sign-out and shutdown. Then it keeps the names found in the binary's
# symbol table, ordered by the instructions each executed.
#
# SYMBOL_ORDER_OUT writes the list elsewhere (to compare it with the committed one).
# Run it after a dependency or toolchain change (scripts/measure-footprint.sh reports how much
# of the file the build still matches) and commit the file; a full release build follows.
# Needs: cargo, node (tests/idp's packages), valgrind, nginx, wrk, binutils (nm) — installed
# from Debian when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
OUT=${SYMBOL_ORDER_OUT:-$ROOT/link/symbol-order.txt}

command -v node >/dev/null 2>&1 || die "node (20+) is required for the test IdP"
ensure_apt valgrind:valgrind nginx:nginx-light wrk:wrk nm:binutils curl:curl
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
ensure_idp_packages
step "cargo build --release --bin authproxy"
cargo build --release --bin authproxy </dev/null || die "cargo build --release failed"
BIN=$TARGET_DIR/release/authproxy
nm --defined-only "$BIN" >/dev/null 2>&1 && [ -n "$(nm --defined-only "$BIN" | head -n 1)" ] \
    || die "$BIN has no symbol table (Cargo.toml's release profile must keep it: strip = \"debuginfo\")"

UP=$(free_port) IDP=$(free_port) AP=$(free_port) MET=$(free_port)
start_upstream_and_idp "$UP" "$IDP" "http://127.0.0.1:$AP"

step "authproxy under callgrind"
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/callgrind.out" \
    "$BIN" --http-address="127.0.0.1:$AP" --metrics-address="127.0.0.1:$MET" --provider=oidc \
    --oidc-issuer-url="http://127.0.0.1:$IDP" --client-id=authproxy --client-secret=authproxy-secret \
    --cookie-secret="$(secret32)" --cookie-secure=false \
    --redirect-url="http://127.0.0.1:$AP/oauth2/callback" --upstream="http://127.0.0.1:$UP" \
    --email-domain='*' --pass-user-headers --set-xauthrequest --pass-access-token \
    >"$WORK/authproxy.log" 2>&1 &
APID=$!
PIDS+=("$APID")
wait_http "http://127.0.0.1:$AP/ready" 200 120 || { tail -n 30 "$WORK/authproxy.log" >&2; die "authproxy did not become ready"; }
get() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$@"; }
for path in /ping /ready /oauth2/sign_in "/oauth2/start?rd=/x" / /oauth2/auth; do
    get "http://127.0.0.1:$AP$path" >/dev/null
done
COOKIE=$(timeout 120 node "$ROOT/bench/login.mjs" "http://127.0.0.1:$AP" order) \
    || { tail -n 30 "$WORK/authproxy.log" >&2; die "could not sign in"; }
[ "$(get -H "Cookie: $COOKIE" "http://127.0.0.1:$AP/")" = 200 ] || die "the signed-in request was not answered 200"
for path in / /oauth2/auth /oauth2/userinfo "/oauth2/ext_authz/app/page?q=1"; do
    get -H "Cookie: $COOKIE" "http://127.0.0.1:$AP$path" >/dev/null
done
for path in / /oauth2/auth; do
    timeout 60 wrk -t1 -c8 -d3s -H "Cookie: $COOKIE" "http://127.0.0.1:$AP$path" >/dev/null
done
# A keep-alive connection idle past the parking delay (1 s), then used again.
python3 - "$AP" "$COOKIE" <<'PY' || die "the parked connection was not served"
import http.client, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for _ in range(2):
    conn.request("GET", "/", headers={"Cookie": sys.argv[2]})
    assert conn.getresponse().read() is not None
    time.sleep(3)
PY
get "http://127.0.0.1:$MET/metrics" >/dev/null
get -H "Cookie: $COOKIE" "http://127.0.0.1:$AP/oauth2/sign_out" >/dev/null
kill -TERM "$APID"
wait "$APID" 2>/dev/null || true
[ -s "$WORK/callgrind.out" ] || die "callgrind wrote no profile"

step "writing ${OUT#"$ROOT"/}"
mkdir -p "$(dirname "$OUT")"
nm --defined-only "$BIN" | awk '$2 ~ /^[tTwW]$/ { print $3 }' >"$WORK/text-symbols"
python3 - "$WORK/callgrind.out" "$WORK/text-symbols" "$OUT" "$(rustc --version)" <<'EOF'
import re, sys
profile, symbols, out, rustc = sys.argv[1:]
in_text = set(open(symbols).read().split())
names, cost, current, call_cost = {}, {}, None, False
for line in open(profile):
    line = line.rstrip("\n")
    m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?$", line)
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3)
        if not m.group(1):
            current = names.get(m.group(2))
        continue
    if line.startswith("calls="):
        call_cost = True  # the next cost line is the callee's inclusive cost
        continue
    if line[:1].isdigit() or line[:1] in "+-*":
        parts = line.split()
        if not call_cost and current and len(parts) >= 2 and parts[1].isdigit():
            cost[current] = cost.get(current, 0) + int(parts[1])
        call_cost = False
ran = [n for n in set(names.values()) if n in in_text]
ran.sort(key=lambda n: (-cost.get(n, 0), n))
with open(out, "w") as f:
    f.write("# Functions authproxy runs, hottest first: build.rs passes this file to the linker\n")
    f.write("# (--symbol-ordering-file). Written by scripts/symbol-order.sh; do not edit.\n")
    f.write(f"# {rustc}; {len(ran)} functions.\n")
    for n in ran:
        f.write(n + "\n")
print(f"{len(ran)} functions")
EOF
printf 'written to %s; rebuild (cargo build --release) to lay the binary out by it\n' "${OUT#"$ROOT"/}"
