//! Response streaming end to end: a Node.js function on aws-lambda-ric (`streamifyResponse`) and
//! a Rust function on `lambda_runtime`'s streaming response, behind `RESPONSE_STREAM` function
//! URLs read by a raw HTTP client, and through `InvokeWithResponseStream` read by boto3.
//!
//! Each streaming function writes a chunk, then waits until the file the event names (its gate)
//! exists before it writes another; the test creates the gate only once it has received the
//! first chunk. A response held back until the function ends never lets it: the function times
//! out (15 s) and the second chunk never comes. No timing is measured.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use intercept_sam::api::Gateway;
use intercept_sam::{Pools, prepare, serve_start_lambda};
use intercept_tests::{Scratch, ServedApi, dev_options, workspace};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TEMPLATE: &str = "tests/fixtures/streaming/template.yaml";

/// What a streaming function's caller says when the second chunk is missing.
const BUFFERED: &str = "the first chunk did not reach the caller while the function ran (it waits for the caller \
                        to have seen it, then writes the second): the response was held back, not streamed";

async fn pools() -> (intercept_sam::template::Template, Pools) {
    prepare(&dev_options(TEMPLATE)).await.unwrap_or_else(|e| panic!("{e}"))
}

/// What a raw HTTP/1.1 client saw: the response head, the body bytes as sent on the wire
/// (chunked), and whether the body ended cleanly.
struct Raw {
    head: String,
    wire: String,
}

impl Raw {
    fn ended_cleanly(&self) -> bool {
        self.wire.ends_with("0\r\n\r\n")
    }
}

/// Creates the file a streaming function waits for before its second chunk.
fn open_gate(gate: &Path) {
    std::fs::write(gate, b"").unwrap_or_else(|e| panic!("cannot create the gate {}: {e}", gate.display()));
}

/// Sends `GET path` to the function URL of `function` and reads until the server closes the
/// connection. With a `gate`, it goes in the query string and is created as soon as the first
/// chunk has been received.
async fn raw_get(base: &str, function: &str, path: &str, gate: Option<&Path>) -> Raw {
    let address = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connects");
    let query = gate.map(|gate| format!("?gate={}", gate.display())).unwrap_or_default();
    let request = format!(
        "GET {path}{query} HTTP/1.1\r\nHost: {}.localhost\r\nConnection: close\r\n\r\n",
        function.to_ascii_lowercase()
    );
    socket.write_all(request.as_bytes()).await.expect("sends");
    let mut received = Vec::new();
    let mut gate = gate;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(60), socket.read(&mut buffer))
            .await
            .expect("the response ends within a minute");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
        if let Some(path) = gate
            && String::from_utf8_lossy(&received).contains("first chunk")
        {
            open_gate(path);
            gate = None;
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, wire) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Raw { head: head.to_ascii_lowercase(), wire: wire.to_owned() }
}

