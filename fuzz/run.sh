#!/usr/bin/env bash
# `make fuzz`: runs each fuzz target for FUZZ_SECONDS (or FUZZ_RUNS executions),
# one after another, and prints libFuzzer's final stats. See fuzz/README.md.
#
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_RUNS       executions per target instead (e.g. 10000000); FUZZ_SECONDS
#                   is then ignored
#   FUZZ_TARGETS    which targets, in order (default "token config jwks introspection decision")
#   FUZZ_SANITIZER  address (default) or none: cargo fuzz --sanitizer
#
# Exits non-zero if any target found a crash, a timeout or an out-of-memory
# input; each is left in fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
runs_wanted="${FUZZ_RUNS:-}"
targets="${FUZZ_TARGETS:-token config jwks introspection decision}"
sanitizer="${FUZZ_SANITIZER:-address}"
if [ -n "$runs_wanted" ]; then
    if ! [[ "$runs_wanted" =~ ^[0-9]+$ ]]; then
        echo "fuzz: FUZZ_RUNS must be a number of executions, not '$runs_wanted'" >&2
        exit 2
    fi
    limit=(-runs="$runs_wanted")
    budget="$runs_wanted runs"
else
    limit=(-max_total_time="$seconds")
    budget="${seconds}s"
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
if ! command -v c++ >/dev/null 2>&1 && ! command -v clang++ >/dev/null 2>&1; then
    echo "fuzz: libfuzzer-sys compiles libFuzzer (C++): install a C++ compiler (apt-get install g++)" >&2
    exit 2
fi

# cargo fuzz passes -Z flags (-Zsanitizer=address) to rustc; the one toolchain here
# is stable, which accepts them only with RUSTC_BOOTSTRAP=1. Cargo caches the
# target-info probe, a failed one too (a run without RUSTC_BOOTSTRAP leaves one
# behind, and every later run fails on it): drop such a cache.
export RUSTC_BOOTSTRAP=1
info=fuzz/target/.rustc_info.json
if [ -f "$info" ] && grep -q '"success":false' "$info"; then
    rm -f "$info"
fi

build=(--sanitizer "$sanitizer")
echo "fuzz: building targets ($targets), sanitizer $sanitizer"
cargo fuzz build "${build[@]}"

mkdir -p fuzz/work
summary=()
failed=0
for target in $targets; do
    work="fuzz/work/$target"          # what this machine's runs learned (not committed)
    log="fuzz/work/$target.log"
    mkdir -p "$work"
    corpora=("$work" "fuzz/corpus/$target")
    regressions="fuzz/regressions/$target"
    if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
        corpora+=("$regressions")
    fi
    echo
    echo "fuzz: $target for $budget (corpus: ${corpora[*]}; log: $log)"
    status=0
    started=$(date +%s)
    cargo fuzz run "${build[@]}" "$target" "${corpora[@]}" -- \
        "${limit[@]}" \
        -timeout=10 \
        -dict="fuzz/dict/$target.dict" \
        -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    wall=$(($(date +%s) - started))
    # The last status line (DONE when the time ran out), then libFuzzer's stat:: lines.
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)
    echo "$last"
    grep -E '^stat::' "$log" || true
    runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    rate=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo "?")
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo "?")
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || echo "?")
    if [ "$status" -eq 0 ]; then
        result="ok"
    else
        failed=1
        artifact=$(grep -oE 'fuzz/artifacts/[^ ]+' "$log" | tail -n 1 || true)
        result="FAILED (exit $status) ${artifact:-see $log}"
        echo "fuzz: $target failed; the panic and stack are in $log"
        grep -m 1 -A 3 -E "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer" "$log" || true
        if [ -n "$artifact" ]; then
            echo "fuzz: minimise with: RUSTC_BOOTSTRAP=1 cargo fuzz tmin $target $artifact"
            echo "fuzz: then keep the minimal input in fuzz/regressions/$target/ (a cargo test replays it)"
        fi
    fi
    summary+=("$(printf '%-8s %10s runs %6ss %7s exec/s  cov %-6s ft %-6s corpus %-12s %s' \
        "$target" "$runs" "$wall" "$rate" "$cov" "$ft" "$corp" "$result")")
done

echo
echo "fuzz: summary ($budget per target, sanitizer $sanitizer)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
