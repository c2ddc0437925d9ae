//! Contract tests: the API Gateway events the emulator builds (payload formats 2.0 and 1.0,
//! `intercept_sam::api::event_v2` and `event_v1`) deserialize into `aws_lambda_events`' types,
//! the ones a Rust function reads them with, and read back as the request that was sent; and
//! Intercept's own reader sees the same method, path, route and caller in them. The Telemetry
//! API batches an execution environment delivers deserialize, as sent, into `lambda_extension`'s
//! `LambdaTelemetry` records, with the invocation's request id, status and metrics.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use intercept::{Invocation, TriggerKind};
use intercept_sam::api::{HttpRequest, Routed, event_v1, event_v2};
use serde_json::value::RawValue;

fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_static("Bearer abc.def.ghi"));
    headers.insert("user-agent", HeaderValue::from_static("contract-test/1"));
    headers.append("x-multi", HeaderValue::from_static("one"));
    headers.append("x-multi", HeaderValue::from_static("two"));
    headers.insert("cookie", HeaderValue::from_static("session=s1; theme=dark"));
    headers
}

fn intercept_reads(event: &serde_json::Value) -> Invocation {
    Invocation::from_raw(&RawValue::from_string(event.to_string()).expect("the event is JSON"))
}

#[test]
fn an_http_api_event_is_an_aws_lambda_events_v2_request() {
    let headers = headers();
    let body = Bytes::from_static(b"{\"order\":42}");
    let request = HttpRequest {
        method: "POST",
        path: "/orders/42",
        query: "expand=items&expand=notes&page=2",
        headers: &headers,
        body: &body,
        source_ip: "203.0.113.9".to_owned(),
    };
    let params = BTreeMap::from([("id".to_owned(), "42".to_owned())]);
    let routed = Routed {
        route: Some("/orders/{id}"),
        params: &params,
        authorizer: None,
        domain: "local.execute-api.us-east-1.amazonaws.com".to_owned(),
    };
    let event = event_v2(&request, &routed);
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).expect("an ApiGatewayV2httpRequest");
    assert_eq!(typed.version.as_deref(), Some("2.0"));
    assert_eq!(typed.route_key.as_deref(), Some("POST /orders/{id}"));
    assert_eq!(typed.raw_path.as_deref(), Some("/orders/42"));
    assert_eq!(typed.raw_query_string.as_deref(), Some("expand=items&expand=notes&page=2"));
    assert_eq!(typed.query_string_parameters.all("expand"), Some(vec!["items", "notes"]));
    assert_eq!(typed.query_string_parameters.first("page"), Some("2"));
    assert_eq!(typed.path_parameters.get("id").map(String::as_str), Some("42"));
    assert_eq!(typed.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer abc.def.ghi"));
    assert_eq!(typed.headers.get("x-multi").and_then(|v| v.to_str().ok()), Some("one,two"));
    assert_eq!(typed.cookies, Some(vec!["session=s1".to_owned(), "theme=dark".to_owned()]));
    let context = &typed.request_context;
    assert_eq!(context.http.method, "POST");
    assert_eq!(context.http.path.as_deref(), Some("/orders/42"));
    assert_eq!(context.http.source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(context.http.user_agent.as_deref(), Some("contract-test/1"));
    assert_eq!(context.stage.as_deref(), Some("$default"));
    assert_eq!(typed.body.as_deref(), Some("{\"order\":42}"));
    assert!(!typed.is_base64_encoded);

    let invocation = intercept_reads(&event);
    assert_eq!(invocation.kind, TriggerKind::ApiGatewayHttp);
    assert_eq!(invocation.method(), Some("POST"));
    assert_eq!(invocation.path(), Some("/orders/42"));
    assert_eq!(invocation.route(), Some("/orders/{id}"));
    assert_eq!(invocation.source_ip(), Some("203.0.113.9"));
    assert_eq!(invocation.header("cookie"), Some("session=s1; theme=dark"));
}

#[test]
fn a_function_url_event_is_a_v2_request_without_a_route() {
    let headers = HeaderMap::new();
    let body = Bytes::new();
    let request = HttpRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        body: &body,
        source_ip: "192.0.2.1".into(),
    };
    let params = BTreeMap::new();
    let routed =
        Routed { route: None, params: &params, authorizer: None, domain: "abc.lambda-url.us-east-1.on.aws".to_owned() };
    let event = event_v2(&request, &routed);
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).expect("an ApiGatewayV2httpRequest");
    assert_eq!(typed.route_key.as_deref(), Some("$default"));
    assert_eq!(typed.request_context.domain_name.as_deref(), Some("abc.lambda-url.us-east-1.on.aws"));
    assert!(typed.body.is_none());
    assert_eq!(intercept_reads(&event).kind, TriggerKind::FunctionUrl);
}

