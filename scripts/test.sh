#!/usr/bin/env bash
# Runs Intercept's whole test suite on a fresh machine: installs and starts what the tests
# need, builds the workspace once, and runs every test (unit, doc and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is not installed; $2" >&2; exit 1; }
}
need cargo "install the Rust toolchain with rustup (https://rustup.rs)"

# Redis for the rate-limit store tests; they start their own servers on free ports.
if ! command -v redis-server >/dev/null; then apt-get update -qq && apt-get install -y -qq redis-server; fi

# Python's runtime client for the emulator's Python functions, in a venv under target/.
need python3 "install CPython 3 (Debian: apt-get install -y python3 python3-venv)"
venv=target/venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check awslambdaric
export INTERCEPT_SAM_PYTHON="$PWD/$venv/bin/python"

# Build once, so the end-to-end tests' builds inside the emulator find everything fresh.
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast
