//! Response streaming end to end: a Node.js function on aws-lambda-ric (`streamifyResponse`) and
//! a Rust function on `lambda_runtime`'s streaming response, behind `RESPONSE_STREAM` function
//! URLs read by a raw HTTP client, and through `InvokeWithResponseStream` read by boto3.
//!
//! Each streaming function writes a chunk, sleeps a second, then writes another: a chunk that
//! arrives a good part of that second before the next proves it was sent as written.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use intercept_sam::api::Gateway;
use intercept_sam::{Pools, prepare, serve_start_lambda};
use intercept_tests::{ServedApi, dev_options, workspace};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TEMPLATE: &str = "tests/fixtures/streaming/template.yaml";

/// How far apart the two chunks must arrive: the functions sleep a whole second between them,
/// so a response buffered until the function's end shows them together.
const APART: f64 = 0.5;

async fn pools() -> (intercept_sam::template::Template, Pools) {
    prepare(&dev_options(TEMPLATE)).await.unwrap_or_else(|e| panic!("{e}"))
}

/// What a raw HTTP/1.1 client saw: the response head, the body bytes as sent on the wire
/// (chunked), when each text first appeared, and whether the body ended cleanly.
struct Raw {
    head: String,
    wire: String,
    arrivals: Vec<(String, f64)>,
}

impl Raw {
    fn arrival(&self, text: &str) -> f64 {
        self.arrivals
            .iter()
            .find(|(t, _)| t == text)
            .map(|(_, at)| *at)
            .unwrap_or_else(|| panic!("`{text}` never arrived; head:\n{}\nbody: {:?}", self.head, self.wire))
    }

    fn ended_cleanly(&self) -> bool {
        self.wire.ends_with("0\r\n\r\n")
    }
}

/// Sends `GET path` to the function URL of `function` and reads until the server closes the
/// connection, noting when each of `watch` first appears.
async fn raw_get(base: &str, function: &str, path: &str, watch: &[&str]) -> Raw {
    let address = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connects");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}.localhost\r\nConnection: close\r\n\r\n",
        function.to_ascii_lowercase()
    );
    socket.write_all(request.as_bytes()).await.expect("sends");
    let started = Instant::now();
    let mut received = Vec::new();
    let mut arrivals = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(60), socket.read(&mut buffer))
            .await
            .expect("the response ends within a minute");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
        let text = String::from_utf8_lossy(&received);
        for watched in watch {
            if text.contains(watched) && !arrivals.iter().any(|(t, _): &(String, f64)| t == watched) {
                arrivals.push(((*watched).to_owned(), started.elapsed().as_secs_f64()));
            }
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, wire) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Raw { head: head.to_ascii_lowercase(), wire: wire.to_owned(), arrivals }
}

#[tokio::test(flavor = "multi_thread")]
async fn response_stream_function_urls_deliver_chunks_as_the_function_writes_them() {
    let (template, pools) = pools().await;
    let served = ServedApi::serve(Gateway::new(&template, pools.clone()), pools).await;

    for (function, runtime) in [("NodeStream", "node"), ("RustStream", "rust")] {
        let raw = raw_get(&served.base, function, "/", &["first chunk", "second chunk"]).await;
        assert!(raw.head.starts_with("http/1.1 201"), "{function}: the prelude's status\n{}", raw.head);
        assert!(raw.head.contains(&format!("x-fixture: {runtime}")), "{function}: the prelude's headers\n{}", raw.head);
        assert!(raw.head.contains(&format!("set-cookie: flavour={runtime}")), "{function}: its cookies\n{}", raw.head);
        assert!(raw.head.contains("content-type: text/plain"), "{function}\n{}", raw.head);
        assert!(raw.head.contains("transfer-encoding: chunked"), "{function}\n{}", raw.head);
        assert!(
            !raw.wire.contains('\0'),
            "{function}: the prelude and its delimiter are not in the body: {:?}",
            raw.wire
        );
        let (first, second) = (raw.arrival("first chunk"), raw.arrival("second chunk"));
        assert!(
            second - first > APART,
            "{function}: the first chunk arrived at {first:.3} s, the second at {second:.3} s: not streamed"
        );
        assert!(raw.ended_cleanly(), "{function}: {:?}", raw.wire);

        // A function error mid-stream cuts the response short: no clean end of the chunked body.
        let raw = raw_get(&served.base, function, "/fail", &["first chunk"]).await;
        assert!(raw.head.starts_with("http/1.1 201"), "{function}\n{}", raw.head);
        assert!(raw.wire.contains("first chunk") && !raw.wire.contains("second chunk"), "{function}: {:?}", raw.wire);
        assert!(!raw.ended_cleanly(), "{function}: a failed stream must not look complete: {:?}", raw.wire);
    }

    // A function that does not stream, behind a RESPONSE_STREAM URL, answers as before.
    let raw = raw_get(&served.base, "NodeBuffered", "/", &["the whole response at once"]).await;
    assert!(raw.head.starts_with("http/1.1 200"), "{}", raw.head);
    raw.arrival("the whole response at once");
    served.stop().await;
}