#[test]
fn a_rest_api_event_is_an_aws_lambda_events_proxy_request() {
    let headers = headers();
    let body = Bytes::from_static(&[0xff, 0x00, 0x01]);
    let request = HttpRequest {
        method: "PUT",
        path: "/items/7",
        query: "tag=a&tag=b",
        headers: &headers,
        body: &body,
        source_ip: "198.51.100.4".to_owned(),
    };
    let params = BTreeMap::from([("item".to_owned(), "7".to_owned())]);
    let routed = Routed {
        route: Some("/items/{item}"),
        params: &params,
        authorizer: None,
        domain: "local.execute-api.us-east-1.amazonaws.com".to_owned(),
    };
    let event = event_v1(&request, &routed);
    let typed: ApiGatewayProxyRequest = serde_json::from_value(event.clone()).expect("an ApiGatewayProxyRequest");
    assert_eq!(typed.http_method, "PUT");
    assert_eq!(typed.path.as_deref(), Some("/items/7"));
    assert_eq!(typed.resource.as_deref(), Some("/items/{item}"));
    assert_eq!(typed.path_parameters.get("item").map(String::as_str), Some("7"));
    assert_eq!(typed.multi_value_query_string_parameters.all("tag"), Some(vec!["a", "b"]));
    assert_eq!(typed.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer abc.def.ghi"));
    let multi: Vec<&str> =
        typed.multi_value_headers.get_all("x-multi").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(multi, ["one", "two"]);
    assert_eq!(typed.request_context.identity.source_ip.as_deref(), Some("198.51.100.4"));
    // A body that is not UTF-8 travels base64-encoded.
    assert!(typed.is_base64_encoded);
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(typed.body.as_deref().expect("a body"));
    assert_eq!(decoded.expect("base64"), [0xff, 0x00, 0x01]);

    let invocation = intercept_reads(&event);
    assert_eq!(invocation.kind, TriggerKind::ApiGatewayRest);
    assert_eq!(invocation.method(), Some("PUT"));
    assert_eq!(invocation.route(), Some("/items/{item}"));
    assert_eq!(invocation.source_ip(), Some("198.51.100.4"));
}

/// An extension, stdlib Python, that registers, subscribes to every Telemetry API type with
/// `$CONTRACT_TELEMETRY_URI` as the destination, says one line (an `extension` record) and
/// waits for events until SHUTDOWN.
const RAW_TELEMETRY_EXTENSION: &str = r#"
import json, os, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]

def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(API + path, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request) as response:
        return response.headers, response.read()

headers, _ = call("POST", "/2020-01-01/extension/register", {"events": ["INVOKE", "SHUTDOWN"]},
                  {"Lambda-Extension-Name": "raw-telemetry"})
me = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
call("PUT", "/2022-07-01/telemetry", {
    "schemaVersion": "2022-12-13",
    "types": ["platform", "function", "extension"],
    "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
    "destination": {"protocol": "HTTP", "URI": os.environ["CONTRACT_TELEMETRY_URI"]},
}, me)
print("raw-telemetry subscribed", flush=True)
while json.loads(call("GET", "/2020-01-01/extension/event/next", None, me)[1]).get("eventType") != "SHUTDOWN":
    pass
"#;

/// A Telemetry API destination in this process: every batch's body, as delivered.
async fn telemetry_destination() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::sync::{Arc, Mutex};
    let batches: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = batches.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| async move {
            keep.lock().expect("batches").push(body);
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the destination");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/"), batches)
}

