//! Telemetry with no collector and through a timeout, end to end: a Rust function (Intercept
//! in process) and a Python function (behind the Runtime API proxy), both with the layer's
//! extension, sleep past a one-second timeout under the emulator. Their server spans, closed
//! with a timeout status before the deadline, and their metrics must reach all three
//! exporters: an OTLP collector (decoded with the real proto definitions), CloudWatch EMF lines
//! on the extension's stdout (validated against a JSON schema written from the EMF
//! specification, with Python's `jsonschema`), and X-Ray segment documents over UDP (through
//! the emulator's X-Ray receiver, which prints them and relays them to the daemon address the
//! emulator itself was given: here a UDP socket of this test).

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use intercept_tests::{Scratch, printed_spans, run_sam_with, start_otlp_collector, workspace};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::Value;

/// Builds run inside the emulator the first time, so the limit is generous.
const LIMIT: Duration = Duration::from_secs(900);

fn text(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref()).map(|v| match v {
        Any::StringValue(s) => s.clone(),
        Any::BoolValue(b) => b.to_string(),
        Any::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}

/// The EMF lines in the emulator's output (the extension's stdout is forwarded there).
fn emf_lines(stderr: &str) -> Vec<String> {
    stderr.lines().filter(|line| line.starts_with('{') && line.contains("\"_aws\"")).map(str::to_owned).collect()
}

/// Runs `validate.py` (the schema and the specification's cross-member rules) on the lines.
fn validate_emf(lines: &[String]) -> usize {
    let python = std::env::var("INTERCEPT_SAM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(python)
        .arg(workspace().join("tests/fixtures/emf/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs (scripts/test.sh installs jsonschema into its venv)");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(lines.join("\n").as_bytes()).expect("write");
    }
    let output = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "EMF lines invalid: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    stdout.trim().parse().expect("a count")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_invocation_keeps_its_trace_and_metrics_in_otlp_emf_and_xray() {
    let (endpoint, received) = start_otlp_collector().await;
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("bind");
    daemon.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let daemon_address = daemon.local_addr().expect("addr").to_string();
    let scratch = Scratch::new("telemetry-native");
    let event = scratch.path().join("sleep.json");
    std::fs::write(&event, r#"{"sleep_ms": 3000}"#).expect("event");
    let env = scratch.path().join("env.json");
    std::fs::write(&env, serde_json::json!({ "Parameters": { "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint } }).to_string())
        .expect("env");
    let (event, env) = (event.display().to_string(), env.display().to_string());

    for (function, service) in [("SlowRust", "slow-rust"), ("SlowPython", "slow-python")] {
        let args = [
            "local",
            "invoke",
            function,
            "-t",
            "tests/fixtures/native/template.yaml",
            "--cargo-profile",
            "dev",
            "-e",
            event.as_str(),
            "-n",
            env.as_str(),
        ];
        let output = tokio::task::spawn_blocking({
            let args = args.map(str::to_owned);
            let relay = daemon_address.clone();
            move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_sam_with(&args, &[("AWS_XRAY_DAEMON_ADDRESS", relay.as_str())], LIMIT)
            }
        })
        .await
        .expect("joined");
        let stderr = &output.stderr;
        assert!(stderr.contains("Task timed out") || stderr.contains("timed out"), "{function} timed out: {stderr}");

        // 1. The collector: the server span, closed with the timeout status before the deadline.
        let taken = std::mem::take(&mut *received.lock().expect("lock"));
        let spans: Vec<(String, Span)> = taken
            .iter()
            .filter(|(path, _)| path == "/v1/traces")
            .flat_map(|(_, body)| ExportTraceServiceRequest::decode(&body[..]).expect("OTLP traces").resource_spans)
            .flat_map(|resource| {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                    .and_then(|kv| kv.value.as_ref()?.value.clone());
                let service = match service {
                    Some(Any::StringValue(name)) => name,
                    _ => String::new(),
                };
                resource.scope_spans.into_iter().flat_map(|s| s.spans).map(move |span| (service.clone(), span))
            })
            .collect();
        let server = spans
            .iter()
            .find(|(svc, span)| *svc == service && text(span, "faas.timeout").as_deref() == Some("true"))
            .map(|(_, span)| span)
            .unwrap_or_else(|| panic!("{function}: no timed-out server span among {spans:#?}\n{stderr}"));
        assert_eq!(text(server, "error.type").as_deref(), Some("timeout"));
        let deadline_ms: u64 = text(server, "faas.deadline_ms").and_then(|d| d.parse().ok()).expect("deadline");
        assert!(server.end_time_unix_nano < deadline_ms * 1_000_000, "{function}: closed before the deadline");
        assert!(stderr.contains("flush kind=\"deadline\""), "{function}: the extension's deadline flush: {stderr}");

        // 2. The collector's metrics and the EMF lines agree on the errors.
        let mut otlp_errors = 0.0;
        for (_, body) in taken.iter().filter(|(path, _)| path == "/v1/metrics") {
            let request = ExportMetricsServiceRequest::decode(&body[..]).expect("OTLP metrics");
            for metric in request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics) {
                if metric.name == "faas.errors"
                    && let Some(Data::Sum(sum)) = &metric.data
                {
                    for point in &sum.data_points {
                        if let Some(number_data_point::Value::AsInt(n)) = point.value {
                            otlp_errors += n as f64;
                        }
                    }
                }
            }
        }
        assert!(otlp_errors >= 1.0, "{function}: the timeout is an error in the OTLP metrics");
        let lines = emf_lines(stderr);
        assert_eq!(validate_emf(&lines), lines.len(), "every EMF line is valid");
        let documents: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).expect("json")).collect();
        let emf_errors: f64 = documents
            .iter()
            .filter_map(|doc| match &doc["faas.errors"] {
                Value::Number(n) => n.as_f64(),
                Value::Array(values) => Some(values.iter().filter_map(Value::as_f64).sum()),
                _ => None,
            })
            .sum();
        assert_eq!(emf_errors, otlp_errors, "{function}: EMF and OTLP count the same errors:\n{}", lines.join("\n"));
        let namespaces: Vec<&Value> =
            documents.iter().map(|d| &d["_aws"]["CloudWatchMetrics"][0]["Namespace"]).collect();
        assert!(namespaces.iter().all(|n| *n == "InterceptTimeouts"), "{namespaces:?}");
        assert!(documents.iter().all(|d| d["service"] == service), "the service dimension");

        // 3. X-Ray: the relayed document of the same span, a fault caused by the timeout.
        let mut documents = HashMap::new();
        let mut buffer = vec![0u8; 70_000];
        while let Ok(n) = daemon.recv(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).to_string();
            let (header, body) = text.split_once('\n').expect("a header line");
            assert_eq!(header, r#"{"format": "json", "version": 1}"#);
            let doc: Value = serde_json::from_str(body).expect("a JSON document");
            documents.insert(doc["id"].as_str().expect("id").to_owned(), doc);
        }
        let segment =
            documents.get(&hex::encode(&server.span_id)).unwrap_or_else(|| panic!("{function}: {documents:#?}"));
        let trace = hex::encode(&server.trace_id);
        assert_eq!(segment["trace_id"], format!("1-{}-{}", &trace[..8], &trace[8..]));
        assert_eq!(segment["parent_id"], hex::encode(&server.parent_span_id));
        assert_eq!(segment["fault"], true);
        assert_eq!(segment["cause"]["exceptions"][0]["type"], "timeout");
        // The emulator printed it in the trace tree too.
        let printed = printed_spans(stderr);
        assert!(
            printed.iter().any(|s| s.span_id == hex::encode(&server.span_id) && s.attributes.contains("status=ERROR")),
            "{function}: the X-Ray segment in the tree: {stderr}"
        );
    }
}
