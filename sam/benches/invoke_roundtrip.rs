//! Warm invocation round trip through the emulator, measured from an HTTP client, against a
//! bare HTTP echo server in the same process; and the cold start of a trivial Rust function.
//!
//! `cargo bench -p intercept-sam --bench invoke_roundtrip`

use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use intercept_sam::sandbox::{Environment, FunctionSpec, ShutdownReason};
use intercept_sam::template::{BuildMethod, BuildSpec};
use intercept_sam::{CargoProfile, FunctionPool, build_rust};
use tokio::net::TcpListener;

const WARMUP: usize = 200;
const ROUNDS: usize = 3_000;
const COLD_STARTS: usize = 20;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(client: &reqwest::Client, url: &str) -> Vec<Duration> {
    let body = r#"{"action":"noop"}"#;
    for _ in 0..WARMUP {
        let _ = client.post(url).body(body).send().await.and_then(|r| r.error_for_status());
    }
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let response = client.post(url).body(body).send().await.expect("request");
        let _ = response.bytes().await.expect("body");
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn report(name: &str, samples: &[Duration]) -> (Duration, Duration) {
    let (p50, p99) = (percentile(samples, 0.50), percentile(samples, 0.99));
    println!("{name:<50} p50 {:>8.1} µs   p99 {:>8.1} µs", p50.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6);
    (p50, p99)
}

/// The servers run as the CLI runs them: on one current-thread runtime of their own thread.
fn server_runtime() -> tokio::runtime::Handle {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let handle = runtime.handle().clone();
    std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    handle
}

/// The client runs on another thread, as another process would.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = server_runtime();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lifecycle");
    let function = |binary: &str| {
        let spec = BuildSpec { method: BuildMethod::RustCargoLambda, binary: Some(binary.into()) };
        let binary = build_rust(binary, &fixture, &spec, &CargoProfile::default()).expect("builds");
        let mut function = FunctionSpec::new("Trivial", "provided.al2023", binary, fixture.clone());
        function.timeout = Duration::from_secs(10);
        function
    };
    // A `lambda_runtime` function (`#[tokio::main]`, the crate's own client), and the same
    // answer from a blocking client on one connection: the difference is the runtime client's.
    let lambda_runtime = function("fixture-function");
    let raw = function("raw-function");

    // Baseline: the same client against a bare HTTP server that echoes the body.
    let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let echo_addr = echo.local_addr().expect("addr");
    let app = axum::Router::new().route("/echo", post(|body: axum::body::Bytes| async move { body }));
    server.spawn(axum::serve(echo, app).into_future());

    let client = reqwest::Client::builder().tcp_nodelay(true).build().expect("client");
    println!("warm invocations: {ROUNDS} sequential, after {WARMUP} warm-up, one client, loopback");
    let baseline = measure(&client, &format!("http://{echo_addr}/echo")).await;
    let (b50, b99) = report("bare HTTP echo (baseline)", &baseline);
    let runs = [
        (&lambda_runtime, true, "lambda_runtime, frozen between"),
        (&lambda_runtime, false, "lambda_runtime, --no-freeze"),
        (&raw, true, "raw client, frozen between"),
        (&raw, false, "raw client, --no-freeze"),
    ];
    for (function, freeze, name) in runs {
        let mut spec = function.clone();
        spec.freeze = freeze;
        let pool = FunctionPool::new(spec, Arc::new(|_| {}));
        let pools = Arc::new(HashMap::from([("Trivial".to_owned(), pool.clone())]));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        server.spawn(intercept_sam::serve_start_lambda(listener, pools, std::future::pending()));
        let url = format!("http://{addr}/2015-03-31/functions/Trivial/invocations");
        let emulated = measure(&client, &url).await;
        let (e50, e99) = report(name, &emulated);
        println!(
            "  overhead over baseline: p50 +{:.1} µs, p99 +{:.1} µs (ratio p50 {:.2}x, p99 {:.2}x); environments used: {}",
            (e50.as_secs_f64() - b50.as_secs_f64()) * 1e6,
            (e99.as_secs_f64() - b99.as_secs_f64()) * 1e6,
            e50.as_secs_f64() / b50.as_secs_f64(),
            e99.as_secs_f64() / b99.as_secs_f64(),
            pool.idle_count()
        );
        server.spawn(async move { pool.shutdown().await }).await.expect("shut down");
    }

    let mut cold = Vec::with_capacity(COLD_STARTS);
    for _ in 0..COLD_STARTS {
        let function = lambda_runtime.clone();
        let started = server
            .spawn(async move {
                let started = Instant::now();
                let environment = Environment::start(function).await.expect("starts");
                let elapsed = started.elapsed();
                environment.shutdown(ShutdownReason::Spindown).await;
                elapsed
            })
            .await
            .expect("cold start");
        cold.push(started);
    }
    cold.sort();
    report("cold start, lambda_runtime (spawn to first /next)", &cold);
}