#[tokio::test(flavor = "multi_thread")]
async fn response_stream_function_urls_deliver_chunks_as_the_function_writes_them() {
    let (template, pools) = pools().await;
    let served = ServedApi::serve(Gateway::new(&template, pools.clone()), pools).await;
    let scratch = Scratch::new("streaming-urls");

    for (function, runtime) in [("NodeStream", "node"), ("RustStream", "rust")] {
        let gate = scratch.path().join(format!("{function}-chunks"));
        let raw = raw_get(&served.base, function, "/", Some(&gate)).await;
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
        assert!(raw.wire.contains("first chunk"), "{function}: {:?}", raw.wire);
        assert!(raw.wire.contains("second chunk"), "{function}: {BUFFERED}: {:?}", raw.wire);
        assert!(raw.ended_cleanly(), "{function}: {:?}", raw.wire);

        // A function error mid-stream cuts the response short: no clean end of the chunked body.
        let gate = scratch.path().join(format!("{function}-fail"));
        let raw = raw_get(&served.base, function, "/fail", Some(&gate)).await;
        assert!(gate.exists(), "{function}: {BUFFERED}: {:?}", raw.wire);
        assert!(raw.head.starts_with("http/1.1 201"), "{function}\n{}", raw.head);
        assert!(raw.wire.contains("first chunk") && !raw.wire.contains("second chunk"), "{function}: {:?}", raw.wire);
        assert!(!raw.ended_cleanly(), "{function}: a failed stream must not look complete: {:?}", raw.wire);
    }

    // A function that does not stream, behind a RESPONSE_STREAM URL, answers as before.
    let raw = raw_get(&served.base, "NodeBuffered", "/", None).await;
    assert!(raw.head.starts_with("http/1.1 200"), "{}", raw.head);
    assert!(raw.wire.contains("the whole response at once"), "{:?}", raw.wire);
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

/// Runs the boto3 client script against `endpoint` and returns what it printed. With a `gate`,
/// the event names it and the script creates it once the first chunk has arrived.
async fn boto3_stream(endpoint: &str, function: &str, payload: &str, log_type: &str, gate: Option<&Path>) -> Value {
    let script = workspace().join("tests/fixtures/streaming/invoke_stream.py");
    let mut payload: Value = serde_json::from_str(payload).expect("a JSON payload");
    if let Some(gate) = gate {
        payload["gate"] = gate.display().to_string().into();
    }
    let args = [script.display().to_string(), endpoint.to_owned(), function.to_owned(), payload.to_string()];
    let mut command = Command::new(python());
    command.args(args).arg(log_type);
    if let Some(gate) = gate {
        command.arg(gate);
    }
    let output = tokio::task::spawn_blocking(move || command.output()).await.expect("joins").expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "boto3 failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn text(result: &Value) -> String {
    result["chunks"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_reads_invoke_with_response_stream_chunk_by_chunk() {
    let (_, pools) = pools().await;
    let server = StartLambda::serve(pools.clone()).await;
    let endpoint = server.endpoint.clone();
    let scratch = Scratch::new("streaming-boto3");

    for (function, error_code) in [("NodeStream", "Error"), ("RustStream", "Runtime.StreamError")] {
        let gate = scratch.path().join(format!("{function}-chunks"));
        let result = boto3_stream(&endpoint, function, r#"{"action": "chunks"}"#, "None", Some(&gate)).await;
        assert_eq!(result["status"], 200, "{result}");
        assert_eq!(result["content_type"], "application/vnd.awslambda.http-integration-response", "{result}");
        assert_eq!(result["executed_version"], "$LATEST", "{result}");
        assert!(text(&result).contains("first chunk"), "{function}: {result}");
        assert!(text(&result).contains("second chunk"), "{function}: {BUFFERED}: {result}");
        let complete = &result["complete"];
        assert!(complete["ErrorCode"].is_null(), "{function}: {result}");
        let chunks = result["chunks"].as_array().expect("chunks");
        assert!(chunks.len() >= 2, "{function}: the chunks came apart: {result}");
        assert!(text(&result).contains(r#""statusCode":201"#), "the prelude is part of the stream: {result}");

        let gate = scratch.path().join(format!("{function}-fail"));
        let result = boto3_stream(&endpoint, function, r#"{"action": "fail"}"#, "None", Some(&gate)).await;
        assert!(gate.exists(), "{function}: {BUFFERED}: {result}");
        assert!(text(&result).contains("first chunk") && !text(&result).contains("second chunk"), "{result}");
        assert_eq!(result["complete"]["ErrorCode"], error_code, "{function}: {result}");
        assert!(result["complete"]["ErrorDetails"].as_str().is_some_and(|d| !d.is_empty()), "{result}");
    }

    // A function that times out mid-stream: what it wrote, then Lambda's timeout error.
    let result = boto3_stream(&endpoint, "NodeSlow", r#"{"action": "hang"}"#, "None", None).await;
    assert!(text(&result).contains("first chunk"), "{result}");
    assert_eq!(result["complete"]["ErrorCode"], "Sandbox.Timedout", "{result}");

    // A function that does not stream: its whole response as one chunk, with the log tail asked for.
    let result = boto3_stream(&endpoint, "NodeBuffered", "{}", "Tail", None).await;
    let chunks = result["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), 1, "{result}");
    let body: Value = serde_json::from_str(chunks[0]["text"].as_str().expect("text")).expect("JSON");
    assert_eq!(body["body"], "the whole response at once", "{result}");
    assert!(result["complete"]["ErrorCode"].is_null(), "{result}");
    let log = result["complete"]["LogResult"].as_str().expect("LogResult with Tail");
    let log = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, log).expect("base64");
    assert!(String::from_utf8_lossy(&log).contains("REPORT RequestId"), "{}", String::from_utf8_lossy(&log));

    // Past Lambda's 200 MiB limit the stream stops with Lambda's error.
    let result = boto3_stream(&endpoint, "NodeStream", r#"{"action": "big"}"#, "None", None).await;
    assert_eq!(result["complete"]["ErrorCode"], "Function.ResponseSizeTooLarge", "{}", result["complete"]);
    let streamed: u64 = result["chunks"].as_array().into_iter().flatten().filter_map(|c| c["bytes"].as_u64()).sum();
    assert!(streamed <= 200 * 1024 * 1024, "{streamed} bytes went out past the limit");
    assert!(streamed > 6 * 1024 * 1024, "a stream may pass the buffered 6 MiB limit: {streamed} bytes");

    // Each route takes its own invocation types: InvokeWithResponseStream has no `Event`.
    let http = reqwest::Client::new();
    for (route, invocation_type, status, allowed) in [
        ("2021-11-15/functions/NodeBuffered/response-streaming-invocations", "Event", 400, "RequestResponse, DryRun"),
        ("2021-11-15/functions/NodeBuffered/response-streaming-invocations", "DryRun", 204, ""),
        ("2015-03-31/functions/NodeBuffered/invocations", "Bogus", 400, "RequestResponse, Event, DryRun"),
        ("2015-03-31/functions/NodeBuffered/invocations", "DryRun", 204, ""),
    ] {
        let answer = http
            .post(format!("{endpoint}/{route}"))
            .header("x-amz-invocation-type", invocation_type)
            .body("{}")
            .send()
            .await
            .expect("the Invoke API answers");
        assert_eq!(answer.status().as_u16(), status, "{route} with {invocation_type}");
        if status == 400 {
            assert_eq!(answer.headers()["x-amzn-errortype"], "InvalidParameterValueException");
            let body = answer.text().await.expect("body");
            let named = format!("X-Amz-Invocation-Type `{invocation_type}` is not one of {allowed}");
            assert!(body.contains(&named), "{route}: {body}");
        }
    }
    drop(server);
    for pool in pools.values() {
        pool.shutdown().await;
    }
}
