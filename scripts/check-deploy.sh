#!/usr/bin/env bash
# Offline validation of everything under deploy/:
#   1. Kustomize base + overlays and the Helm chart (rendered with defaults and with every option on),
#      validated against the Kubernetes JSON schemas (kubernetes-validate, strict) and the Istio
#      schemas in deploy/schemas/, plus cross-checks (scripts/check_deploy.py);
#   2. every shipped authproxy.cfg (base file and the rendered ConfigMaps) with `authproxy --check`;
#   3. `authproxy inject` on the committed manifests: a no-op on them, and idempotent byte for byte.
# Usage: AUTHPROXY_BIN=/path/to/authproxy scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'kubernetes-validate>=1.31' jsonschema pyyaml
fi

bin=${AUTHPROXY_BIN:-target/debug/authproxy}
if [ ! -x "$bin" ]; then
    echo "check-deploy: AUTHPROXY_BIN=$bin is not an executable (build authproxy first)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

python3 scripts/check_deploy.py --cfg-dir "$tmp/cfg" || failed=1

# The Secret's values, as the pod gets them from the environment (dummy values: --check does not
# contact the provider).
export OAUTH2_PROXY_CLIENT_ID=check-deploy
export OAUTH2_PROXY_CLIENT_SECRET=check-deploy-secret
export OAUTH2_PROXY_COOKIE_SECRET=0123456789abcdef0123456789abcdef
for cfg in deploy/kubernetes/base/authproxy.cfg "$tmp"/cfg/*.cfg; do
    if "$bin" --config "$cfg" --check >"$tmp/check.out" 2>&1; then
        echo "check-deploy: $cfg: authproxy --check OK"
    else
        echo "check-deploy: FAIL $cfg: authproxy --check:" >&2
        cat "$tmp/check.out" >&2
        failed=1
    fi
done

for f in deploy/kubernetes/base/app1.yaml deploy/kubernetes/overlays/example/app2.yaml; do
    if ! "$bin" inject "$f" >"$tmp/once.yaml" 2>"$tmp/inject.err"; then
        echo "check-deploy: FAIL authproxy inject $f:" >&2
        cat "$tmp/inject.err" >&2
        failed=1
        continue
    fi
    if ! "$bin" inject "$tmp/once.yaml" 2>/dev/null | cmp -s - "$tmp/once.yaml"; then
        echo "check-deploy: FAIL authproxy inject is not idempotent on $f" >&2
        failed=1
    fi
    if ! python3 - "$f" "$tmp/once.yaml" <<'PY'
import sys, yaml
a, b = (list(yaml.safe_load_all(open(p))) for p in sys.argv[1:])
sys.exit(0 if a == b else 1)
PY
    then
        echo "check-deploy: FAIL $f differs from what authproxy inject makes of it (re-run inject on it)" >&2
        failed=1
    else
        echo "check-deploy: $f: authproxy inject is a no-op"
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "check-deploy: FAILED" >&2
    exit 1
fi
echo "check-deploy: all deploy checks passed"
