#!/usr/bin/env bash
# Coverage-guided fuzzing of the tests/fuzz targets with libFuzzer (bolero's libfuzzer engine),
# on the stable toolchain: sanitizer-coverage instrumentation is a stable codegen option, so no
# nightly is needed (no ASan: the code under test is safe Rust).
#
#   bash scripts/fuzz-long.sh [SECONDS_PER_TARGET] [TARGET...]
#   bash scripts/fuzz-long.sh minimize [TARGET...]   # shrink each corpus to a covering subset
#
# Default: 120 s for every target. New corpus entries land in tests/fuzz/__fuzz__/<target>/corpus
# (review, minimise and commit the useful ones); crashes in .../crashes, which `cargo test`
# then replays every run. Exits non-zero when a target crashed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECS=${1:-120}
shift || true
MINIMIZE=0
if [ "$SECS" = minimize ]; then
    MINIMIZE=1
fi
# test function (module::name) and its bolero target name (the corpus directory)
ALL=(
    redirect::redirect:redirect redirect::whitelist_entries:whitelist skip::skip_routes:skip
    forwarded::forwarded_headers:forwarded session::session_payload:session_payload
    session::session_oauth2_proxy:session_oauth2_proxy session::session_round_trip:session_round_trip
    cookies::cookie_header:cookie_header cookies::cookie_chunks:cookie_chunks
    state::state_text:state_text state::csrf_cookie:csrf_cookie state::sealed_state:sealed_state
    jwt::jwt_text:jwt_text jwt::jwks_documents:jwks_documents jwt::jwt_tokens:jwt_tokens
    bearer::bearer_tokens:bearer_tokens bearer::bearer_text:bearer_text
    ext_authz::ext_authz_bytes:ext_authz_bytes ext_authz::ext_authz_check:ext_authz_check
    duration::duration_text:duration duration::duration_round_trip:duration_round_trip
    config::config_sources:config config::alpha_config:alpha
)
WANT=("$@")

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz-libfuzzer"
export RUSTFLAGS="--cfg fuzzing --cfg fuzzing_libfuzzer -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-sanitizer-coverage-stack-depth"
export BOLERO_FUZZER=libfuzzer
# An explicit --target keeps RUSTFLAGS (the coverage instrumentation) off build scripts and
# proc macros, which would not link without libFuzzer. The authproxy binary (which integration
# tests always build) cannot link either, so the build keeps going past it: only the fuzz test
# executable is needed.
HOST=$(rustc -vV | sed -n 's/^host: //p')
EXE=$( (cargo build --profile fuzz --target "$HOST" --test fuzz --keep-going --message-format=json \
    2>/dev/null || true) | python3 -c 'import json,sys
for l in sys.stdin:
    try:
        m = json.loads(l)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "fuzz" and m.get("executable"):
        print(m["executable"])')
[ -x "$EXE" ] || { echo "scripts/fuzz-long.sh: build failed" >&2; exit 1; }

STATUS=0
for entry in "${ALL[@]}"; do
    test=${entry%:*}
    name=${entry##*:}
    if [ "${#WANT[@]}" -gt 0 ] && [[ ! " ${WANT[*]} " =~ " ${name} " ]]; then
        continue
    fi
    dir="tests/fuzz/__fuzz__/$name"
    mkdir -p "$dir/corpus" "$dir/crashes"
    if [ "$MINIMIZE" -eq 1 ]; then
        # libFuzzer's merge keeps the inputs that add coverage; crashes stay as they are.
        min="$dir/corpus.min"
        rm -rf "$min" && mkdir -p "$min"
        BOLERO_LIBTEST_HARNESS=1 BOLERO_TEST_NAME="$test" \
            BOLERO_LIBFUZZER_ARGS="-merge=1 $min $dir/corpus" \
            "$EXE" "$test" --exact --nocapture --quiet --test-threads 1 >/dev/null 2>&1 || true
        before=$(find "$dir/corpus" -type f | wc -l)
        after=$(find "$min" -type f | wc -l)
        if [ "$after" -gt 0 ]; then
            rm -rf "$dir/corpus" && mv "$min" "$dir/corpus"
        else
            rm -rf "$min"
        fi
        echo "==> $name: corpus $before -> $after inputs"
        continue
    fi
    echo "==> $name ($test) for ${SECS}s"
    if ! BOLERO_LIBTEST_HARNESS=1 BOLERO_TEST_NAME="$test" \
        BOLERO_LIBFUZZER_ARGS="$dir/corpus -artifact_prefix=$dir/crashes/ -timeout=10 -max_total_time=$SECS -rss_limit_mb=4096 -print_final_stats=1" \
        "$EXE" "$test" --exact --nocapture --quiet --test-threads 1 2>&1 | tail -n 25; then
        echo "scripts/fuzz-long.sh: $name crashed (input in $dir/crashes)"
        STATUS=1
    fi
done
exit "$STATUS"
