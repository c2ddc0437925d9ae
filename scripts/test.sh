#!/usr/bin/env bash
# Runs Intercept's whole test suite on a fresh machine: installs and starts what the tests
# need, builds the workspace once, and runs every test (unit, doc and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is not installed; $2" >&2; exit 1; }
}
need cargo "install the Rust toolchain with rustup (https://rustup.rs)"

# One pass over a fresh tree gains nothing from incremental compilation, and its caches were
# most of the target directory (a CI machine ran out of disk with them on). Set
# CARGO_INCREMENTAL=1 to keep them when re-running the suite while editing.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# Redis for the rate-limit store tests; they start their own servers on free ports.
if ! command -v redis-server >/dev/null; then apt-get update -qq && apt-get install -y -qq redis-server; fi
# A real browser for the start-api CORS test (tests/cors_browser.rs): Debian's headless-capable Chromium.
if ! command -v chromium >/dev/null; then apt-get update -qq && apt-get install -y -qq chromium; fi

# Python's runtime client for the emulator's Python functions, in a venv under target/.
need python3 "install CPython 3 (Debian: apt-get install -y python3 python3-venv)"
venv=target/venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# cargo-zigbuild and zig build the layer's extension against glibc 2.26 (Amazon Linux 2), and
# cargo-lambda is what SAM CLI's rust-cargolambda build method runs: all from PyPI, on PATH.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check awslambdaric aws-sam-cli cargo-lambda ziglang \
    cargo-zigbuild "moto[server]" pyjwt jwcrypto cryptography jsonschema
export PATH="$PWD/$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
export INTERCEPT_SAM_PYTHON="$PWD/$venv/bin/python"

# Node's runtime client for the emulator's Node.js functions (it builds native code, once).
need npm "install Node.js 20 and npm (Debian: apt-get install -y nodejs npm)"
ric=target/node/node_modules/aws-lambda-ric
if [ ! -f "$ric/bin/index.mjs" ]; then
    if ! command -v cmake >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq cmake autoconf automake libtool libcurl4-openssl-dev
    fi
    npm install --prefix target/node --silent --no-audit --no-fund aws-lambda-ric@3
fi
export INTERCEPT_SAM_NODE_RIC="$PWD/$ric"
# esbuild for `BuildMethod: esbuild` (tests/sam_builds.rs puts target/node/node_modules/.bin on
# PATH, where SAM CLI and intercept-sam find it).
if [ ! -x target/node/node_modules/.bin/esbuild ]; then
    npm install --prefix target/node --silent --no-audit --no-fund esbuild
fi

# The gates: formatting, the lints the workspace declares (warnings denied) and rustdoc.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# Build once, so the end-to-end tests' builds inside the emulator find everything fresh.
cargo build --workspace --all-targets --locked
# The layer as Lambda gets it (cargo zigbuild, the layer profile): tests/layer.rs checks it.
cargo run --locked --quiet -p intercept-layer -- build

# Every fuzz target for a few seconds (the nightly toolchain; cargo-fuzz is installed when
# missing): a parser change that crashes on its seed corpus fails here, not in production.
./scripts/fuzz.sh 5
# On CI the fuzz build (instrumented copies of every dependency, about 4 GB) is not needed again:
# free the disk before the tests build their own.
if [ -n "${CI:-}" ]; then rm -rf fuzz/target; fi
cargo test --workspace --locked --no-fail-fast
