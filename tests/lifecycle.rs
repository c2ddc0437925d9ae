//! The execution environment against the real runtime clients: `lambda_runtime` functions,
//! the `lambda-extension` crate's extension with a telemetry processor, and Python's
//! `awslambdaric`. Each lifecycle case of Lambda has a test here.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use intercept_sam::sandbox::{Environment, FunctionSpec, Invoked, Outcome, ShutdownReason};
use intercept_sam::template::{BuildMethod, BuildSpec};
use intercept_sam::{CargoProfile, build_rust};
use intercept_tests::{Scratch, error, response, workspace};
use serde_json::{Value, json};

fn fixture_dir() -> PathBuf {
    workspace().join("tests/fixtures/lifecycle")
}

fn build(binary: &str) -> PathBuf {
    let spec = BuildSpec { method: BuildMethod::RustCargoLambda, binary: Some(binary.to_owned()) };
    build_rust(binary, &fixture_dir(), &spec, &CargoProfile("dev".to_owned())).expect("fixture builds")
}

fn function_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| build("fixture-function"))
}

fn extension_binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| build("fixture-extension"))
}

/// A function with the recording extension attached, in its own scratch folder.
struct Fixture {
    scratch: Scratch,
    spec: FunctionSpec,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let scratch = Scratch::new(name);
        let layer =
            intercept_layer::assemble(&scratch.path().join("layer"), &[extension_binary().clone()]).expect("layer");
        let mut spec = FunctionSpec::new("Fixture", "provided.al2023", function_binary().clone(), fixture_dir());
        spec.layer_dirs = vec![layer];
        spec.timeout = Duration::from_secs(5);
        spec.environment
            .insert("FIXTURE_EXTENSION_LOG".into(), scratch.path().join("extension.log").display().to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        spec.environment.insert("FIXTURE_TELEMETRY_PORT".into(), port.to_string());
        Fixture { scratch, spec }
    }

    async fn start(&self) -> Environment {
        Environment::start(self.spec.clone()).await.unwrap_or_else(|e| panic!("init failed: {e:?}"))
    }

    /// What the recording extension wrote, one JSON document per line.
    fn extension_log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.scratch.path().join("extension.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn telemetry_types(&self) -> Vec<String> {
        self.extension_log()
            .iter()
            .filter(|e| e["kind"] == "telemetry")
            .filter_map(|e| e["event"]["type"].as_str().map(str::to_owned))
            .collect()
    }
}

