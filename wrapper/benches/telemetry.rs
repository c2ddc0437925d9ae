//! Telemetry cost, in one run:
//!
//! 1. per invocation: `Interceptor::handle` on an HTTP API event with a `traceparent`, with
//!    telemetry on (context extraction, the server span and its attributes, the handler span,
//!    metrics, enqueue) against the same handler and path with telemetry off
//!    (`INTERCEPT_DISABLE=telemetry`); p50 and p99 of single calls, and the difference;
//! 2. the same with the JSON log layer installed (writing to a sink), since that adds the
//!    scrubbing of the invocation's credentials;
//! 3. the flush of one invocation's spans and metrics to an OTLP/HTTP receiver (axum on
//!    127.0.0.1:0 in this process, decoding each request with opentelemetry-proto).
//!
//! `cargo bench -p intercept --bench telemetry`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use intercept::telemetry::logging;
use intercept::{Config, Interceptor, InvocationMeta};
use lambda_runtime::Diagnostic;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::value::RawValue;
use tracing_subscriber::layer::SubscriberExt as _;

const EVENT: &str = r#"{"version":"2.0","routeKey":"GET /orders/{id}","rawPath":"/orders/42","rawQueryString":"",
"headers":{"accept":"application/json","host":"api.example.com","user-agent":"curl/8.5.0",
"authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"rojo=00f067aa0ba902b7"},
"requestContext":{"accountId":"123456789012","apiId":"example","domainName":"api.example.com",
"http":{"method":"GET","path":"/orders/42","protocol":"HTTP/1.1","sourceIp":"203.0.113.7","userAgent":"curl/8.5.0"},
"requestId":"JKJaXmPLvHcESHA=","routeKey":"GET /orders/{id}","stage":"$default"},"isBase64Encoded":false}"#;

const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:orders";
const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/// Nothing on this path waits (no auth keys to fetch, no store), so one poll finishes it.
fn now_or_never<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked path waited"),
    }
}

fn interceptor(listen: &str, telemetry: bool) -> Interceptor {
    let vars = [
        ("INTERCEPT_OTLP_LISTEN", listen),
        ("INTERCEPT_DISABLE", if telemetry { "" } else { "telemetry" }),
        ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_REGION", "eu-west-1"),
    ];
    let config = Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
        .expect("valid config");
    Interceptor::new(&config).expect("builds")
}

fn handler() -> impl Future<Output = Result<Box<RawValue>, Diagnostic>> {
    std::future::ready(Ok(RawValue::from_string(r#"{"statusCode":200,"body":"ok"}"#.to_owned()).expect("json")))
}

/// Nanoseconds of single calls of each of `calls`, interleaved call by call so that both
/// arms see the same machine (other processes, frequency): `batches` batches of `per_batch`
/// rounds, `between` run after each batch outside the timing (it drains the exporter's queue).
fn sample<const N: usize>(
    batches: usize,
    per_batch: usize,
    calls: [&dyn Fn(); N],
    mut between: impl FnMut(),
) -> [Vec<u64>; N] {
    let mut samples: [Vec<u64>; N] = std::array::from_fn(|_| Vec::with_capacity(batches * per_batch));
    for batch in 0..batches {
        for _ in 0..per_batch {
            for (call, samples) in calls.iter().zip(samples.iter_mut()) {
                let start = Instant::now();
                call();
                let elapsed = start.elapsed().as_nanos() as u64;
                // The first batch warms caches and allocators up.
                if batch > 0 {
                    samples.push(elapsed);
                }
            }
        }
        between();
    }
    for samples in &mut samples {
        samples.sort_unstable();
    }
    samples
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64
}

async fn receiver() -> std::net::SocketAddr {
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|body: Bytes| async move {
                black_box(ExportTraceServiceRequest::decode(body).expect("trace export"));
            }),
        )
        .route(
            "/v1/metrics",
            post(|body: Bytes| async move {
                black_box(ExportMetricsServiceRequest::decode(body).expect("metrics export"));
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let addr = runtime.block_on(receiver());
    let listen = addr.to_string();
    let event = RawValue::from_string(EVENT.replace('\n', "")).expect("event");
    let meta = InvocationMeta {
        request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
        deadline_ms: 0,
        invoked_function_arn: ARN,
        xray_trace_id: Some(XRAY),
        client_context: None,
    };

    let plain = interceptor(&listen, false);
    let traced = interceptor(&listen, true);
    let flush = |interceptor: &Interceptor| {
        if let Some(exporter) = interceptor.exporter() {
            runtime.block_on(exporter.flush());
        }
    };
    // The exporter is drained every few invocations, as FlushLayer drains it after each one:
    // a queue of thousands would measure page faults, not telemetry.
    let (batches, per_batch) = (4_001, 20);
    let call = |interceptor: &Interceptor| {
        black_box(now_or_never(interceptor.handle(black_box(&event), meta, |_| handler())));
    };
    let [without, with] = sample(batches, per_batch, [&|| call(&plain), &|| call(&traced)], || flush(&traced));
    let logs = {
        let config =
            logging::LogConfig::from_lookup(|name| (name == "AWS_LAMBDA_LOG_FORMAT").then(|| "JSON".to_owned()));
        let subscriber = tracing_subscriber::registry().with(logging::layer(&config, std::io::sink));
        tracing::subscriber::with_default(subscriber, || {
            let [logs] = sample(batches / 4, per_batch, [&|| call(&traced)], || flush(&traced));
            logs
        })
    };

    println!("per invocation, {} single calls each, the first two interleaved (ns):", without.len());
    println!("{:<44} {:>8} {:>8}", "", "p50", "p99");
    for (name, samples) in [
        ("handle, telemetry off (baseline)", &without),
        ("handle, telemetry on", &with),
        ("handle, telemetry on + JSON log layer", &logs),
    ] {
        println!("{name:<44} {:>8.0} {:>8.0}", percentile(samples, 0.5), percentile(samples, 0.99));
    }
    let added = percentile(&with, 0.5) - percentile(&without, 0.5);
    println!("telemetry added at p50: {added:.0} ns (target < 2000 ns)");

    // The flush of one invocation: its spans (server + handler) and the metrics, two POSTs.
    let mut flushes: Vec<u64> = Vec::with_capacity(2_000);
    let exporter = traced.exporter().expect("telemetry on");
    for i in 0..2_200 {
        now_or_never(traced.handle(&event, meta, |_| handler()));
        let start = Instant::now();
        runtime.block_on(exporter.flush());
        if i >= 200 {
            flushes.push(start.elapsed().as_nanos() as u64);
        }
    }
    flushes.sort_unstable();
    assert_eq!(exporter.dropped(), 0, "the receiver took every flush");
    println!(
        "flush of one invocation (2 spans + 6 metrics) to 127.0.0.1: p50 {:.0} us, p99 {:.0} us (target < 300 us)",
        percentile(&flushes, 0.5) / 1e3,
        percentile(&flushes, 0.99) / 1e3
    );
}