#[tokio::test(flavor = "multi_thread")]
async fn telemetry_api_batches_are_lambda_extension_records() {
    use intercept_sam::sandbox::{Environment, FunctionSpec, ShutdownReason};
    use lambda_extension::{
        InitPhase, InitType, LambdaTelemetry, LambdaTelemetryRecord as Record, Status, TracingType,
    };
    use std::os::unix::fs::PermissionsExt as _;

    // The function is Python's awslambdaric (as tests/lifecycle.rs runs it); the extension is the
    // stdlib script above, with the same interpreter.
    let python = std::env::var("INTERCEPT_SAM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = std::process::Command::new(&python).args(["-c", "import awslambdaric"]).status();
    assert!(
        probe.is_ok_and(|s| s.success()),
        "{python} cannot import awslambdaric: run ./scripts/test.sh, which installs it in target/venv"
    );
    // Not canonicalized: a venv's interpreter is a link, and only through it the venv is found.
    let python = which(&python);
    let scratch = intercept_tests::Scratch::new("telemetry-contract");
    let extensions = scratch.path().join("layer/extensions");
    std::fs::create_dir_all(&extensions).expect("the layer's extensions folder");
    let script = extensions.join("raw-telemetry");
    std::fs::write(&script, format!("#!{}\n{RAW_TELEMETRY_EXTENSION}", python.display())).expect("the extension");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("executable");

    let (uri, batches) = telemetry_destination().await;
    let fixture = intercept_tests::workspace().join("tests/fixtures/lifecycle/python");
    let mut spec = FunctionSpec::new("TelemetryContract", "python3.11", python.clone(), fixture);
    spec.handler = "app.handler".to_owned();
    spec.bootstrap_args = vec!["-m".into(), "awslambdaric".into(), "app.handler".into()];
    spec.layer_dirs = vec![scratch.path().join("layer")];
    spec.environment.insert("CONTRACT_TELEMETRY_URI".into(), uri);
    let mut env = Environment::start(spec).await.unwrap_or_else(|e| panic!("init failed: {e:?}"));
    let ok = env.invoke(Bytes::from_static(b"{\"n\": 1}")).await;
    assert_eq!(intercept_tests::response(&ok)["echo"]["n"], 1);
    let failed = env.invoke(Bytes::from_static(b"{\"action\": \"error\"}")).await;
    assert_eq!(intercept_tests::error(&failed).error_type, "ValueError", "the handler raised");
    env.shutdown(ShutdownReason::Spindown).await;

    // Each batch as delivered (not re-serialized) is a Vec<LambdaTelemetry>; a record type or
    // field the crate does not know, or one missing that it requires, fails here with the record.
    let batches = batches.lock().expect("batches").clone();
    let mut records = Vec::new();
    for batch in &batches {
        let raw: Vec<serde_json::Value> = serde_json::from_str(batch).expect("a batch is a JSON array");
        for record in raw {
            let typed: LambdaTelemetry<serde_json::Value> = serde_json::from_value(record.clone())
                .unwrap_or_else(|e| panic!("not a lambda_extension LambdaTelemetry record ({e}): {record}"));
            records.push(typed.record);
        }
    }
    let (first, second) = (&ok.report, &failed.report);

    assert!(
        records.iter().any(|r| matches!(
            r,
            Record::PlatformInitStart { initialization_type: InitType::OnDemand, phase: InitPhase::Init, .. }
        )),
        "{records:#?}"
    );
    assert!(
        records.iter().any(|r| matches!(r, Record::PlatformInitRuntimeDone { status: Status::Success, .. })),
        "{records:#?}"
    );
    assert!(
        records.iter().any(|r| matches!(r, Record::PlatformInitReport { metrics, .. } if metrics.duration_ms > 0.0)),
        "{records:#?}"
    );
    assert!(records.iter().any(|r| matches!(r, Record::PlatformExtension { name, events, .. } if name == "raw-telemetry" && events.iter().any(|e| e == "INVOKE"))), "{records:#?}");
    assert!(records.iter().any(|r| matches!(r, Record::PlatformTelemetrySubscription { name, types, .. } if name == "raw-telemetry" && types.len() == 3)), "{records:#?}");
    assert!(records.iter().any(|r| matches!(r, Record::Extension(line) if line.as_str().is_some_and(|l| l.contains("raw-telemetry subscribed")))), "{records:#?}");

    let start = records.iter().find_map(|r| match r {
        Record::PlatformStart { request_id, tracing, .. } if *request_id == first.request_id => Some(tracing.clone()),
        _ => None,
    });
    let tracing = start
        .flatten()
        .unwrap_or_else(|| panic!("no platform.start with tracing for {}: {records:#?}", first.request_id));
    assert_eq!((tracing.r#type, tracing.value.as_str()), (TracingType::AmznTraceId, first.trace_header.as_str()));

    for (report, expected) in [(first, Status::Success), (second, Status::Error)] {
        let done = records.iter().find_map(|r| match r {
            Record::PlatformRuntimeDone { request_id, status, metrics, .. } if *request_id == report.request_id => {
                Some((status.clone(), metrics.clone()))
            }
            _ => None,
        });
        let (status, metrics) =
            done.unwrap_or_else(|| panic!("no platform.runtimeDone for {}: {records:#?}", report.request_id));
        assert_eq!(status, expected);
        let metrics = metrics.expect("runtimeDone metrics");
        assert!(metrics.duration_ms > 0.0, "{metrics:?}");
        assert_eq!(metrics.produced_bytes.is_some_and(|n| n > 0), expected == Status::Success, "{metrics:?}");

        let reported = records.iter().find_map(|r| match r {
            Record::PlatformReport { request_id, status, metrics, .. } if *request_id == report.request_id => {
                Some((status.clone(), metrics.clone()))
            }
            _ => None,
        });
        let (status, metrics) =
            reported.unwrap_or_else(|| panic!("no platform.report for {}: {records:#?}", report.request_id));
        assert_eq!(status, expected);
        assert_eq!(metrics.memory_size_mb, u64::from(report.memory_mb));
        assert_eq!(u128::from(metrics.billed_duration_ms), report.billed_ms());
        assert_eq!(metrics.max_memory_used_mb, report.max_memory_used_mb);
        assert_eq!(metrics.init_duration_ms.is_some(), report.init_duration.is_some());
    }
    assert!(first.init_duration.is_some() && second.init_duration.is_none(), "only the first invocation reports init");
}

/// `program` as a path: itself when it has a slash, else the first match on `PATH`.
fn which(program: &str) -> std::path::PathBuf {
    if program.contains('/') {
        return program.into();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}