/// `start-lambda` on `127.0.0.1:0`, stopped when dropped.
struct StartLambda {
    endpoint: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StartLambda {
    async fn serve(pools: Pools) -> StartLambda {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_start_lambda(listener, pools, async {
            let _ = stopped.await;
        }));
        StartLambda { endpoint, stop: Some(stop) }
    }
}

impl Drop for StartLambda {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn python() -> PathBuf {
    let python = std::env::var_os("INTERCEPT_SAM_PYTHON")
        .map_or_else(|| workspace().join("target/venv/bin/python"), PathBuf::from);
    assert!(
        python.is_file(),
        "no Python with boto3 at {}: run ./scripts/test.sh (it makes target/venv) or set INTERCEPT_SAM_PYTHON",
        python.display()
    );
    python
}

/// Runs the boto3 client script against `endpoint` and returns what it printed.
async fn boto3_stream(endpoint: &str, function: &str, payload: &str, log_type: &str) -> Value {
    let script = workspace().join("tests/fixtures/streaming/invoke_stream.py");
    let args = [script.display().to_string(), endpoint.to_owned(), function.to_owned(), payload.to_owned()];
    let mut command = Command::new(python());
    command.args(args).arg(log_type);
    let output = tokio::task::spawn_blocking(move || command.output()).await.expect("joins").expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "boto3 failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The arrival time of the first chunk whose text contains `text`.
fn chunk_arrival(result: &Value, text: &str) -> f64 {
    result["chunks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["text"].as_str().is_some_and(|t| t.contains(text)))
        .and_then(|c| c["at"].as_f64())
        .unwrap_or_else(|| panic!("no chunk with `{text}`: {result}"))
}

fn text(result: &Value) -> String {
    result["chunks"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_reads_invoke_with_response_stream_chunk_by_chunk() {
    let (_, pools) = pools().await;
    let server = StartLambda::serve(pools.clone()).await;
    let endpoint = server.endpoint.clone();

    for (function, error_code) in [("NodeStream", "Error"), ("RustStream", "Runtime.StreamError")] {
        let result = boto3_stream(&endpoint, function, r#"{"action": "chunks"}"#, "None").await;
        assert_eq!(result["status"], 200, "{result}");
        assert_eq!(result["content_type"], "application/vnd.awslambda.http-integration-response", "{result}");
        assert_eq!(result["executed_version"], "$LATEST", "{result}");
        let (first, second) = (chunk_arrival(&result, "first chunk"), chunk_arrival(&result, "second chunk"));
        assert!(second - first > APART, "{function}: chunks at {first:.3} s and {second:.3} s: not streamed: {result}");
        let complete = &result["complete"];
        assert!(complete["ErrorCode"].is_null(), "{function}: {result}");
        assert!(complete["at"].as_f64().is_some_and(|at| at >= second), "InvokeComplete comes last: {result}");
        assert!(text(&result).contains(r#""statusCode":201"#), "the prelude is part of the stream: {result}");

        let result = boto3_stream(&endpoint, function, r#"{"action": "fail"}"#, "None").await;
        assert!(text(&result).contains("first chunk") && !text(&result).contains("second chunk"), "{result}");
        assert_eq!(result["complete"]["ErrorCode"], error_code, "{function}: {result}");
        assert!(result["complete"]["ErrorDetails"].as_str().is_some_and(|d| !d.is_empty()), "{result}");
    }

    // A function that times out mid-stream: what it wrote, then Lambda's timeout error.
    let result = boto3_stream(&endpoint, "NodeSlow", r#"{"action": "hang"}"#, "None").await;
    assert!(text(&result).contains("first chunk"), "{result}");
    assert_eq!(result["complete"]["ErrorCode"], "Sandbox.Timedout", "{result}");

    // A function that does not stream: its whole response as one chunk, with the log tail asked for.
    let result = boto3_stream(&endpoint, "NodeBuffered", "{}", "Tail").await;
    let chunks = result["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), 1, "{result}");
    let body: Value = serde_json::from_str(chunks[0]["text"].as_str().expect("text")).expect("JSON");
    assert_eq!(body["body"], "the whole response at once", "{result}");
    assert!(result["complete"]["ErrorCode"].is_null(), "{result}");
    let log = result["complete"]["LogResult"].as_str().expect("LogResult with Tail");
    let log = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, log).expect("base64");
    assert!(String::from_utf8_lossy(&log).contains("REPORT RequestId"), "{}", String::from_utf8_lossy(&log));

    // Past Lambda's 200 MiB limit the stream stops with Lambda's error.
    let result = boto3_stream(&endpoint, "NodeStream", r#"{"action": "big"}"#, "None").await;
    assert_eq!(result["complete"]["ErrorCode"], "Function.ResponseSizeTooLarge", "{}", result["complete"]);
    let streamed: u64 = result["chunks"].as_array().into_iter().flatten().filter_map(|c| c["bytes"].as_u64()).sum();
    assert!(streamed <= 200 * 1024 * 1024, "{streamed} bytes went out past the limit");
    assert!(streamed > 6 * 1024 * 1024, "a stream may pass the buffered 6 MiB limit: {streamed} bytes");
    drop(server);
    for pool in pools.values() {
        pool.shutdown().await;
    }
}
