//! Warm invocation round trip of a trivial function with the Intercept layer attached, straight
//! to the emulator's Runtime API and through the extension's Runtime API proxy, in one run.
//!
//! `cargo bench -p intercept-extension --bench proxy` (after `cargo run -p intercept-layer -- build`,
//! to measure the layer's extension as it ships)
//!
//! The function is the lifecycle fixture's Rust `lambda_runtime` function, declared with a
//! managed runtime's name: the emulator, like Lambda, honours `AWS_LAMBDA_EXEC_WRAPPER` only for
//! managed runtimes, and a Rust client keeps the runtime's own cost small and steady, so the
//! difference is the proxy's. Filters are off (`INTERCEPT_AUTH=none`, no rate limit): the
//! figure is the proxy's own work, not the filters' crypto.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use intercept_sam::sandbox::{Environment, FunctionSpec, Outcome, Request, ShutdownReason};
use intercept_sam::template::{BuildMethod, BuildSpec};
use intercept_sam::{CargoProfile, build_rust};

const WARMUP: usize = 300;
const BATCH: usize = 500;
const BATCHES: usize = 8;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// Times each invocation twice: until the caller has the response (Lambda answers the caller
/// when the runtime has answered) and until the invoke phase ends (the runtime asked for the
/// next event).
async fn round_trips(env: &mut Environment, count: usize, answered: &mut Vec<Duration>, phase: &mut Vec<Duration>) {
    let event = Bytes::from_static(br#"{"action":"noop"}"#);
    for _ in 0..count {
        let (responded, response) = tokio::sync::oneshot::channel();
        let started = Instant::now();
        let caller = async {
            let outcome = response.await.expect("an outcome");
            (started.elapsed(), outcome)
        };
        let (invoked, (answered_after, outcome)) =
            tokio::join!(env.invoke_with(Request::new(event.clone()), Some(responded)), caller);
        phase.push(started.elapsed());
        answered.push(answered_after);
        assert!(matches!(outcome, Outcome::Response(_)), "{:?}", invoked.outcome);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let release = CargoProfile::default();
    let fixture = root.join("tests/fixtures/lifecycle");
    let function_spec = BuildSpec { method: BuildMethod::RustCargoLambda, binary: Some("fixture-function".into()) };
    let function = build_rust("fixture-function", &fixture, &function_spec, &release).expect("function builds");
    // The extension that ships: the layer's (`cargo run -p intercept-layer -- build`), built with
    // the layer profile; a release build of it where no layer was built.
    // `INTERCEPT_BENCH_EXTENSION` measures another build of it (a profile being compared).
    let shipped = std::env::var_os("INTERCEPT_BENCH_EXTENSION")
        .map_or_else(|| root.join("target/intercept-layer/extensions/intercept-extension"), PathBuf::from);
    let extension = if shipped.is_file() {
        shipped
    } else {
        let extension_spec =
            BuildSpec { method: BuildMethod::RustCargoLambda, binary: Some("intercept-extension".into()) };
        build_rust("intercept-extension", &root.join("extension"), &extension_spec, &release).expect("extension builds")
    };
    println!("extension: {}", extension.display());
    let scratch: PathBuf = root.join("target/bench-scratch").join(format!("proxy-{}", std::process::id()));
    let layer = intercept_layer::assemble(&scratch.join("layer"), &[extension]).expect("layer");

    let spec = |wrapped: bool| {
        let mut spec = FunctionSpec::new("Trivial", "nodejs20.x", function.clone(), fixture.clone());
        spec.timeout = Duration::from_secs(10);
        spec.freeze = false;
        spec.layer_dirs = vec![layer.clone()];
        let env = &mut spec.environment;
        env.insert("INTERCEPT_PROXY_PORT".into(), free_port().to_string());
        env.insert("INTERCEPT_OTLP_LISTEN".into(), format!("127.0.0.1:{}", free_port()));
        env.insert("INTERCEPT_AUTH".into(), "none".into());
        env.insert("INTERCEPT_DISABLE".into(), "telemetry".into());
        env.insert("INTERCEPT_EXTENSION_LOG".into(), "error".into());
        if wrapped {
            env.insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/opt/intercept-wrapper".into());
        }
        spec
    };
    let mut direct = Environment::start(spec(false)).await.expect("direct environment starts");
    let mut proxied = Environment::start(spec(true)).await.expect("proxied environment starts");
    let mut samples: [[Vec<Duration>; 2]; 2] = Default::default();
    for env in [&mut direct, &mut proxied] {
        round_trips(env, WARMUP, &mut Vec::new(), &mut Vec::new()).await;
    }
    // Interleaved batches, so drift on a shared machine falls on both alike.
    for _ in 0..BATCHES {
        for (env, [answered, phase]) in [&mut direct, &mut proxied].into_iter().zip(samples.iter_mut()) {
            round_trips(env, BATCH, answered, phase).await;
        }
    }
    direct.shutdown(ShutdownReason::Spindown).await;
    proxied.shutdown(ShutdownReason::Spindown).await;
    let _ = std::fs::remove_dir_all(&scratch);

    let rounds = BATCH * BATCHES;
    println!("warm invocations: {rounds} each, interleaved in batches of {BATCH}, after {WARMUP} warm-up, no freeze");
    for per_env in &mut samples {
        for series in per_env.iter_mut() {
            series.sort();
        }
    }
    for (what, index) in [("caller has the response", 0), ("invoke phase over (runtime asked for next)", 1)] {
        println!("{what}:");
        let mut figures = Vec::new();
        for (name, per_env) in [
            ("  straight to the Runtime API (baseline)", &samples[0]),
            ("  through the Runtime API proxy", &samples[1]),
        ] {
            let sorted = &per_env[index];
            let (p50, p99) = (percentile(sorted, 0.50), percentile(sorted, 0.99));
            println!("{name:<42} p50 {:>8.1} µs   p99 {:>8.1} µs", micros(p50), micros(p99));
            figures.push((p50, p99));
        }
        let ((d50, d99), (p50, p99)) = (figures[0], figures[1]);
        println!(
            "  proxy adds: p50 +{:.1} µs (target <= 100 µs), p99 +{:.1} µs; ratio p50 {:.2}x",
            micros(p50) - micros(d50),
            micros(p99) - micros(d99),
            p50.as_secs_f64() / d50.as_secs_f64()
        );
    }
}
