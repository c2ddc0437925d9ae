//! Intercept's Runtime API proxy under the emulator, with the layer attached and
//! `AWS_LAMBDA_EXEC_WRAPPER=/opt/intercept-wrapper`, in front of the real runtime clients:
//! Python's `awslambdaric` and Node's `aws-lambda-ric` (for streaming).

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use intercept_sam::sandbox::{Environment, FunctionSpec, Invoked, Outcome, ShutdownReason};
use intercept_sam::template::{BuildMethod, BuildSpec};
use intercept_sam::{CargoProfile, build_rust};
use intercept_tests::{Scratch, error, response, run_sam, workspace};
use serde_json::{Value, json};

const SECRET: &str = "proxy-test-secret";

fn fixture_dir() -> PathBuf {
    workspace().join("tests/fixtures/proxy")
}

fn extension_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let spec = BuildSpec { method: BuildMethod::RustCargoLambda, binary: Some("intercept-extension".to_owned()) };
        build_rust("intercept-extension", &workspace().join("extension"), &spec, &CargoProfile("dev".to_owned()))
            .expect("the extension builds")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

fn python() -> String {
    let python = std::env::var("INTERCEPT_SAM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = std::process::Command::new(&python).args(["-c", "import awslambdaric"]).status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "{python} cannot import awslambdaric: run ./scripts/test.sh, which installs it in target/venv"
    );
    python
}

/// A function with the Intercept layer (built by `intercept_layer::assemble`, wrapper included)
/// and the exec wrapper set, its proxy on a port of its own.
struct Proxied {
    scratch: Scratch,
    spec: FunctionSpec,
    port: u16,
}

impl Proxied {
    fn python(name: &str, wrapped: bool) -> Proxied {
        Proxied::python_handler(name, "app.handler", wrapped)
    }

    fn python_handler(name: &str, handler: &str, wrapped: bool) -> Proxied {
        let scratch = Scratch::new(name);
        let python = python();
        let mut spec =
            FunctionSpec::new("ProxiedFunction", "python3.11", PathBuf::from(&python), fixture_dir().join("python"));
        spec.handler = handler.to_owned();
        spec.bootstrap_args = vec!["-m".into(), "awslambdaric".into(), handler.into()];
        Proxied::attach(scratch, spec, wrapped)
    }

    fn attach(scratch: Scratch, mut spec: FunctionSpec, wrapped: bool) -> Proxied {
        let layer =
            intercept_layer::assemble(&scratch.path().join("layer"), &[extension_binary().clone()]).expect("layer");
        assert!(layer.join("intercept-wrapper").is_file(), "the layer ships the exec wrapper");
        spec.layer_dirs = vec![layer];
        spec.timeout = Duration::from_secs(10);
        let port = free_port();
        let env = &mut spec.environment;
        if wrapped {
            env.insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/opt/intercept-wrapper".into());
        }
        env.insert("INTERCEPT_PROXY_PORT".into(), port.to_string());
        env.insert("INTERCEPT_OTLP_LISTEN".into(), format!("127.0.0.1:{}", free_port()));
        env.insert("INTERCEPT_EXTENSION_LOG_FILE".into(), scratch.path().join("extension.log").display().to_string());
        env.insert("PROXY_RECORD_FILE".into(), scratch.path().join("calls.jsonl").display().to_string());
        Proxied { scratch, spec, port }
    }

    fn with(mut self, name: &str, value: &str) -> Proxied {
        self.spec.environment.insert(name.into(), value.into());
        self
    }

    async fn start(&self) -> Environment {
        Environment::start(self.spec.clone()).await.unwrap_or_else(|e| panic!("init failed: {e:?}"))
    }

    /// The request ids the handler was called with, in order.
    fn handler_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.scratch.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|call| call["request_id"].as_str().map(str::to_owned))
            .collect()
    }

    fn extension_log(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("extension.log")).unwrap_or_default()
    }
}

fn token(subject: &str) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 600;
    let claims = json!({ "sub": subject, "exp": exp, "scope": "orders:read" });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// An HTTP API (payload 2.0) event, with a bearer token when given one.
