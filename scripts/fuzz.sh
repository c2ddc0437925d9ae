#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 600), one after the other, and
# fails if any of them finds a crash. Prints one line per target with its result.
#
#   scripts/fuzz.sh [SECONDS]
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz when it
# is missing. Builds land in fuzz/target; crashes in fuzz/artifacts/TARGET/ (both git-ignored).
# What a run learns is added to fuzz/corpus/TARGET/ beside the committed seed-* inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS]" >&2
    exit 2
    ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd fuzz
cargo +nightly fuzz build
failed=0
logs="target/fuzz-logs"
mkdir -p "$logs"
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    log="$logs/$target.log"
    started=$(date +%s)
    if cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" >"$log" 2>&1; then
        runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
        echo "fuzz $target: ok, $runs runs in $(($(date +%s) - started)) s"
    else
        failed=1
        artifact=$(grep -o 'artifacts/[^ ]*' "$log" | tail -1 || true)
        echo "fuzz $target: FAILED after $(($(date +%s) - started)) s${artifact:+, input in fuzz/$artifact}; log in fuzz/$log"
        grep -m1 -E 'panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer' "$log" | sed 's/^/    /' || true
    fi
done
exit "$failed"
