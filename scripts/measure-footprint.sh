#!/usr/bin/env bash
# Builds the release binary and measures its footprint: file size, and the resident memory
# (VmRSS from /proc) of an idle authproxy right after startup, with OIDC discovery done against
# the test IdP (tests/idp). Prints the figures; with --record, also writes them into the
# "Last recorded figures" section of docs/operations.md.
#
# Needs: cargo, node (tests/idp's packages installed: scripts/test.sh does it), Linux /proc.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RECORD=0
[ "${1:-}" = "--record" ] && RECORD=1

cargo build --release --bin authproxy </dev/null
BIN="$TARGET/release/authproxy"
# The size that ships: the container image strips the symbol table the release build keeps.
strip --strip-all -o "$TARGET/release/authproxy.stripped" "$BIN"
SIZE=$(stat -c %s "$TARGET/release/authproxy.stripped")
rm -f "$TARGET/release/authproxy.stripped"

# build.rs lays the binary out by link/symbol-order.txt (x86_64 Linux). Its names carry hashes
# of the toolchain and the dependency versions: after a change of either, few still match and
# the idle binary's resident code grows back from about 2 to 11 MiB.
ORDER=$ROOT/link/symbol-order.txt
if [ -f "$ORDER" ] && [ "$(uname -m)" = x86_64 ]; then
    WANT=$(grep -v '^#' "$ORDER" | sort -u | wc -l)
    HAVE=$(comm -12 <(grep -v '^#' "$ORDER" | sort -u) \
        <(nm --defined-only "$BIN" | awk '{ print $3 }' | sort -u) | wc -l)
    echo "footprint: link/symbol-order.txt: $HAVE of $WANT functions found in the binary"
    if [ $((HAVE * 2)) -lt "$WANT" ]; then
        echo "measure: link/symbol-order.txt is stale (toolchain or dependencies changed): run bash scripts/symbol-order.sh and commit it" >&2
        exit 1
    fi
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
IDP_PORT=$(free_port)
PROXY_PORT=$(free_port)
WORK=$(mktemp -d)
IDP_PID=""
PROXY_PID=""
stop() {
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null || true
    [ -n "$IDP_PID" ] && kill "$IDP_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap stop EXIT

(cd tests/idp && IDP_REDIRECT_URIS="http://127.0.0.1:$PROXY_PORT/oauth2/callback" \
    exec node server.mjs "$IDP_PORT" >"$WORK/idp.log" 2>&1) &
IDP_PID=$!
for _ in $(seq 1 900); do
    grep -q '^READY ' "$WORK/idp.log" 2>/dev/null && break
    sleep 0.1
done
grep -q '^READY ' "$WORK/idp.log" || { cat "$WORK/idp.log"; echo "measure: the test IdP did not start" >&2; exit 1; }

env -u RUST_LOG "$BIN" --http-address="127.0.0.1:$PROXY_PORT" --provider=oidc \
    --oidc-issuer-url="http://127.0.0.1:$IDP_PORT" --client-id=authproxy --client-secret=authproxy-secret \
    --cookie-secret='q2n4Lw6h0Ue7kGf1yS3ZpV9tXcB8rJmA5dHoQiKzW0E=' --cookie-secure=false \
    --upstream=http://127.0.0.1:9 --email-domain='*' >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
READY=0
for _ in $(seq 1 900); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PROXY_PORT/ready" 2>/dev/null || true)" = 200 ]; then
        READY=1
        break
    fi
    sleep 0.1
done
[ "$READY" = 1 ] || { cat "$WORK/proxy.log"; echo "measure: authproxy did not become ready" >&2; exit 1; }
# Let startup allocations settle, then read the idle resident set.
sleep 1
RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PROXY_PID/status")
HWM_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PROXY_PID/status")

SIZE_MIB=$(awk -v b="$SIZE" 'BEGIN { printf "%.1f", b / 1048576 }')
RSS_MIB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
HWM_MIB=$(awk -v k="$HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }')
DATE=$(date -u +%Y-%m-%d)
ARCH=$(uname -m)
echo "footprint: release binary $SIZE_MIB MiB ($SIZE bytes); idle RSS $RSS_MIB MiB (peak $HWM_MIB MiB) after startup and OIDC discovery [$ARCH, $DATE]"

if [ "$RECORD" = 1 ]; then
    python3 - "$ROOT/docs/operations.md" "$SIZE_MIB" "$SIZE" "$RSS_MIB" "$HWM_MIB" "$ARCH" "$DATE" <<'EOF'
import re, sys
path, size_mib, size, rss, hwm, arch, date = sys.argv[1:]
text = open(path).read()
table = (
    "<!-- figures:begin (written by scripts/measure-footprint.sh --record) -->\n"
    "| Measure | Value |\n|---|---|\n"
    f"| Release binary (`target/release/authproxy`, thin LTO, stripped as in the image) | {size_mib} MiB ({size} bytes) |\n"
    f"| Idle resident memory (VmRSS) after startup and OIDC discovery | {rss} MiB |\n"
    f"| Peak resident memory during startup (VmHWM) | {hwm} MiB |\n"
    f"| Machine, date | {arch}, {date} |\n"
    "<!-- figures:end -->"
)
new, n = re.subn(r"<!-- figures:begin.*?<!-- figures:end -->", table, text, flags=re.S)
if n != 1:
    sys.exit("docs/operations.md has no figures block")
open(path, "w").write(new)
EOF
    echo "footprint: recorded in docs/operations.md"
fi
