//! Time to first byte of a streamed response: from the function's write to the chunk's arrival
//! at a client of a `RESPONSE_STREAM` function URL, against the same chunks relayed by one bare
//! HTTP server in the same process (the baseline).
//!
//! The function is this bench binary run again as a runtime (it sees `AWS_LAMBDA_RUNTIME_API`):
//! a Runtime API client that streams 16-byte records, each stamped with the wall-clock time just
//! before its write, a few milliseconds apart so that each chunk is measured on its own.
//!
//! `cargo bench -p intercept-sam --bench streaming`

use std::collections::HashMap;
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use intercept_sam::api::Gateway;
use intercept_sam::sandbox::FunctionSpec;
use intercept_sam::template::{LoadOptions, Template};
use intercept_sam::{FunctionPool, Pools, serve_api};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

/// Records per invocation, the pause before each, and invocations measured.
const CHUNKS: u64 = 100;
const SPACING: Duration = Duration::from_millis(2);
const INVOCATIONS: usize = 10;

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The runtime: for each event, a streamed response of timestamped records over raw chunked
/// HTTP/1.1, written as the Runtime API receives it from Lambda's runtime clients.
async fn runtime(api: String) {
    let client = reqwest::Client::new();
    loop {
        let Ok(next) = client.get(format!("http://{api}/2018-06-01/runtime/invocation/next")).send().await else {
            return;
        };
        let id = next.headers()["lambda-runtime-aws-request-id"].to_str().expect("request id").to_owned();
        let _ = next.bytes().await;
        stream_records(&api, &format!("/2018-06-01/runtime/invocation/{id}/response")).await;
    }
}

/// POSTs `CHUNKS` records to `path` on `address`, one chunk each, stamped just before the write.
async fn stream_records(address: &str, path: &str) {
    let mut socket = TcpStream::connect(address).await.expect("connects");
    socket.set_nodelay(true).expect("nodelay");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n\
         Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("head");
    for sequence in 0..CHUNKS {
        tokio::time::sleep(SPACING).await;
        let mut chunk = b"10\r\n".to_vec();
        chunk.extend_from_slice(&now_nanos().to_be_bytes());
        chunk.extend_from_slice(&sequence.to_be_bytes());
        chunk.extend_from_slice(b"\r\n");
        socket.write_all(&chunk).await.expect("chunk");
    }
    socket.write_all(b"0\r\n\r\n").await.expect("end");
    // The runtime API's 202.
    let mut answer = [0u8; 1024];
    let _ = socket.read(&mut answer).await;
}

/// Reads one streamed response from `url` and returns each record's write-to-arrival time.
async fn latencies(client: &reqwest::Client, url: &str) -> Vec<Duration> {
    let mut response = client.get(url).send().await.expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    let (mut pending, mut samples) = (Vec::new(), Vec::new());
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        let arrived = now_nanos();
        pending.extend_from_slice(&chunk);
        while pending.len() >= 16 {
            let written = u64::from_be_bytes(pending[..8].try_into().expect("eight bytes"));
            samples.push(Duration::from_nanos(arrived.saturating_sub(written)));
            pending.drain(..16);
        }
    }
    assert_eq!(samples.len() as u64, CHUNKS, "every record arrived");
    samples
}

fn summary(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99), at(1.0))
}

