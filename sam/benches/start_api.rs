//! `local start-api` requests per second against a warm trivial function with 1, 2 and 8
//! concurrent clients, against a bare HTTP server in the same process; and the time from
//! `local invoke` start to the response for an already-built function.
//!
//! `cargo bench -p intercept-sam --bench start_api`

use std::future::IntoFuture as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::get;
use intercept_sam::api::Gateway;
use intercept_sam::{
    CargoProfile, EventSource, InvokeOptions, SpecOptions, StartLambdaOptions, local_invoke, prepare, serve_api,
};
use tokio::net::TcpListener;

const RUN: Duration = Duration::from_secs(3);

async fn requests_per_second(url: &str, clients: usize) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + RUN;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let url = url.to_owned();
            let done = done.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder().tcp_nodelay(true).build().expect("client");
                while Instant::now() < deadline {
                    let response = client.get(&url).send().await.expect("request");
                    let _ = response.bytes().await.expect("body");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client");
    }
    done.load(Ordering::Relaxed) as f64 / RUN.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = root.join("tests/fixtures/api/template.yaml");
    let mut spec = SpecOptions::default();
    spec.profile = CargoProfile::default();
    let mut options = StartLambdaOptions::new(template.clone());
    options.spec = spec.clone();
    let (loaded, pools) = prepare(&options).await.expect("template builds");

    let echo = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let echo_url = format!("http://{}/orders/1", echo.local_addr().expect("addr"));
    let app = axum::Router::new().route("/orders/1", get(|| async { r#"{"statusCode":201}"# }));
    tokio::spawn(axum::serve(echo, app).into_future());

    let gateway = Arc::new(Gateway::new(&loaded, pools.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api_url = format!("http://{}/orders/1", listener.local_addr().expect("addr"));
    tokio::spawn(serve_api(listener, gateway, pools.clone(), std::future::pending()));
    // Warm up: one environment per client count at most.
    let _ = requests_per_second(&api_url, 8).await;

    println!("GET /orders/1 for {} s per row, keep-alive clients over loopback", RUN.as_secs());
    for clients in [1, 2, 8] {
        let baseline = requests_per_second(&echo_url, clients).await;
        let emulated = requests_per_second(&api_url, clients).await;
        println!(
            "{clients} client(s): start-api {emulated:>8.0} req/s   bare HTTP {baseline:>8.0} req/s   ratio {:.2}x   environments {}",
            emulated / baseline,
            pools["Orders"].idle_count()
        );
    }

    let event = root.join("examples/events/hello-no-token.json");
    let mut invoke = InvokeOptions::new(template);
    invoke.function = Some("Orders".to_owned());
    invoke.events = vec![EventSource::File(event)];
    invoke.spec = spec;
    let mut samples = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut out = Vec::new();
        local_invoke(&invoke, &mut out).await.expect("invokes");
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "local invoke of a built function, start to response and shutdown (20 runs, in process): p50 {:.1} ms, max {:.1} ms",
        samples[10].as_secs_f64() * 1e3,
        samples[19].as_secs_f64() * 1e3
    );
}
