//! `local start-lambda`'s Invoke API through the real AWS SDK (boto3, from the test venv):
//! functions named by logical id, `FunctionName` and ARNs, qualifiers (aliases and versions the
//! template defines, others 404), reserved concurrency (429 `TooManyRequestsException`), and
//! `Event` invocations: Lambda's 1 MB limit, two retries of a failing function and its record
//! in the `OnFailure` function (the retry waits shortened to 300 and 600 ms, as
//! `INTERCEPT_SAM_ASYNC_RETRY_DELAYS` would), and two functions whose `OnFailure` destinations
//! are each other stopped after 16 invocations, as Lambda's recursive loop detection stops them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use intercept_sam::{prepare_pools, serve_start_lambda};
use intercept_tests::{Scratch, dev_options, workspace};
use serde_json::Value;
use tokio::sync::oneshot;

const TEMPLATE: &str = "tests/fixtures/invoke_api/template.yaml";

struct Server {
    endpoint: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(record_dir: &Path) -> Server {
        let mut options = dev_options(TEMPLATE);
        options.parameter_overrides = vec![("RecordDir".to_owned(), record_dir.display().to_string())];
        options.retry_delays = Some([Duration::from_millis(300), Duration::from_millis(600)]);
        let pools = prepare_pools(&options).await.unwrap_or_else(|e| panic!("{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            serve_start_lambda(listener, pools, async {
                let _ = stopped.await;
            })
            .await
            .expect("serves");
        });
        Server { endpoint, stop: Some(stop), done }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.done).await;
    }
}

fn python() -> PathBuf {
    std::env::var_os("INTERCEPT_SAM_PYTHON").map_or_else(|| workspace().join("target/venv/bin/python"), PathBuf::from)
}

/// Runs a step of the boto3 client and returns what it printed.
async fn boto3(endpoint: &str, record_dir: &Path, step: &str) -> Value {
    let script = workspace().join("tests/fixtures/invoke_api/client.py");
    let args = [script.display().to_string(), endpoint.to_owned(), record_dir.display().to_string(), step.to_owned()];
    let output = tokio::task::spawn_blocking(move || Command::new(python()).args(&args).output())
        .await
        .expect("joins")
        .expect("python runs (run ./scripts/test.sh for the venv with boto3)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "client.py {step} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("client.py {step} printed no JSON ({e}): {stdout}"))
}

/// Waits (at most 60 s) for a function to write `name` in `dir`, and reads it.
async fn read_when_written(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    for _ in 0..3000 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} was never written", path.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_are_found_by_name_arn_and_qualifier() {
    let scratch = Scratch::new("invoke-api-names");
    let server = Server::start(scratch.path()).await;
    let answers = boto3(&server.endpoint, scratch.path(), "names").await;

    for way in ["logical_id", "function_name", "arn", "partial_arn", "latest"] {
        let answer = &answers[way];
        assert_eq!(answer["status"], 200, "{way}: {answer}");
        assert_eq!(answer["version"], "$LATEST", "{way}: {answer}");
        assert_eq!(answer["payload"]["echo"]["n"], 1, "{way}: {answer}");
        assert_eq!(answer["payload"]["function"], "Echo", "{way}: {answer}");
    }
    // AutoPublishAlias `live` points at the one version a local run has, version 1.
    for way in ["alias", "alias_in_name", "alias_in_arn", "version"] {
        let answer = &answers[way];
        assert_eq!(answer["status"], 200, "{way}: {answer}");
        assert_eq!(answer["version"], "1", "{way}: {answer}");
        assert_eq!(answer["payload"]["echo"]["n"], 1, "{way}: {answer}");
    }
    assert_eq!(answers["lambda_alias"]["status"], 200, "an AWS::Lambda::Alias: {}", answers["lambda_alias"]);
    assert_eq!(answers["lambda_alias"]["version"], "1");

    let arn = "arn:aws:lambda:us-east-1:123456789012:function";
    for (way, message) in [
        ("unknown_alias", format!("Function not found: {arn}:echo-function:nope")),
        ("unknown_version", format!("Function not found: {arn}:echo-function:2")),
        ("unpublished_version", format!("Function not found: {arn}:Closed:1")),
        ("unknown_function", format!("Function not found: {arn}:nope")),
    ] {
        let answer = &answers[way];
        assert_eq!(answer["error"], "ResourceNotFoundException", "{way}: {answer}");
        assert_eq!(answer["status"], 404, "{way}: {answer}");
        assert_eq!(answer["message"], message.as_str(), "{way}: {answer}");
        assert_eq!(answer["type"], "User", "{way}: {answer}");
    }
    assert_eq!(answers["mismatched"]["error"], "InvalidParameterValueException", "{}", answers["mismatched"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reserved_concurrency_throttles_with_lambdas_error() {
    let scratch = Scratch::new("invoke-api-throttle");
    let server = Server::start(scratch.path()).await;
    let answers = boto3(&server.endpoint, scratch.path(), "throttle").await;

    assert_eq!(answers["started"], true, "the held invocation started: {answers}");
    for (which, answer) in [("second", &answers["second"]), ("closed", &answers["closed"])] {
        assert_eq!(answer["error"], "TooManyRequestsException", "{which}: {answer}");
        assert_eq!(answer["status"], 429, "{which}: {answer}");
        assert_eq!(answer["message"], "Rate Exceeded.", "{which}: {answer}");
        assert_eq!(answer["reason"], "ReservedFunctionConcurrentInvocationLimitExceeded", "{which}: {answer}");
        assert_eq!(answer["type"], "User", "{which}: {answer}");
    }
    assert_eq!(answers["first"]["payload"]["slow"]["hold"], 1, "the held invocation finished: {answers}");
    assert_eq!(answers["after"]["payload"]["slow"]["hold"], 3, "its execution was freed: {answers}");
    let started = std::fs::read_dir(scratch.path())
        .expect("scratch")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("started-")))
        .count();
    assert_eq!(started, 2, "the throttled invocations never ran");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn event_invocations_are_retried_then_recorded_in_their_destination() {
    let scratch = Scratch::new("invoke-api-async");
    let dir = scratch.path();
    let server = Server::start(dir).await;
    let answers = boto3(&server.endpoint, dir, "async").await;

    for way in ["retried", "once", "success", "fits"] {
        assert_eq!(answers[way]["status"], 202, "{way}: {answers}");
    }
    assert_eq!(answers["too_large"]["error"], "RequestEntityTooLargeException", "{answers}");
    assert_eq!(answers["too_large"]["status"], 413, "{answers}");
    assert_eq!(
        answers["too_large"]["message"],
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    );

    // Failing: the first attempt and two retries, then the OnFailure function gets the record.
    let record: Value = serde_json::from_str(&read_when_written(dir, "record-retried.json").await).expect("json");
    let attempts = std::fs::read_to_string(dir.join("attempts-retried")).expect("attempts");
    assert_eq!(attempts.lines().count(), 3, "{attempts}");
    assert_eq!(record["version"], "1.0");
    assert!(record["timestamp"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{record}");
    let context = &record["requestContext"];
    assert_eq!(context["requestId"], answers["retried"]["request_id"], "{record}");
    assert_eq!(context["functionArn"], "arn:aws:lambda:us-east-1:123456789012:function:Failing:$LATEST");
    assert_eq!(context["condition"], "RetriesExhausted");
    assert_eq!(context["approximateInvokeCount"], 3);
    assert_eq!(record["requestPayload"], serde_json::json!({"case": "retried"}));
    assert_eq!(
        record["responseContext"],
        serde_json::json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert_eq!(record["responsePayload"]["errorType"], "RuntimeError", "{record}");
    assert_eq!(record["responsePayload"]["errorMessage"], "failed on purpose: retried", "{record}");

    // MaximumRetryAttempts: 0: one attempt.
    let once: Value = serde_json::from_str(&read_when_written(dir, "record-once.json").await).expect("json");
    assert_eq!(once["requestContext"]["approximateInvokeCount"], 1, "{once}");
    assert_eq!(std::fs::read_to_string(dir.join("attempts-once")).expect("attempts").lines().count(), 1);

    // OnSuccess: the function's answer, no functionError.
    let success: Value = serde_json::from_str(&read_when_written(dir, "record-success.json").await).expect("json");
    assert_eq!(success["requestContext"]["condition"], "Success", "{success}");
    assert_eq!(
        success["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:echo-function:$LATEST"
    );
    assert_eq!(success["responseContext"], serde_json::json!({"statusCode": 200, "executedVersion": "$LATEST"}));
    assert_eq!(success["responsePayload"]["echo"]["case"], "success", "{success}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_loop_stops_after_16_invocations() {
    let scratch = Scratch::new("invoke-api-loop");
    let dir = scratch.path();
    let server = Server::start(dir).await;
    let answer = boto3(&server.endpoint, dir, "loop").await;
    assert_eq!(answer["status"], 202, "{answer}");
    let hops = dir.join("loop-hops");
    let count = || std::fs::read_to_string(&hops).map(|text| text.lines().count()).unwrap_or(0);
    // A hang guard: the chain of 16 runs in well under a minute.
    for _ in 0..3000 {
        if count() >= 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time for a 17th hop (each takes tens of milliseconds once both functions are warm) that
    // must not come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = std::fs::read_to_string(&hops).expect("hops");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 16, "Lambda stops a recursive loop after 16 invocations: {text}");
    // Ping and Pong in turn, each record nesting the one before.
    for (hop, line) in lines.iter().enumerate() {
        let function = if hop % 2 == 0 { "Ping" } else { "Pong" };
        assert_eq!(*line, format!("{function} {hop}"), "{text}");
    }
    server.stop().await;
}
