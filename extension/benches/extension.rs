//! Extension benchmark, ours side by side with `opentelemetry-lambda-extension` (crates.io)
//! under the same Extensions API in one run: spawn → first `event/next`, resident memory idle
//! and with a full buffer, binary size, ingest rate; and for ours, the time to flush 1,000
//! spans to a local receiver and the function's post-runtime duration in adaptive mode.
//!
//! `cargo bench -p intercept-extension --bench extension` after
//! `cargo run -p intercept-layer -- build` (the layer's binary is what is measured) and
//! `cargo install opentelemetry-lambda-extension --version 0.2.0 --locked --root target/peer`.
//! Speeds are printed, never asserted. `INTERCEPT_BENCH_RUNS` sets how many times each binary
//! is started (default 9); on a busy machine, compare the columns of one run, and the CPU time,
//! which other work on the machine does not inflate as it does the wall clock.
//!
//! The extensions run with no `AWS_SAM_LOCAL`, as on Lambda: ours binds its Telemetry API
//! listener on `0.0.0.0` (the path every cold start takes), as the peer does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use bytes::Bytes;
use intercept_extension::{Batch, Buffer, Exporter, ExtensionConfig, Signal};
use intercept_sam::sandbox::{Environment, FunctionSpec, Request, ShutdownReason};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