/// The baseline: one bare axum server that takes the runtime's streamed POST and relays its
/// body, frame by frame, as the body of a waiting GET.
async fn bare_relay() -> SocketAddr {
    type Waiting = Arc<Mutex<Option<mpsc::Receiver<Body>>>>;
    let (bodies, waiting) = mpsc::channel::<Body>(1);
    let waiting: Waiting = Arc::new(Mutex::new(Some(waiting)));
    let app = axum::Router::new()
        .route(
            "/post",
            post(move |body: Body| {
                let bodies = bodies.clone();
                async move {
                    let (done, finished) = tokio::sync::oneshot::channel::<()>();
                    let relayed = Body::from_stream(futures_util::stream::unfold(
                        (body.into_data_stream(), Some(done)),
                        |(mut stream, done)| async move {
                            use futures_util::StreamExt as _;
                            match stream.next().await {
                                Some(chunk) => Some((chunk, (stream, done))),
                                None => {
                                    drop(done);
                                    None
                                }
                            }
                        },
                    ));
                    let _ = bodies.send(relayed).await;
                    let _ = finished.await;
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        )
        .route(
            "/get",
            get(|State(waiting): State<Waiting>| async move {
                let mut guard = waiting.lock().await;
                let receiver = guard.as_mut().expect("one receiver");
                receiver.recv().await.unwrap_or_default()
            }),
        )
        .with_state(waiting);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    // As the emulator's servers do: without it, Nagle's algorithm holds small chunks back.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    tokio::spawn(axum::serve(listener, app).into_future());
    address
}

async fn emulator() -> (String, reqwest::Client) {
    let scratch = std::env::temp_dir().join(format!("intercept-sam-streaming-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let source = "Resources:\n  Streamer:\n    Type: AWS::Serverless::Function\n    Properties:\n      \
                  CodeUri: .\n      Handler: bootstrap\n      Runtime: provided.al2023\n      \
                  FunctionUrlConfig: {AuthType: NONE, InvokeMode: RESPONSE_STREAM}\n";
    let path = scratch.join("template.yaml");
    std::fs::write(&path, source).expect("template written");
    let template = Template::load(&path, &LoadOptions::default()).expect("template");
    let bench = std::env::current_exe().expect("this binary");
    let mut spec = FunctionSpec::new("Streamer", "provided.al2023", bench, scratch);
    spec.timeout = Duration::from_secs(30);
    let pools: Pools = Arc::new(HashMap::from([("Streamer".to_owned(), FunctionPool::new(spec, Arc::new(|_| {})))]));
    let gateway = Arc::new(Gateway::new(&template, pools.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(serve_api(listener, gateway, pools, std::future::pending()));
    let client =
        reqwest::Client::builder().tcp_nodelay(true).resolve("streamer.localhost", address).build().expect("client");
    (format!("http://streamer.localhost:{}/", address.port()), client)
}

#[tokio::main]
async fn main() {
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        return runtime(api).await;
    }
    let (url, client) = emulator().await;
    // A cold start is not what this measures.
    let _ = latencies(&client, &url).await;
    let mut emulated = Vec::new();
    for _ in 0..INVOCATIONS {
        emulated.extend(latencies(&client, &url).await);
    }

    let relay = bare_relay().await;
    let bare_client = reqwest::Client::builder().tcp_nodelay(true).build().expect("client");
    let mut baseline = Vec::new();
    for _ in 0..=INVOCATIONS {
        // The client asks first, as the function URL's client does.
        let client = bare_client.clone();
        let reader = tokio::spawn(async move { latencies(&client, &format!("http://{relay}/get")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        stream_records(&relay.to_string(), "/post").await;
        baseline.extend(reader.await.expect("reader"));
    }
    baseline.drain(..CHUNKS as usize);

    let (count, (p50, p99, max)) = (emulated.len(), summary(emulated));
    let (b50, b99, bmax) = summary(baseline);
    println!(
        "function write → function-URL client, {count} chunks of 16 B, {} ms apart, {INVOCATIONS} warm invocations",
        SPACING.as_millis()
    );
    println!("RESPONSE_STREAM function URL: p50 {p50:>7.1} µs   p99 {p99:>7.1} µs   max {max:>7.1} µs");
    println!("bare axum relay (baseline):   p50 {b50:>7.1} µs   p99 {b99:>7.1} µs   max {bmax:>7.1} µs");
    println!("ratio p50 {:.2}x   p99 {:.2}x", p50 / b50, p99 / b99);
}
