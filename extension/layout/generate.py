#!/usr/bin/env python3
"""Regenerates `startup.ld`, the layer extension's start-up layout (issue 24).

The kernel maps a binary's code around each page fault (64 KiB at a time), so an extension
whose start-up code is spread over the whole `.text` keeps most of it resident though it runs
a fraction of it. `startup.ld` gathers the functions that start-up runs at the front of the
code, so they share as few 64 KiB windows as they can; the layer build links with it (the
`startup-layout` feature, which `intercept-layer build` turns on).

This script builds the layer's extension as `intercept-layer build` does (`cargo zigbuild`, the
`layer` profile, the feature on) but with `INTERCEPT_LAYOUT_PROFILING` set, which links it
without the layout and with its symbols (`build.rs`): the same settings, so the same symbol
names. It starts it under valgrind's callgrind before a bare Extensions API (as the extension
bench does), without and then with an exec wrapper (the Runtime API proxy built), stops it once
it idles on `event/next`, and writes the functions each start ran: by their names first, then
by their names without the hashes that change with dependency versions (legacy `17h<hash>E`,
v0 crate disambiguators and back-references), which also take every other instance of a
generic function. After a dependency update only the second group still matches, and the file
goes stale only as the functions start-up runs change: rerun it then, check with `--check`, and
measure with `cargo bench -p intercept-extension --bench extension`.

Needs valgrind, cargo-zigbuild and zig (and perf for `--check`). Run from anywhere:
`python3 extension/layout/generate.py` (`--binary PATH` profiles a build made as above instead
of building one).
"""

import argparse
import glob
import http.server
import os
import re
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKSPACE = os.path.dirname(os.path.dirname(HERE))
TARGET = "x86_64-unknown-linux-gnu"


class ExtensionsApi:
    """Registers anyone, accepts Telemetry API subscriptions, holds `event/next` open."""

    def __init__(self):
        self.next_seen = threading.Event()
        seen = self.next_seen

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)

            def reply(self, body, headers=()):
                self.send_response(200)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.read_body()
                self.reply(b'{"functionName":"layout","functionVersion":"$LATEST","handler":"bootstrap"}',
                           [("lambda-extension-identifier", "layout-id"), ("content-type", "application/json")])

            def do_PUT(self):
                self.read_body()
                self.reply(b"OK")

            def do_GET(self):
                seen.set()
                time.sleep(3600)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(layout):
    """The layer's extension as `intercept-layer build` compiles it, with its symbols, linked
    with the layout (`with-layout`) or without (`without-layout`)."""
    env = dict(os.environ, CARGO_PROFILE_LAYER_STRIP="none", INTERCEPT_LAYOUT_PROFILING=layout)
    subprocess.run(["cargo", "zigbuild", "--target", TARGET + ".2.26", "--profile", "layer",
                    "--features", "intercept-extension/startup-layout",
                    "-p", "intercept-extension", "--bin", "intercept-extension"],
                   cwd=WORKSPACE, env=env, check=True)
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(WORKSPACE, "target"))
    return os.path.join(target_dir, TARGET, "layer", "intercept-extension")


def start_env(api, extra_env):
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "layout",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_REGION": "us-east-1",
        "INTERCEPT_OTLP_LISTEN": "127.0.0.1:%d" % free_port(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        **extra_env,
    }


def wait_idle(api, process):
    if not api.next_seen.wait(60):
        process.kill()
        sys.exit("the extension never asked for its next event")


def functions_run(binary, extra_env):
    """The symbols of `binary`'s own code that ran from exec until it idled on `event/next`."""
    api = ExtensionsApi()
    env = start_env(api, extra_env)
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "callgrind.out")
        process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", "--compress-strings=no", "--compress-pos=no",
             "--callgrind-out-file=" + out + ".%p", binary],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_idle(api, process)
            time.sleep(2)  # idle, as the bench reads it 300 ms after `next` (valgrind is slower)
            subprocess.run(["callgrind_control", "--dump", str(process.pid)], check=True, stderr=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL)
        finally:
            process.kill()
            process.wait()
            api.close()
        names = set()
        binary_name = os.path.basename(binary)
        for dump in glob.glob(out + ".*"):
            current_object = ""
            with open(dump, errors="replace") as lines:
                for line in lines:
                    if line.startswith("ob="):
                        current_object = line[3:].strip()
                    elif line.startswith("fn=") and os.path.basename(current_object) == binary_name:
                        names.add(re.sub(r"'\d+$", "", line[3:].strip()))  # callgrind's recursion mark
    return names