async fn invoke(env: &mut Environment, event: Value) -> Invoked {
    env.invoke(Bytes::from(event.to_string())).await
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn runtime_api_gives_lambda_runtime_what_lambda_gives() {
    let fixture = Fixture::new("contract");
    let mut env = fixture.start().await;
    let before = now_ms();
    let invoked = invoke(&mut env, json!({"action": "echo", "n": 1})).await;
    let body = response(&invoked);
    assert_eq!(body["echo"]["n"], 1);
    assert_eq!(body["request_id"], invoked.report.request_id.as_str());
    let deadline = body["deadline_ms"].as_u64().expect("deadline");
    assert!(deadline >= before + 4_000 && deadline <= now_ms() + 5_000, "epoch deadline {deadline}, now {before}");
    assert_eq!(body["trace"], invoked.report.trace_header.as_str());
    assert!(invoked.report.trace_header.starts_with("Root=1-") && invoked.report.trace_header.contains(";Parent="));
    assert_eq!(body["arn"], "arn:aws:lambda:us-east-1:123456789012:function:Fixture");
    let env_vars = &body["env"];
    let api = env_vars["AWS_LAMBDA_RUNTIME_API"].as_str().expect("runtime api");
    assert!(api.starts_with("127.0.0.1:") && !api.contains('/'), "host:port only: {api}");
    assert_eq!(env_vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env_vars["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env_vars["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env_vars["AWS_EXECUTION_ENV"], "AWS_Lambda_provided.al2023");
    assert_eq!(env_vars["TZ"], ":UTC");
    assert_eq!(env_vars["_HANDLER"], "bootstrap");
    // A private mount namespace gives real Lambda paths (root on Linux, as CI runs).
    assert_eq!(body["task_root"], "/var/task");
    assert_eq!(body["extensions"], 1, "the layer's extension is at /opt/extensions");
    assert!(invoked.report.init_duration.is_some(), "the first invocation reports init");

    let second = invoke(&mut env, json!({"action": "echo"})).await;
    assert!(second.report.init_duration.is_none());
    assert_ne!(second.report.request_id, invoked.report.request_id);
    assert_ne!(second.report.trace_header, invoked.report.trace_header, "a trace id per invocation");
    env.shutdown(ShutdownReason::Spindown).await;

    let log = fixture.extension_log();
    let invokes: Vec<&Value> = log.iter().filter(|e| e["kind"] == "INVOKE").collect();
    assert_eq!(invokes.len(), 2, "{log:#?}");
    assert_eq!(invokes[0]["requestId"], invoked.report.request_id.as_str());
    assert_eq!(invokes[0]["tracing"], invoked.report.trace_header.as_str());
    assert_eq!(invokes[0]["deadlineMs"], deadline);
    let shutdown = log.iter().find(|e| e["kind"] == "SHUTDOWN").expect("SHUTDOWN delivered");
    assert_eq!(shutdown["reason"], "spindown");
    let types = fixture.telemetry_types();
    for expected in [
        "platform.initStart",
        "platform.initRuntimeDone",
        "platform.initReport",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "platform.extension",
        "platform.telemetrySubscription",
    ] {
        assert!(types.iter().any(|t| t == expected), "{expected} missing from {types:?}: {log:#?}");
    }
    // Lambda's order: an invocation's platform.start reaches subscribers before any line its
    // function writes, so that extensions can attribute the lines (the emulator once queued
    // platform.start after handing the event to the runtime, and lines raced ahead of it).
    let telemetry: Vec<&Value> = log.iter().filter(|e| e["kind"] == "telemetry").map(|e| &e["event"]).collect();
    for id in [&invoked.report.request_id, &second.report.request_id] {
        let start = telemetry
            .iter()
            .position(|e| e["type"] == "platform.start" && e["record"]["requestId"] == id.as_str())
            .unwrap_or_else(|| panic!("no platform.start for {id}: {telemetry:#?}"));
        let line = format!("fixture echo request_id={id}");
        let written = telemetry
            .iter()
            .position(|e| e["type"] == "function" && e["record"].as_str().is_some_and(|r| r.contains(&line)))
            .unwrap_or_else(|| panic!("the function's line for {id} not delivered: {telemetry:#?}"));
        assert!(start < written, "platform.start for {id} at {start}, after its function line at {written}");
    }
    let report = log.iter().find(|e| e["event"]["type"] == "platform.report").expect("a platform.report");
    let metrics = &report["event"]["record"]["metrics"];
    assert!(metrics["durationMs"].as_f64().is_some() && metrics["billedDurationMs"].as_u64().is_some(), "{report}");
    assert_eq!(metrics["memorySizeMB"], 128);
}

#[tokio::test(flavor = "multi_thread")]
async fn function_errors_panics_and_streams() {
    let fixture = Fixture::new("errors");
    let mut env = fixture.start().await;
    let failed = invoke(&mut env, json!({"action": "error"})).await;
    assert_eq!(error(&failed).error_message, "the handler failed on purpose");
    assert!(env.is_reusable(), "a function error keeps the environment");

    let panicked = invoke(&mut env, json!({"action": "panic"})).await;
    assert!(error(&panicked).error_message.contains("panicked on purpose"), "{:?}", panicked.outcome);
    assert!(env.is_reusable());

    let streamed = invoke(&mut env, json!({"action": "stream"})).await;
    let Outcome::Response(body) = &streamed.outcome else { panic!("{:?}", streamed.outcome) };
    let text = String::from_utf8_lossy(body);
    assert!(text.ends_with("one two three"), "{text:?}");
    assert!(text.contains("\0\0\0\0\0\0\0\0"), "HTTP-integration prelude delimiter: {text:?}");

    // A stream the function aborts half way is reported in the error trailers: a function error.
    let broken = invoke(&mut env, json!({"action": "stream_error"})).await;
    assert!(!error(&broken).error_type.is_empty(), "{:?}", broken.outcome);

    let big = invoke(&mut env, json!({"action": "big", "bytes": 7 * 1024 * 1024})).await;
    assert_eq!(error(&big).error_type, "Function.ResponseSizeTooLarge");
    assert!(env.is_reusable());
    let after = invoke(&mut env, json!({"action": "echo", "n": 2})).await;
    assert_eq!(response(&after)["echo"]["n"], 2, "the environment still works");
    env.shutdown(ShutdownReason::Spindown).await;
}

/// A streaming function invoked by a caller that did not ask for a stream: Lambda buffers its
/// response and fails it past 6 MB, as it does a buffered one.
#[tokio::test(flavor = "multi_thread")]
async fn a_stream_read_whole_is_held_to_the_buffered_limit() {
    let mut fixture = Fixture::new("stream-limit");
    fixture.spec.bootstrap = build("fixture-streaming");
    let mut env = fixture.start().await;
    let big = invoke(&mut env, json!({"action": "big", "bytes": 7 * 1024 * 1024})).await;
    let failure = error(&big);
    assert_eq!(failure.error_type, "Function.ResponseSizeTooLarge", "{:?}", big.outcome);
    assert!(failure.error_message.contains("(6291456 bytes)"), "Lambda's limit is named: {}", failure.error_message);
    assert!(env.is_reusable(), "a response too large keeps the environment");

    let small = invoke(&mut env, json!({"action": "big", "bytes": 1024 * 1024})).await;
    let Outcome::Response(body) = &small.outcome else { panic!("{:?}", small.outcome) };
    assert!(body.len() >= 1024 * 1024 && body.len() < 1024 * 1024 + 1024, "{} bytes", body.len());
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_fails_the_invocation_and_shuts_down_with_reason_timeout() {
    let mut fixture = Fixture::new("timeout");
    fixture.spec.timeout = Duration::from_secs(1);
    let mut env = fixture.start().await;
    let invoked = invoke(&mut env, json!({"action": "sleep", "ms": 3_000})).await;
    let failure = error(&invoked);
    assert_eq!(failure.error_type, "Sandbox.Timedout");
    assert_eq!(failure.error_message, "Task timed out after 1.00 seconds");
    assert!(!env.is_reusable(), "the next invocation needs a fresh environment");
    assert!(invoked.report.duration < Duration::from_millis(1_900), "{:?}", invoked.report.duration);
    env.shutdown(ShutdownReason::Timeout).await;
    let log = fixture.extension_log();
    let shutdown = log.iter().find(|e| e["kind"] == "SHUTDOWN").expect("SHUTDOWN delivered");
    assert_eq!(shutdown["reason"], "timeout");
}

#[tokio::test(flavor = "multi_thread")]
async fn runtime_crash_is_an_exit_error() {
    let fixture = Fixture::new("crash");
    let mut env = fixture.start().await;
    let invoked = invoke(&mut env, json!({"action": "exit"})).await;
    let failure = error(&invoked);
    assert_eq!(failure.error_type, "Runtime.ExitError");
    assert!(failure.error_message.contains("exit status: 3"), "{failure:?}");
    assert!(!env.is_reusable());
    env.shutdown(ShutdownReason::Failure).await;
    let log = fixture.extension_log();
    assert_eq!(log.iter().find(|e| e["kind"] == "SHUTDOWN").map(|e| e["reason"].clone()), Some(json!("failure")));
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_memory_is_enforced_and_reported() {
    let fixture = Fixture::new("oom");
    let mut env = fixture.start().await;
    assert!(env.enforces_memory(), "MemorySize needs a memory cgroup: run the tests as root on Linux");
    let invoked = invoke(&mut env, json!({"action": "oom"})).await;
    assert_eq!(error(&invoked).error_type, "Runtime.OutOfMemory", "{:?}", invoked.outcome);
    assert!(invoked.report.max_memory_used_mb >= 100, "{}", invoked.report);
    env.shutdown(ShutdownReason::Failure).await;
}

fn ticks(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn frozen_between_invocations_nothing_runs() {
    for freeze in [true, false] {
        let mut fixture = Fixture::new(if freeze { "frozen" } else { "thawed" });
        fixture.spec.freeze = freeze;
        let file = fixture.scratch.path().join("ticks");
        let mut env = fixture.start().await;
        let started = invoke(&mut env, json!({"action": "background", "file": file.display().to_string()})).await;
        assert_eq!(response(&started)["started"], true);
        let at_return = ticks(&file);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let later = ticks(&file);
        if freeze {
            assert!(later <= at_return + 1, "a frozen environment ran its background task: {at_return} → {later}");
        } else {
            assert!(later >= at_return + 10, "without freeze the background task runs: {at_return} → {later}");
        }
        // Thawed by the next invocation, the task goes on.
        let _ = invoke(&mut env, json!({"action": "sleep", "ms": 200})).await;
        assert!(ticks(&file) > later, "the task resumes once thawed");
        env.shutdown(ShutdownReason::Spindown).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_calls_get_lambdas_answers_and_never_wedge_the_emulator() {
    let fixture = Fixture::new("bad-calls");
    let mut env = fixture.start().await;
    let first = invoke(&mut env, json!({"action": "echo"})).await;
    let api = format!("http://{}", env.api_addr());
    let client = reqwest::Client::new();
    let post = |path: String, body: &'static str| client.post(format!("{api}{path}")).body(body).send();

    let unknown = post("/2018-06-01/runtime/invocation/not-a-request/response".into(), "{}").await.expect("answers");
    assert_eq!(unknown.status(), 400);
    assert_eq!(unknown.json::<Value>().await.expect("json")["errorType"], "InvalidRequestID");

    let again = format!("/2018-06-01/runtime/invocation/{}/response", first.report.request_id);
    let twice = post(again, "{}").await.expect("answers");
    assert_eq!(twice.status(), 403);
    assert_eq!(twice.json::<Value>().await.expect("json")["errorType"], "InvalidStateTransition");

    let late = client
        .post(format!("{api}/2020-01-01/extension/register"))
        .header("Lambda-Extension-Name", "latecomer")
        .body(r#"{"events":["INVOKE"]}"#)
        .send()
        .await
        .expect("answers");
    assert_eq!(late.status(), 403, "registration is closed after init");

    let nameless = post("/2020-01-01/extension/register".into(), "{not json").await.expect("answers");
    assert_eq!(nameless.status(), 400);

    let stranger = client
        .get(format!("{api}/2020-01-01/extension/event/next"))
        .header("Lambda-Extension-Identifier", "nobody")
        .send()
        .await
        .expect("answers");
    assert_eq!(stranger.status(), 403);

    let bad_subscription = client
        .put(format!("{api}/2022-07-01/telemetry"))
        .header("Lambda-Extension-Identifier", "nobody")
        .body("{}")
        .send()
        .await
        .expect("answers");
    assert_eq!(bad_subscription.status(), 403);

    let still = invoke(&mut env, json!({"action": "echo", "n": 3})).await;
    assert_eq!(response(&still)["echo"]["n"], 3, "the emulator still serves invocations");
    env.shutdown(ShutdownReason::Spindown).await;
}

fn python_spec() -> FunctionSpec {
    let python = std::env::var("INTERCEPT_SAM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = std::process::Command::new(&python).args(["-c", "import awslambdaric"]).status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "{python} cannot import awslambdaric: run ./scripts/test.sh, which installs it in target/venv"
    );
    let mut spec =
        FunctionSpec::new("PythonFixture", "python3.11", PathBuf::from(&python), fixture_dir().join("python"));
    spec.handler = "app.handler".to_owned();
    spec.bootstrap_args = vec!["-m".into(), "awslambdaric".into(), "app.handler".into()];
    spec
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_wrapper_runs_for_managed_runtimes_only() {
    let scratch = Scratch::new("exec-wrapper");
    let layer = scratch.path().join("layer");
    std::fs::create_dir_all(&layer).expect("layer dir");
    let wrapper = layer.join("wrapper");
    std::fs::write(&wrapper, "#!/bin/sh\nexport WRAPPED_BY=intercept-wrapper\nexec \"$@\"\n").expect("wrapper");
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");

    let mut python = python_spec();
    python.layer_dirs = vec![layer.clone()];
    python.environment.insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/opt/wrapper".into());
    let mut env = Environment::start(python).await.unwrap_or_else(|e| panic!("init failed: {e:?}"));
    let body = response(&invoke(&mut env, json!({})).await);
    assert_eq!(body["wrapped"], "intercept-wrapper", "Python starts through the wrapper: {body}");
    env.shutdown(ShutdownReason::Spindown).await;

    // OS-only runtimes ignore AWS_LAMBDA_EXEC_WRAPPER, as Lambda's provided.* do.
    let mut rust = FunctionSpec::new("Fixture", "provided.al2023", function_binary().clone(), fixture_dir());
    rust.layer_dirs = vec![layer];
    rust.environment.insert("AWS_LAMBDA_EXEC_WRAPPER".into(), "/opt/wrapper".into());
    let mut env = Environment::start(rust).await.unwrap_or_else(|e| panic!("init failed: {e:?}"));
    let body = response(&invoke(&mut env, json!({"action": "echo"})).await);
    assert_eq!(body["wrapped"], Value::Null, "{body}");
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_function_through_awslambdaric() {
    let spec = python_spec();
    let mut env = Environment::start(spec).await.unwrap_or_else(|e| panic!("init failed: {e:?}"));
    let invoked = invoke(&mut env, json!({"hello": "python"})).await;
    let body = response(&invoked);
    assert_eq!(body["echo"]["hello"], "python", "awslambdaric handed the handler a dict: {body}");
    assert_eq!(body["request_id"], invoked.report.request_id.as_str());
    assert_eq!(body["function_name"], "PythonFixture");
    assert_eq!(body["remaining_ms_positive"], true);
    let failed = invoke(&mut env, json!({"action": "error"})).await;
    let failure = error(&failed);
    assert_eq!(failure.error_type, "ValueError");
    assert_eq!(failure.error_message, "the Python handler failed on purpose");
    env.shutdown(ShutdownReason::Spindown).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn node_function_through_aws_lambda_ric() {
    let ric = std::env::var("INTERCEPT_SAM_NODE_RIC").expect(
        "INTERCEPT_SAM_NODE_RIC is not set: run ./scripts/test.sh, which installs aws-lambda-ric in target/node",
    );
    let entry = PathBuf::from(&ric).join("bin/index.mjs");
    assert!(entry.is_file(), "{} is missing: run ./scripts/test.sh", entry.display());
    let mut spec = FunctionSpec::new("NodeFixture", "nodejs20.x", PathBuf::from("node"), fixture_dir().join("node"));
    spec.handler = "index.handler".to_owned();
    spec.bootstrap_args = vec![entry.display().to_string(), "index.handler".into()];
    let mut env = Environment::start(spec).await.unwrap_or_else(|e| panic!("init failed: {e:?}"));
    let invoked = invoke(&mut env, json!({"hello": "node"})).await;
    let body = response(&invoked);
    assert_eq!(body["echo"]["hello"], "node", "{body}");
    assert_eq!(body["request_id"], invoked.report.request_id.as_str());
    assert_eq!(body["function_name"], "NodeFixture");
    assert_eq!(body["remaining_ms_positive"], true);
    let failed = invoke(&mut env, json!({"action": "error"})).await;
    let failure = error(&failed);
    assert_eq!(failure.error_message, "the Node handler failed on purpose", "{failure:?}");
    env.shutdown(ShutdownReason::Spindown).await;
}

#[test]
fn a_zipped_layer_is_extracted_to_opt() {
    let scratch = Scratch::new("zipped-layer");
    let layer = intercept_layer::assemble(&scratch.path().join("layer"), &[extension_binary().clone()]).expect("layer");
    intercept_layer::zip_dir(&layer, &scratch.path().join("layer.zip")).expect("zip");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let template = format!(
        r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Zipped:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer.zip
  Fn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: fixture-function
    Properties:
      CodeUri: {code}
      Handler: bootstrap
      Runtime: provided.al2023
      Layers: [!Ref Zipped]
      Environment:
        Variables:
          FIXTURE_TELEMETRY_PORT: "{port}"
"#,
        code = fixture_dir().display()
    );
    let template_path = scratch.path().join("template.yaml");
    std::fs::write(&template_path, template).expect("template");
    let event = scratch.path().join("event.json");
    std::fs::write(&event, r#"{"action":"echo"}"#).expect("event");
    let output = intercept_tests::run_sam(
        &[
            "local",
            "invoke",
            "-t",
            template_path.to_str().expect("utf-8"),
            "--cargo-profile",
            "dev",
            "-e",
            event.to_str().expect("utf-8"),
        ],
        Duration::from_secs(600),
    );
    assert_eq!(output.code, Some(0), "{output:#?}");
    assert_eq!(output.json_lines()[0]["extensions"], 1, "the zip's extensions/ is at /opt: {output:#?}");
}
