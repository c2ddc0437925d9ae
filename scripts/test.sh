#!/usr/bin/env bash
# Runs Intercept's whole test suite on a fresh machine: installs and starts what the tests
# need, builds the workspace once, and runs every test (unit, doc and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is not installed; $2" >&2; exit 1; }
}
need cargo "install the Rust toolchain with rustup (https://rustup.rs)"

# Build once, so the end-to-end tests' builds inside the emulator find everything fresh.
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast
