//! Every example in `examples/` run under the emulator with its events, as `examples/README.md`
//! tells a newcomer to run it, and the template checked by the real SAM CLI.

use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use intercept_tests::{Output, Scratch, assert_sam_validates, printed_spans, reports, run_sam};
use serde_json::Value;

/// Builds run inside the emulator the first time, so the limit is generous.
const LIMIT: Duration = Duration::from_secs(900);
const TEMPLATE: &str = "examples/template.yaml";

/// One emulator at a time on this template: concurrent `intercept-sam` processes would build
/// and lay out the same layer folder (`examples/.aws-sam`) at once, which they do not guard
/// against across processes.
static EMULATOR: Mutex<()> = Mutex::new(());

fn invoke(function: &str, events: &[&str], extra: &[&str]) -> Output {
    // A test that failed while holding the lock left nothing half-done that matters here.
    let _one_at_a_time = EMULATOR.lock().unwrap_or_else(PoisonError::into_inner);
    let mut args = vec!["local", "invoke", function, "-t", TEMPLATE, "--cargo-profile", "dev"];
    for event in events {
        args.extend(["-e", event]);
    }
    args.extend_from_slice(extra);
    run_sam(&args, LIMIT)
}

fn body(response: &Value) -> Value {
    let text = response["body"].as_str().unwrap_or_else(|| panic!("no body in {response}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// The events of the HTTP API's walk-through, in order, and the status each must get.
const HTTP_API_WALK: [(&str, u16); 7] = [
    ("examples/events/http-api-alice-create-order.json", 201),
    ("examples/events/http-api-alice-list-orders.json", 200),
    // Bob's token has orders:read only; POST /orders needs orders:write.
    ("examples/events/http-api-bob-create-order.json", 403),
    ("examples/events/http-api-no-token.json", 401),
    ("examples/events/http-api-alice-list-orders.json", 200),
    // Alice's fourth request within the minute: her own limit is 3/m.
    ("examples/events/http-api-alice-list-orders.json", 429),
    // Bob has a budget of his own.
    ("examples/events/http-api-bob-list-orders.json", 200),
];

#[test]
fn http_api_jwt_scopes_per_user_limit_and_state_built_once() {
    let events: Vec<&str> = HTTP_API_WALK.iter().map(|(event, _)| *event).collect();
    let output = invoke("HttpApiFunction", &events, &[]);
    assert_eq!(output.code, Some(0), "{output:#?}");
    let responses = output.json_lines();
    let statuses: Vec<u64> = responses.iter().map(|r| r["statusCode"].as_u64().unwrap_or(0)).collect();
    let expected: Vec<u64> = HTTP_API_WALK.iter().map(|(_, status)| u64::from(*status)).collect();
    assert_eq!(statuses, expected, "{output:#?}");

    let created = body(&responses[0]);
    assert_eq!((created["owner"].as_str(), created["item"].as_str()), (Some("alice"), Some("espresso beans")));
    // The order placed in the first invocation is in the state the second one borrows.
    let listed = body(&responses[1]);
    assert_eq!(listed["owner"], "alice");
    assert_eq!(listed["orders"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["orders"][0]["id"], created["id"]);
    // Bob sees his own (empty) list, not Alice's.
    let bob = body(&responses[6]);
    assert_eq!((bob["owner"].as_str(), bob["orders"].as_array().map(Vec::len)), (Some("bob"), Some(0)));

    assert_eq!(
        responses[2]["headers"]["www-authenticate"].as_str().map(|h| h.contains("scope=\"orders:write\"")),
        Some(true)
    );
    assert_eq!(responses[3]["headers"]["www-authenticate"], "Bearer");
    assert_eq!(responses[5]["headers"]["ratelimit-policy"], "\"principal\";q=3;w=60");

    // `init` ran once for the seven invocations of one environment.
    let inits = output.stderr.lines().filter(|line| line.starts_with("http-api init: order store ready")).count();
    assert_eq!(inits, 1, "{}", output.stderr);
    assert!(output.stderr.contains("at most 10 items per order"), "ORDERS_MAX_QUANTITY read: {}", output.stderr);
    assert_eq!(reports(&output.stderr).len(), 7, "{}", output.stderr);
}

#[test]
fn http_api_init_failure_stops_the_function_at_init() {
    let scratch = Scratch::new("examples-init-failure");
    let env = scratch.path().join("env.json");
    std::fs::write(&env, r#"{"HttpApiFunction": {"ORDERS_MAX_QUANTITY": "lots"}}"#).expect("write env.json");
    let env = env.to_string_lossy().into_owned();
    let output = invoke("HttpApiFunction", &["examples/events/http-api-alice-list-orders.json"], &["-n", &env]);
    assert_ne!(output.code, Some(0), "{output:#?}");
    let printed: Value = serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {output:#?}"));
    assert_eq!(printed["errorType"], "Intercept.InitError", "{output:#?}");
    let message = printed["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("http_api::init failed"), "names the init function: {message}");
    assert!(message.contains("ORDERS_MAX_QUANTITY: `lots` is not a whole number"), "{message}");
}

#[test]
fn sqs_consumer_reports_bad_messages_and_is_rate_limited_without_auth() {
    let output = invoke(
        "SqsConsumerFunction",
        &["examples/events/sqs-orders.json", "examples/events/sqs-bad-message.json", "examples/events/sqs-orders.json"],
        &[],
    );
    assert_eq!(output.code, Some(0), "{output:#?}");
    let responses = output.json_lines();
    assert_eq!(responses.len(), 3, "{output:#?}");
    assert_eq!(responses[0], serde_json::json!({ "batchItemFailures": [] }));
    assert_eq!(
        responses[1],
        serde_json::json!({ "batchItemFailures": [{ "itemIdentifier": "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d" }] })
    );
    // Over the global 2/m limit: the batch fails as a whole, so SQS delivers it again later.
    assert_eq!(responses[2]["errorType"], "Intercept.RateLimited", "{output:#?}");

    // No authentication: both batches without any token reached the handler; the third did not.
    let processed = |order: &str| output.stderr.matches(&format!("order {order} processed")).count();
    assert_eq!((processed("o-1001"), processed("o-1002"), processed("o-1003")), (1, 1, 1), "{}", output.stderr);
    assert!(output.stderr.contains("is not an order; returned to the queue"), "{}", output.stderr);

    // One server span per batch (the function's own, with child spans per filter), the third
    // rejected by the limit.
    let spans = printed_spans(&output.stderr);
    let batches: Vec<_> = spans.iter().filter(|span| span.attributes.contains("faas.coldstart=")).collect();
    assert_eq!(batches.len(), 3, "{}", output.stderr);
    assert!(batches.iter().all(|span| span.name == "SqsConsumerFunction"), "{batches:?}");
    let rejected: Vec<_> =
        batches.iter().filter(|span| span.attributes.contains("intercept.reason=rate_limited")).collect();
    assert_eq!(rejected.len(), 1, "{batches:?}");
}

/// The interpreter the emulator runs Python functions with; it must have `awslambdaric`.
fn check_python() {
    let python = std::env::var("INTERCEPT_SAM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python).args(["-c", "import awslambdaric"]).status();
    assert!(
        probe.is_ok_and(|status| status.success()),
        "{python} cannot import awslambdaric: run ./scripts/test.sh, which installs it in target/venv and sets \
         INTERCEPT_SAM_PYTHON"
    );
}

#[test]
fn python_function_is_intercepted_through_the_layer() {
    check_python();
    // The proxy gets a free port (the emulator already gives the OTLP receiver one), so that
    // environments of other tests running at the same time do not collide with this one.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let scratch = Scratch::new("examples-python-layer");
    let env = scratch.path().join("env.json");
    let variables = serde_json::json!({ "PythonLayerFunction": { "INTERCEPT_PROXY_PORT": port.to_string() } });
    std::fs::write(&env, variables.to_string()).expect("write env.json");
    let env = env.to_string_lossy().into_owned();
    let alice = "examples/events/python-layer-alice.json";
    let output = invoke(
        "PythonLayerFunction",
        &[alice, "examples/events/python-layer-no-token.json", alice, alice],
        &["-n", &env],
    );
    assert_eq!(output.code, Some(0), "{output:#?}");
    let responses = output.json_lines();
    let statuses: Vec<u64> = responses.iter().map(|r| r["statusCode"].as_u64().unwrap_or(0)).collect();
    assert_eq!(statuses, [200, 401, 200, 429], "{output:#?}");
    // The claims the proxy verified reached the handler as API Gateway's JWT authorizer writes them.
    let greeting = body(&responses[0]);
    assert_eq!((greeting["subject"].as_str(), greeting["path"].as_str()), (Some("alice"), Some("/profile")));
    assert_eq!(responses[3]["headers"]["ratelimit-policy"], "\"principal\";q=2;w=60");
    // Only the two accepted requests reached Python at all.
    let ran = output.stderr.lines().filter(|line| line.contains("python handler ran for request")).count();
    assert_eq!(ran, 2, "{}", output.stderr);
    assert!(!output.stderr.contains("NOT intercepted"), "the exec wrapper found the proxy: {}", output.stderr);
}

#[test]
fn the_examples_template_passes_sam_validate_lint() {
    assert_sam_validates(TEMPLATE);
}