fn http_event(bearer: Option<&str>) -> Value {
    let mut headers = json!({ "user-agent": "proxy-test" });
    if let Some(token) = bearer {
        headers["authorization"] = format!("Bearer {token}").into();
    }
    json!({
        "version": "2.0", "routeKey": "GET /hello", "rawPath": "/hello", "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": { "method": "GET", "path": "/hello", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "proxy-test" },
            "requestId": "api-request", "routeKey": "GET /hello", "stage": "$default",
        },
        "isBase64Encoded": false,
    })
}

async fn invoke(env: &mut Environment, event: &Value) -> Invoked {
    env.invoke(Bytes::from(event.to_string())).await
}

/// The function's JSON body inside its HTTP response.
fn seen(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("JSON body")
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_requests_are_answered_by_the_proxy_and_never_reach_the_handler() {
    let fixture = Proxied::python("proxy-auth", true)
        .with("INTERCEPT_AUTH", "jwt")
        .with("INTERCEPT_JWT_SECRET", SECRET)
        .with("INTERCEPT_RATE_LIMIT", "2/m key=principal");
    let mut env = fixture.start().await;
    let alice = token("alice");

    let first = invoke(&mut env, &http_event(Some(&alice))).await;
    let answer = response(&first);
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body = seen(&answer);
    assert_eq!(body["runtime_api"], format!("127.0.0.1:{}", fixture.port), "the runtime talks to the proxy: {body}");
    assert_eq!(body["authorizer"]["jwt"]["claims"]["sub"], "alice", "the principal, as API Gateway adds it: {body}");
    assert_eq!(body["authorizer"]["jwt"]["scopes"], json!(["orders:read"]));
    let root = first.report.trace_header.split(';').next().expect("Root=").to_owned();
    assert!(body["trace_id"].as_str().is_some_and(|t| t.starts_with(&root)), "{body} vs {root}");

    let anonymous = invoke(&mut env, &http_event(None)).await;
    let refused = response(&anonymous);
    assert_eq!(refused["statusCode"], 401, "{refused}");
    assert_eq!(refused["headers"]["www-authenticate"], "Bearer");

    let second = invoke(&mut env, &http_event(Some(&alice))).await;
    assert_eq!(response(&second)["statusCode"], 200);
    let over = invoke(&mut env, &http_event(Some(&alice))).await;
    let limited = response(&over);
    assert_eq!(limited["statusCode"], 429, "{limited}");
    assert!(limited["headers"]["retry-after"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()), "{limited}");

    // Not an HTTP trigger: the rejection is an invocation error with a stable type.
    let queued = invoke(&mut env, &json!({ "Records": [] })).await;
    assert_eq!(error(&queued).error_type, "Intercept.Unauthorized", "{:?}", queued.outcome);

    let still = invoke(&mut env, &http_event(Some(&token("bob")))).await;
    assert_eq!(response(&still)["statusCode"], 200, "the proxy keeps serving after rejections");

    let admitted = [&first, &second, &still].map(|i| i.report.request_id.clone());
    assert_eq!(fixture.handler_calls(), admitted, "only admitted requests reached the handler");
    env.shutdown(ShutdownReason::Spindown).await;
    let log = fixture.extension_log();
    assert_eq!(log.matches("request rejected by the proxy").count(), 3, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn function_errors_pass_through_unchanged() {
    let mut outcomes = Vec::new();
    for wrapped in [false, true] {
        let fixture = Proxied::python(&format!("proxy-error-{wrapped}"), wrapped);
        let mut env = fixture.start().await;
        let failed = invoke(&mut env, &json!({ "action": "error" })).await;
        let mut document = error(&failed).clone();
        assert_eq!(document.body["requestId"], failed.report.request_id.as_str(), "{:?}", document.body);
        document.body["requestId"] = Value::Null;
        let ok = invoke(&mut env, &json!({ "hello": 1 })).await;
        let expected_api = if wrapped { format!("127.0.0.1:{}", fixture.port) } else { env.api_addr().to_string() };
        assert_eq!(seen(&response(&ok))["runtime_api"], expected_api.as_str());
        outcomes.push(document);
        env.shutdown(ShutdownReason::Spindown).await;
    }
    assert_eq!(outcomes[0].error_type, "ValueError");
    assert_eq!(outcomes[0].error_message, "the proxied handler failed on purpose");
    assert_eq!(outcomes[1], outcomes[0], "the error document is the same with and without the proxy");
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_responses_and_their_error_trailers_pass_through() {
    let ric = std::env::var("INTERCEPT_SAM_NODE_RIC").expect(
        "INTERCEPT_SAM_NODE_RIC is not set: run ./scripts/test.sh, which installs aws-lambda-ric in target/node",
    );
    let entry = PathBuf::from(&ric).join("bin/index.mjs");
    assert!(entry.is_file(), "{} is missing: run ./scripts/test.sh", entry.display());
    let mut results = Vec::new();
    for wrapped in [false, true] {
        let mut spec =
            FunctionSpec::new("StreamingFunction", "nodejs20.x", PathBuf::from("node"), fixture_dir().join("node"));
        spec.handler = "index.handler".to_owned();
        spec.bootstrap_args = vec![entry.display().to_string(), "index.handler".into()];
        let fixture = Proxied::attach(Scratch::new(&format!("proxy-stream-{wrapped}")), spec, wrapped);
        let mut env = fixture.start().await;
        let streamed = invoke(&mut env, &json!({})).await;
        let Outcome::Response(body) = &streamed.outcome else {
            panic!("expected a stream, got {:?}", streamed.outcome)
        };
        let text = String::from_utf8_lossy(body).into_owned();
        let (first_line, rest) = text.split_once('\n').expect("lines");
        let api = if wrapped { format!("127.0.0.1:{}", fixture.port) } else { env.api_addr().to_string() };
        assert_eq!(first_line, format!("runtime_api={api}"));
        assert_eq!(rest, "chunk 0\nchunk 1\nchunk 2\n");
        let failed = invoke(&mut env, &json!({ "action": "fail" })).await;
        let document = error(&failed).clone();
        assert_eq!(document.error_type, "RangeError", "the error trailer arrived: {document:?}");
        assert_eq!(document.error_message, "the stream failed on purpose");
        results.push((rest.to_owned(), document));
        env.shutdown(ShutdownReason::Spindown).await;
    }
    assert_eq!(results[1].0, results[0].0);
    assert_eq!(results[1].1.error_type, results[0].1.error_type);
    assert_eq!(results[1].1.error_message, results[0].1.error_message);
}

/// Sends raw bytes and reads the whole answer (the connection is closed after one request).
fn raw_exchange(addr: &str, request: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_the_runtime_apis_own_answers() {
    let mut fixture = Proxied::python("proxy-malformed", true);
    // The proxy lives in the extension, which is frozen between invocations as on Lambda.
    fixture.spec.freeze = false;
    let mut env = fixture.start().await;
    let answered = invoke(&mut env, &json!({ "hello": 1 })).await;
    assert_eq!(seen(&response(&answered))["runtime_api"], format!("127.0.0.1:{}", fixture.port));
    let direct = env.api_addr().to_string();
    let proxied = format!("127.0.0.1:{}", fixture.port);
    let id = &answered.report.request_id;
    let close = "Connection: close\r\n";
    let cases = [
        format!(
            "POST /2018-06-01/runtime/invocation/not-a-request/response HTTP/1.1\r\nHost: x\r\n{close}Content-Length: 2\r\n\r\n{{}}"
        ),
        format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\n{close}Content-Length: 2\r\n\r\n{{}}"
        ),
        format!(
            "POST /2018-06-01/runtime/invocation/{id}/error HTTP/1.1\r\nHost: x\r\n{close}Content-Length: 9\r\n\r\nnot json!"
        ),
        format!("GET /2018-06-01/runtime/invocation/nothing-here HTTP/1.1\r\nHost: x\r\n{close}\r\n"),
        format!("PUT /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n{close}Content-Length: 0\r\n\r\n"),
        format!("DELETE /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\n{close}\r\n"),
        "NOT HTTP AT ALL\r\n\r\n".to_owned(),
    ];
    for case in &cases {
        let want = raw_exchange(&direct, case);
        let got = raw_exchange(&proxied, case);
        assert!(!want.0.is_empty(), "the Runtime API answers {case:?}");
        assert_eq!(got, want, "the proxy answers {case:?} as the Runtime API does");
    }
    let again = invoke(&mut env, &json!({ "hello": 2 })).await;
    assert_eq!(seen(&response(&again))["runtime_api"], proxied, "the proxy still serves");
    env.shutdown(ShutdownReason::Spindown).await;
}

/// Runs `local invoke` of the fixture template with this run's port and record file.
fn local_invoke(scratch: &Scratch, port: u16, fail: &str, events: &[Value]) -> intercept_tests::Output {
    // Each run lays the template's layer out in the same folder; two processes at once would race.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let env_file = scratch.path().join("env.json");
    let record = scratch.path().join("calls.jsonl").display().to_string();
    let vars = json!({ "ProxiedFunction": {
        "INTERCEPT_PROXY_PORT": port.to_string(), "INTERCEPT_PROXY_FAIL": fail, "PROXY_RECORD_FILE": record,
    } });
    std::fs::write(&env_file, vars.to_string()).expect("env file");
    let mut args = vec!["local".to_owned(), "invoke".into(), "ProxiedFunction".into()];
    args.extend(["-t".into(), "tests/fixtures/proxy/template.yaml".into(), "--cargo-profile".into(), "dev".into()]);
    args.extend(["-n".into(), env_file.display().to_string()]);
    for (i, event) in events.iter().enumerate() {
        let path = scratch.path().join(format!("event-{i}.json"));
        std::fs::write(&path, event.to_string()).expect("event file");
        args.extend(["-e".into(), path.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_sam(&args, Duration::from_secs(600))
}

#[test]
fn the_template_layer_brings_the_wrapper_and_the_proxy_enforces() {
    let scratch = Scratch::new("proxy-template");
    let out = local_invoke(&scratch, free_port(), "closed", &[http_event(Some(&token("carol"))), http_event(None)]);
    let answers = out.json_lines();
    assert_eq!(answers.len(), 2, "{out:#?}");
    assert_eq!(answers[0]["statusCode"], 200, "{out:#?}");
    assert_eq!(answers[1]["statusCode"], 401, "{out:#?}");
    let calls = std::fs::read_to_string(scratch.path().join("calls.jsonl")).unwrap_or_default();
    assert_eq!(calls.lines().count(), 1, "only the authenticated request reached the handler: {calls}");

    // The proxy opens the invocation's span as the in-process layer does, under Lambda's trace.
    let spans = intercept_tests::printed_spans(&out.stderr);
    let reports = intercept_tests::reports(&out.stderr);
    assert_eq!(reports.len(), 2, "{}", out.stderr);
    for ((_, _, xray_trace, segment), decision) in reports.iter().zip(["allowed", "rejected"]) {
        let trace = xray_trace.strip_prefix("1-").unwrap_or(xray_trace).replace('-', "");
        let server = spans
            .iter()
            .find(|s| s.trace_id == trace && s.name == "GET /hello")
            .unwrap_or_else(|| panic!("no server span in trace {trace}: {}", out.stderr));
        assert_eq!(&server.parent, segment, "parented on Lambda's segment: {server:?}");
        assert!(server.attributes.contains(&format!("intercept.decision={decision}")), "{server:?}");
        let children: Vec<&str> =
            spans.iter().filter(|s| s.parent == server.span_id).map(|s| s.name.as_str()).collect();
        assert!(children.contains(&"authentication"), "{children:?}");
        assert_eq!(children.contains(&"handler"), decision == "allowed", "{children:?}");
        if decision == "allowed" {
            // The function's own SDK continues from the handler span: through
            // `_X_AMZN_TRACE_ID` (the rewritten `Lambda-Runtime-Trace-Id`) and the event's `traceparent`.
            let handler = spans
                .iter()
                .find(|s| s.parent == server.span_id && s.name == "handler")
                .unwrap_or_else(|| panic!("no handler span: {}", out.stderr));
            let body = seen(&answers[0]);
            assert_eq!(body["traceparent"], format!("00-{trace}-{}-01", handler.span_id), "{body}");
            let xray = body["trace_id"].as_str().unwrap_or_default();
            assert!(xray.starts_with(&format!("Root={xray_trace};Parent={};", handler.span_id)), "{xray}");
        }
    }
}

#[test]
fn with_the_port_taken_the_function_answers_only_when_failing_open() {
    let scratch = Scratch::new("proxy-port-taken");
    // Something else holds the port and answers HTTP, but is not Intercept's proxy.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = squatter.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in squatter.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let out = local_invoke(&scratch, port, "open", &[http_event(None)]);
    let answers = out.json_lines();
    assert_eq!(answers.len(), 1, "{out:#?}");
    let body = seen(&answers[0]);
    assert_ne!(body["runtime_api"], format!("127.0.0.1:{port}"), "the runtime kept Lambda's endpoint: {body}");
    assert!(
        out.stderr.contains(&format!("Runtime API proxy cannot listen on 127.0.0.1:{port}")),
        "the extension says why: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("intercept-wrapper: WARNING: requests are NOT intercepted")
            && out.stderr.contains("is not Intercept's proxy"),
        "the wrapper says so loudly: {}",
        out.stderr
    );

    // Failing closed (the default), no runtime starts without its proxy: init fails, and the
    // handler never sees the request.
    let closed = Scratch::new("proxy-port-taken-closed");
    let out = local_invoke(&closed, port, "closed", &[http_event(None)]);
    assert!(!out.stdout.contains("runtime_api"), "the handler must not run unprotected: {out:#?}");
    assert!(
        out.stderr.contains("intercept-wrapper: ERROR: no Runtime API proxy")
            && out.stderr.contains("not starting the runtime unprotected"),
        "the wrapper says why: {}",
        out.stderr
    );
    let record = closed.path().join("calls.jsonl");
    assert!(std::fs::read_to_string(&record).unwrap_or_default().is_empty(), "no call was recorded");
}

/// The pid of the `intercept-extension` serving `port` (found by its environment).
fn extension_pid(port: u16) -> Option<u32> {
    let marker = format!("INTERCEPT_PROXY_PORT={port}");
    std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let environ = std::fs::read(entry.path().join("environ")).ok()?;
        let is_extension = String::from_utf8_lossy(&cmdline).contains("extensions/intercept-extension");
        let serves_port = environ.split(|b| *b == 0).any(|var| var == marker.as_bytes());
        (is_extension && serves_port).then_some(pid)
    })
}

/// An extension that dies takes its environment down, as on Lambda (the runtime loses its
/// Runtime API mid-`next` and exits); the next environment's proxy serves again. An extension
/// that is gone before the runtime starts is the port-taken case: the wrapper finds no proxy.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_extension_killed_the_function_still_answers() {
    let fixture = Proxied::python("proxy-killed", true);
    let mut env = fixture.start().await;
    let first = invoke(&mut env, &json!({ "n": 1 })).await;
    assert_eq!(seen(&response(&first))["runtime_api"], format!("127.0.0.1:{}", fixture.port));
    let pid = extension_pid(fixture.port).expect("the extension is running");
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill");
    assert!(killed.success());

    let broken = invoke(&mut env, &json!({ "n": 2 })).await;
    assert_eq!(error(&broken).error_type, "Runtime.ExitError", "the failure is reported: {:?}", broken.outcome);
    assert!(!env.is_reusable(), "a broken environment is replaced, as Lambda replaces it");
    let reason = env.shutdown_reason();
    env.shutdown(reason).await;

    let mut fresh = fixture.start().await;
    let answered = invoke(&mut fresh, &json!({ "n": 3 })).await;
    assert_eq!(seen(&response(&answered))["runtime_api"], format!("127.0.0.1:{}", fixture.port));
    assert_eq!(fixture.handler_calls(), [first.report.request_id, answered.report.request_id]);
    fresh.shutdown(ShutdownReason::Spindown).await;
}

/// The payload the exactness test sends: integers past `u64`, a decimal longer than an `f64`
/// keeps, unsorted keys, nested objects, escapes; and the same text as a string, for the
/// handler to compare with what it got.
const PAYLOAD: &str = r#"{"zeta": 18446744073709551617, "big": -123456789012345678901234, "decimal": 0.1000000000000000055511151231257827, "alpha": "caf\u00e9", "nested": {"y": 1.50, "b": [3, 2, 1], "a": null}}"#;

/// An HTTP API event around `PAYLOAD`, its keys in no particular order.
fn exact_event(bearer: Option<&str>) -> String {
    let authorization = bearer.map(|token| format!(r#""authorization": "Bearer {token}", "#)).unwrap_or_default();
    let original = serde_json::to_string(PAYLOAD).expect("a JSON string");
    format!(
        r#"{{"version": "2.0", "routeKey": "POST /orders", "rawPath": "/orders", "rawQueryString": "",
        "payload": {PAYLOAD}, "original": {original},
        "headers": {{{authorization}"x-b": "2", "x-a": "1", "user-agent": "proxy-test"}},
        "requestContext": {{"stage": "$default", "http": {{"sourceIp": "203.0.113.7", "path": "/orders", "method": "POST", "userAgent": "proxy-test", "protocol": "HTTP/1.1"}}, "requestId": "api-request", "routeKey": "POST /orders",
            "authorizer": {{"jwt": {{"claims": {{"sub": "mallory"}}, "scopes": ["admin"]}}}}}},
        "isBase64Encoded": false, "body": "{{\"n\": 100000000000000000001}}"}}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_the_handler_as_lambda_delivered_them() {
    let fixture = Proxied::python_handler("proxy-exact", "exact.handler", true)
        .with("INTERCEPT_AUTH", "jwt")
        .with("INTERCEPT_JWT_SECRET", SECRET);
    let mut env = fixture.start().await;
    let alice = token("alice");
    let sent = exact_event(Some(&alice));
    let invoked = env.invoke(Bytes::from(sent.clone())).await;
    let body = seen(&response(&invoked));
    assert_eq!(body["same"], true, "the payload as Python reads it is the payload as written: {body}");
    assert_eq!(body["types"], json!(["int", "int", "float", "str", "dict"]), "{body}");
    let keys = ["version", "routeKey", "rawPath", "rawQueryString", "payload", "original", "headers"];
    let keys = [&keys[..], &["requestContext", "isBase64Encoded", "body"]].concat();
    assert_eq!(body["keys"], json!(keys), "key order kept: {body}");
    // The principal replaced the authorizer the caller wrote; everything else is as sent.
    assert_eq!(body["authorizer"]["jwt"]["claims"]["sub"], "alice", "{body}");
    assert_eq!(body["authorizer"]["jwt"]["scopes"], json!(["orders:read"]), "{body}");
    // As Python reads the event that was sent (key order kept by `json`, as by the handler's).
    let as_sent = |expression: &str| -> String {
        let script = format!("import json,sys; e = json.loads(sys.stdin.read()); print(json.dumps({expression}))");
        let mut child = std::process::Command::new(python())
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python");
        child.stdin.take().expect("stdin").write_all(sent.as_bytes()).expect("write");
        String::from_utf8(child.wait_with_output().expect("python").stdout).expect("utf-8").trim().to_owned()
    };
    let context = as_sent(r#"{k: v for k, v in e["requestContext"].items() if k != "authorizer"}"#);
    assert_eq!(body["request_context"].as_str(), Some(context.as_str()), "the request context as sent");
    // The headers as sent, the handler span's `traceparent` added last.
    let headers = as_sent(r#"e["headers"]"#);
    let got = body["headers"].as_str().unwrap_or_default();
    assert!(got.starts_with(headers.trim_end_matches('}')) && got.contains(r#", "traceparent": "00-"#), "{got}");
    assert_eq!(body["payload"], body["original"]);
    assert!(body["payload"].as_str().is_some_and(|p| p.contains("18446744073709551617")), "{body}");
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_a_handler_logs_never_leave_in_otlp_logs() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, any_value};
    use prost::Message as _;
    /// The trace id `exact.exporting_handler` gives its record.
    const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";

    let (endpoint, received) = intercept_tests::start_otlp_collector().await;
    let fixture = Proxied::python_handler("proxy-scrub", "exact.exporting_handler", true)
        .with("INTERCEPT_AUTH", "jwt")
        .with("INTERCEPT_JWT_SECRET", SECRET)
        .with("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .with("OTEL_EXPORTER_OTLP_COMPRESSION", "none");
    let mut env = fixture.start().await;
    let alice = token("alice");
    let session = "s3ss10n-7f9c2a61d4e8";
    let api_key = "ak_live_51HxQ2eKz9";
    // Edited as text: a round trip through serde_json would change the payload's numbers.
    let extra = format!(r#""cookie": "theme=dark; session={session}", "x-api-key": "{api_key}", "x-b""#);
    let event = exact_event(Some(&alice)).replacen(r#""x-b""#, &extra, 1);
    let invoked = env.invoke(Bytes::from(event)).await;
    assert_eq!(seen(&response(&invoked))["same"], true);
    env.shutdown(ShutdownReason::Spindown).await;

    let received = received.lock().expect("lock").clone();
    let logs: Vec<&Bytes> = received.iter().filter(|(path, _)| path == "/v1/logs").map(|(_, body)| body).collect();
    assert!(!logs.is_empty(), "the extension exported logs: {:?}", received.iter().map(|r| &r.0).collect::<Vec<_>>());
    let mut texts = Vec::new();
    // The record the handler posted to the extension's OTLP receiver itself, as an SDK would.
    let mut sent_by_handler = Vec::new();
    for body in &logs {
        let request = ExportLogsServiceRequest::decode(&body[..]).expect("OTLP logs");
        for record in request.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records) {
            let from_handler = record.attributes.iter().any(|a| {
                a.key == "log.source"
                    && a.value.as_ref().and_then(|v| v.value.as_ref())
                        == Some(&any_value::Value::StringValue("otlp-handler".to_owned()))
            });
            if from_handler {
                sent_by_handler.push(record.clone());
            }
            if let Some(any_value::Value::StringValue(text)) = record.body.as_ref().and_then(|b| b.value.as_ref()) {
                texts.push(text.clone());
            }
            for attribute in &record.attributes {
                texts.push(format!("{}={:?}", attribute.key, attribute.value));
            }
        }
    }
    let all = texts.join("\n");
    let printed = texts.iter().filter(|t| t.contains("proxy-test") && t.contains("18446744073709551617")).count();
    assert_eq!(printed, 3, "both prints and the OTLP record of the event were exported, the rest kept:\n{all}");
    let [record] = &sent_by_handler[..] else { panic!("one record from the handler's own export:\n{all}") };
    let body = format!("{:?}", record.body);
    assert!(body.contains(r#"\"authorization\": \"[REDACTED]\""#) && body.contains("proxy-test"), "{body}");
    assert_eq!((record.severity_number, &record.severity_text[..]), (9, "INFO"));
    assert_eq!(record.trace_id, hex::decode(TRACE_ID).expect("hex"), "the trace id kept");
    let attribute =
        |key: &str| record.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.clone()).and_then(|v| v.value);
    let text = |text: &str| any_value::Value::StringValue(text.to_owned());
    let redacted = AnyValue { value: Some(text("[REDACTED]")) };
    assert_eq!(
        attribute("http.request.header.authorization"),
        Some(any_value::Value::ArrayValue(ArrayValue { values: vec![redacted] }))
    );
    let Some(any_value::Value::KvlistValue(headers)) = attribute("headers") else { panic!("{:?}", record.attributes) };
    let header = |name: &str| {
        headers.values.iter().find(|kv| kv.key == name).and_then(|kv| kv.value.clone()).and_then(|v| v.value)
    };
    for name in ["authorization", "cookie", "x-api-key"] {
        assert_eq!(header(name), Some(text("[REDACTED]")), "{name}");
    }
    assert_eq!((header("user-agent"), header("x-b")), (Some(text("proxy-test")), Some(text("2"))));
    for kept in
        [r#""x-b": "2""#, "'user-agent': 'proxy-test'", r#""authorization": "[REDACTED]""#, "'x-api-key': '[REDACTED]'"]
    {
        assert!(all.contains(kept), "{kept} in the exported lines:\n{all}");
    }
    for secret in [alice.as_str(), session, api_key] {
        assert!(!all.contains(secret), "{secret} leaked in a log record:\n{all}");
        for body in &logs {
            assert!(!body.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} leaked in an export");
        }
    }
}