# Run at start on this machine, but not under valgrind, found with `--check`: its timing changes
# which of the HTTP client's paths a registration takes (a pooled connection or a new one, a
# connection the other end closed), and its CPU has no SHA extensions (SHA-256 for the Runtime
# API proxy's start). Prefixes of symbol names.
NOT_UNDER_VALGRIND = [
    "_ZN5hyper5error5Error3new17h",
    "_ZN5hyper5proto2h14conn5State5close17h",
    "_ZN4core3ptr40drop_in_place$LT$hyper..error..Error$GT$17h",
    "_ZN4core3ptr62drop_in_place$LT$hyper_util..client..legacy..client..Error$GT$17h",
    "_ZN5alloc5boxed7convert156_$LT$impl$u20$core..convert..From$LT$E$GT$$u20$for$u20$alloc..boxed..Box$LT$dyn"
    "$u20$core..error..Error$u2b$core..marker..Sync$u2b$core..marker..Send$GT$$GT$4from17h",
    "_ZN4core3ptr181drop_in_place$LT$core..task..poll..Poll$LT$core..option..Option$LT$core..result..Result$LT$"
    "http_body..frame..Frame$LT$bytes..bytes..Bytes$GT$$C$std..io..error..Error$GT$$GT$$GT$$GT$17h",
    "_ZN4core3ptr546drop_in_place$LT$futures_util..future..future..Map$LT$core..future..poll_fn..PollFn$LT$"
    "hyper_util..client..legacy..client..Client$LT$hyper_util..client..legacy..connect..http..HttpConnector$C$"
    "lambda_runtime_api_client..body..Body$GT$..try_send_request..$u7b$$u7b$closure$u7d$$u7d$..$u7b$$u7b$"
    "closure$u7d$$u7d$$GT$$C$hyper_util..client..legacy..client..Client$LT$hyper_util..client..legacy..connect.."
    "http..HttpConnector$C$lambda_runtime_api_client..body..Body$GT$..try_send_request..$u7b$$u7b$closure$u7d$$u7d$.."
    "$u7b$$u7b$closure$u7d$$u7d$$GT$$GT$17h",
    "_ZN4sha26sha2563x86",
]


def pattern(symbol):
    """A linker script section pattern for `symbol` that survives its hashes changing."""
    if symbol.startswith("_ZN"):
        return re.sub(r"17h[0-9a-f]{16}E.*$", "17h*", symbol)
    if symbol.startswith("_R"):
        # Crate disambiguators are hashes; back-references are offsets that move with them.
        symbol = re.sub(r"Cs[0-9A-Za-z]*_", "Cs*_", symbol.split(".llvm.")[0])
        return re.sub(r"B[0-9A-Za-z]*_", "B*_", symbol) + "*"
    return symbol


def sections(symbols, exact):
    """Input section descriptions for `symbols`: their own names (`exact`), or patterns that
    also take every other instance of the same generic function."""
    names = {s for s in symbols if re.fullmatch(r"[A-Za-z0-9_.$]+", s)}
    patterns = sorted(names if exact else {pattern(s) for s in names})
    # Cold functions (`#[cold]`, e.g. a vector's first growth) are in `.text.unlikely.<name>`.
    return ["    *(.text.%s .text.unlikely.%s)" % (p, p) for p in patterns]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", help="profile this build, made as this script makes it, instead of building one "
                        "(valgrind 3.19 reads no symbols of a binary linked with the layout)")
    parser.add_argument("--out", default=os.path.join(HERE, "startup.ld"))
    parser.add_argument("--runs", type=int, default=4, help="starts profiled in each mode (default 4)")
    parser.add_argument("--check", action="store_true",
                        help="instead: start a build linked with startup.ld (with symbols) under perf and list the "
                        "functions whose code faulted in outside the start-up section (add any to NOT_UNDER_VALGRIND)")
    args = parser.parse_args()
    if args.check:
        binary = args.binary or build("with-layout")
        for extra in ({}, {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/intercept-wrapper", "INTERCEPT_PROXY_PORT": str(free_port())}):
            found = set()
            for _ in range(args.runs * 3):
                found |= faults_outside(binary, extra)
            print("%s: %s" % ("exec wrapper" if extra else "no exec wrapper", sorted(found) or "none"))
        return
    binary = args.binary or build("without-layout")
    # Which of a few paths runs (a pooled connection or a new one, an error on a closed one)
    # depends on timing, which valgrind changes: the union of several starts catches them.
    plain, wrapped = set(), set()
    for _ in range(args.runs):
        plain |= functions_run(binary, {})
        wrapped |= functions_run(binary, {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/intercept-wrapper",
                                          "INTERCEPT_PROXY_PORT": str(free_port())})
    wrapped -= plain
    not_seen = ["    *(.text.%s* .text.unlikely.%s*)" % (name, name) for name in NOT_UNDER_VALGRIND]
    groups = [
        ("the functions a start runs, by name", sections(plain, True) + not_seen),
        ("those the Runtime API proxy's start adds", sections(wrapped, True)),
        ("the same by their names without hashes, should a name have changed since this file was "
         "written\n       (they take the other instances of each generic function too)", sections(plain, False)),
        ("the same for the proxy's start", sections(wrapped, False)),
    ]
    with open(args.out, "w") as out:
        out.write(
            "/* The layer extension's start-up layout (issue 24), written by extension/layout/generate.py\n"
            "   (regenerate it rather than edit it): the code start-up runs, gathered ahead of the rest\n"
            "   so that it keeps as few pages of the binary resident as it can. Only `intercept-layer\n"
            "   build` links with it (the `startup-layout` feature). A section goes where its first\n"
            "   pattern is. */\n"
            "SECTIONS\n{\n  .text.start_up :\n  {\n")
        for title, lines in groups:
            out.write("    /* %s */\n%s\n" % (title, "\n".join(lines)))
        out.write("  }\n}\nINSERT BEFORE .text;\n")
    print("%s: %d functions at start, %d more with an exec wrapper" % (args.out, len(plain), len(wrapped)))


if __name__ == "__main__":
    main()