fn spans_request(count: usize) -> Vec<u8> {
    let spans = (0..count)
        .map(|i| Span {
            trace_id: [7u8; 16].to_vec(),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: "GET /items/{id}".to_owned(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_001_000_000,
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

/// A bare Extensions API: registers anyone, accepts telemetry subscriptions, records when the
/// first `event/next` arrives and never answers it (the extension idles as when frozen).
async fn extensions_api() -> (String, Arc<Mutex<Option<Instant>>>) {
    let first_next = Arc::new(Mutex::new(None));
    let seen = first_next.clone();
    let app = axum::Router::new()
        .route(
            "/2020-01-01/extension/register",
            post(|| async {
                (
                    [("lambda-extension-identifier", "bench-id"), ("content-type", "application/json")],
                    r#"{"functionName":"bench","functionVersion":"$LATEST","handler":"bootstrap"}"#,
                )
            }),
        )
        .route(
            "/2020-01-01/extension/event/next",
            get(move |_: HeaderMap| {
                let seen = seen.clone();
                async move {
                    seen.lock().expect("lock").get_or_insert_with(Instant::now);
                    std::future::pending::<()>().await;
                }
            }),
        )
        .route("/2022-07-01/telemetry", put(|| async { "OK" }))
        .route("/2020-08-15/logs", put(|| async { "OK" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, first_next)
}

/// Time the process has spent on a CPU (`/proc/<pid>/schedstat`, nanoseconds): unlike the wall
/// clock, it does not grow when other work on a busy machine delays the process.
fn cpu_ms(child: &Child) -> f64 {
    std::fs::read_to_string(format!("/proc/{}/schedstat", child.id()))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e6)
}

fn rss_kib(child: &Child) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

struct Measured {
    ready_ms: f64,
    /// On-CPU time from exec until idle (first `next`, then 300 ms).
    cpu_ms: f64,
    idle_kib: u64,
    full_kib: u64,
    ingest_spans_per_s: f64,
}

async fn measure(binary: &Path, otlp_port: u16, extra: &[(&str, String)]) -> Option<Measured> {
    let (api, first_next) = extensions_api().await;
    let started = Instant::now();
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_REGION", "us-east-1")
        .env("INTERCEPT_OTLP_LISTEN", format!("127.0.0.1:{otlp_port}"))
        // The same collector for all, where nothing listens: no INVOKE comes, so nothing is
        // flushed and what is ingested stays buffered (without an endpoint ours would discard it).
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        command.env(k, v);
    }
    let mut child = command.spawn().ok()?;
    let mut ready = None;
    for _ in 0..500 {
        if let Some(at) = *first_next.lock().expect("lock") {
            ready = Some(at.duration_since(started));
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let Some(ready) = ready else {
        let _ = child.kill();
        return None;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_kib = rss_kib(&child);
    let cpu_ms = cpu_ms(&child);
    // Ingest: 4 senders, requests of 100 spans, 2 s; then the buffer is as full as it gets.
    let body = Bytes::from(spans_request(100));
    let url = format!("http://127.0.0.1:{otlp_port}/v1/traces");
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ingest_started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (body, url, accepted) = (body.clone(), url.clone(), accepted.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while ingest_started.elapsed() < Duration::from_secs(2) {
                let sent =
                    client.post(&url).header("content-type", "application/x-protobuf").body(body.clone()).send().await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    accepted.fetch_add(100, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for sender in senders {
        let _ = sender.await;
    }
    let ingest = accepted.load(std::sync::atomic::Ordering::Relaxed) as f64 / ingest_started.elapsed().as_secs_f64();
    let full_kib = rss_kib(&child);
    let _ = child.kill();
    let _ = child.wait();
    Some(Measured { ready_ms: ready.as_secs_f64() * 1000.0, cpu_ms, idle_kib, full_kib, ingest_spans_per_s: ingest })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(((values.len() - 1) as f64 * p) as usize).copied().unwrap_or(f64::NAN)
}

fn stripped_size(binary: &Path) -> Option<u64> {
    let copy = target().join("peer").join(format!("{}.stripped", binary.file_name()?.to_string_lossy()));
    std::fs::copy(binary, &copy).ok()?;
    Command::new("strip").arg(&copy).status().ok()?;
    std::fs::metadata(&copy).ok().map(|m| m.len())
}

async fn flush_1000_spans() -> f64 {
    let received = axum::Router::new().route("/v1/traces", post(|_: Bytes| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, received).await });
    let config = ExtensionConfig::from_lookup(|k| (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| endpoint.clone()))
        .expect("config");
    let buffer = Arc::new(Buffer::new(16 << 20));
    let exporter = Exporter::new(&config, buffer.clone()).expect("exporter");
    let request = Bytes::from(spans_request(100));
    let mut times = Vec::new();
    for round in 0..60 {
        for _ in 0..10 {
            buffer.push(Batch { signal: Signal::Traces, items: 100, bytes: request.clone() });
        }
        let started = Instant::now();
        let report = exporter.flush(Instant::now() + Duration::from_secs(2), false).await;
        assert_eq!(report.sent[0], 1000, "{report:?}");
        if round >= 10 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    median(times)
}

async fn post_runtime_adaptive(extension: &Path) -> Option<(f64, f64)> {
    let function = target().join("debug/examples/otlp_function");
    if !function.exists() {
        return None;
    }
    let dir = target().join("extension-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("code")).ok()?;
    let layer = intercept_layer::assemble(&dir.join("layer"), &[extension.to_path_buf()]).ok()?;
    let collector = axum::Router::new().route("/v1/{signal}", post(|_: Bytes| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let endpoint = format!("http://{}", listener.local_addr().ok()?);
    tokio::spawn(async move { axum::serve(listener, collector).await });
    let mut spec = FunctionSpec::new("Bench", "provided.al2023", function, dir.join("code"));
    spec.layer_dirs = vec![layer];
    spec.environment.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint);
    spec.environment.insert("INTERCEPT_OTLP_LISTEN".into(), format!("127.0.0.1:{}", free_port()));
    let mut env = Environment::start(spec).await.ok()?;
    let mut post_runtime = Vec::new();
    for n in 0..300 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let answered = tokio::spawn(async move { rx.await.ok().map(|_| Instant::now()) });
        let event = Bytes::from(format!(r#"{{"tag":"bench-{n}","spans":10}}"#));
        let _ = env.invoke_with(Request::new(event), Some(tx)).await;
        let ended = Instant::now();
        if let Ok(Some(at)) = answered.await
            && n >= 20
        {
            post_runtime.push(ended.saturating_duration_since(at).as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    env.shutdown(ShutdownReason::Spindown).await;
    Some((percentile(post_runtime.clone(), 0.5), percentile(post_runtime, 0.99)))
}

#[tokio::main]
async fn main() {
    // The binary every function with the layer loads: the one `intercept-layer build` puts in
    // the layer (cargo zigbuild, glibc 2.26, the layer profile).
    // `INTERCEPT_BENCH_EXTENSION` measures another build of it (a profile being compared).
    let ours = std::env::var_os("INTERCEPT_BENCH_EXTENSION")
        .map_or_else(|| target().join("intercept-layer/extensions/intercept-extension"), PathBuf::from);
    println!("extension: {}", ours.display());
    let peer = target().join("peer/bin/opentelemetry-lambda-extension");
    assert!(ours.exists(), "build the layer first: cargo run -p intercept-layer -- build");
    println!(
        "| measure | intercept-extension (layer), no exec wrapper | intercept-extension (layer), exec wrapper: proxy built | opentelemetry-lambda-extension 0.2.0 |"
    );
    println!("| --- | --- | --- | --- |");
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    // More runs steady the medians on a busy machine (`INTERCEPT_BENCH_RUNS`, default 9).
    let runs = std::env::var("INTERCEPT_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).filter(|&n| n > 0).unwrap_or(9);
    let mut ours_runs = Vec::new();
    let mut proxy_runs = Vec::new();
    let mut peer_runs = Vec::new();
    for round in 0..runs {
        // Alternate, and rotate which goes first, so all see the same machine state.
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 => {
                    if let Some(m) = measure(&ours, free_port(), &[]).await {
                        ours_runs.push(m);
                    }
                }
                1 => {
                    let wrapped = [
                        ("AWS_LAMBDA_EXEC_WRAPPER", "/opt/intercept-wrapper".to_owned()),
                        ("INTERCEPT_PROXY_PORT", free_port().to_string()),
                    ];
                    if let Some(m) = measure(&ours, free_port(), &wrapped).await {
                        proxy_runs.push(m);
                    }
                }
                _ => {
                    if peer.exists()
                        && let Some(m) = measure(&peer, 4318, &[]).await
                    {
                        peer_runs.push(m);
                    }
                }
            }
        }
    }
    let col = |runs: &[Measured], f: &dyn Fn(&Measured) -> f64, unit: &str| {
        if runs.is_empty() { "n/a".to_owned() } else { format!("{:.2} {unit}", median(runs.iter().map(f).collect())) }
    };
    let row = |name: &str, f: &dyn Fn(&Measured) -> f64, unit: &str| {
        (name.to_owned(), col(&ours_runs, f, unit), col(&proxy_runs, f, unit), col(&peer_runs, f, unit))
    };
    rows.push(row(&format!("spawn → first event/next (median of {runs})"), &|m| m.ready_ms, "ms"));
    let fastest = |runs: &[Measured]| {
        runs.iter().map(|m| m.ready_ms).min_by(f64::total_cmp).map_or("n/a".to_owned(), |ms| format!("{ms:.2} ms"))
    };
    rows.push((
        "spawn → first event/next (fastest)".into(),
        fastest(&ours_runs),
        fastest(&proxy_runs),
        fastest(&peer_runs),
    ));
    rows.push(row("CPU time from exec to idle (median)", &|m| m.cpu_ms, "ms"));
    rows.push(row("resident memory, idle", &|m| m.idle_kib as f64 / 1024.0, "MiB"));
    rows.push(row(
        "resident memory after 2 s of ingest (buffer full for ours)",
        &|m| m.full_kib as f64 / 1024.0,
        "MiB",
    ));
    rows.push(row("ingest, spans/s accepted (4 senders × 100-span requests)", &|m| m.ingest_spans_per_s, ""));
    let size =
        |p: &Path| stripped_size(p).map_or("n/a".to_owned(), |b| format!("{:.2} MB ({b} bytes)", b as f64 / 1e6));
    let ours_size = size(&ours);
    rows.push((
        "stripped binary".into(),
        ours_size.clone(),
        ours_size,
        if peer.exists() { size(&peer) } else { "n/a".into() },
    ));
    rows.push((
        "flush 1,000 spans to a local receiver (median)".into(),
        format!("{:.2} ms", flush_1000_spans().await),
        "the same".into(),
        "not measured (no library API)".into(),
    ));
    let post = post_runtime_adaptive(&ours).await;
    rows.push((
        "post-runtime duration, adaptive, steady traffic (p50 / p99)".into(),
        post.map_or("n/a (build the otlp_function example)".into(), |(p50, p99)| format!("{p50:.3} / {p99:.3} ms")),
        "the same".into(),
        "not measured".into(),
    ));
    for (name, a, b, c) in rows {
        println!("| {name} | {a} | {b} | {c} |");
    }
    // Issue 24's guard, read per round (each round starts both within a second or two):
    // ours minus the peer, idle.
    if ours_runs.len() == peer_runs.len() && !ours_runs.is_empty() {
        let differences: Vec<f64> =
            ours_runs.iter().zip(&peer_runs).map(|(o, p)| (o.idle_kib as f64 - p.idle_kib as f64) / 1024.0).collect();
        let at_or_below = differences.iter().filter(|&&d| d <= 0.0).count();
        let shown: Vec<String> = differences.iter().map(|d| format!("{d:+.2}")).collect();
        println!(
            "\nidle RSS, ours (no exec wrapper) minus the peer, per round (MiB): {}; median {:+.2} MiB; at or below the peer in {at_or_below} of {}",
            shown.join(" "),
            median(differences.clone()),
            differences.len()
        );
    }
}
