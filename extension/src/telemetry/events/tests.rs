use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_json::json;

use super::*;

fn events(value: Json) -> Vec<Event> {
    serde_json::from_value(value).expect("events")
}

fn converter() -> Converter {
    Converter::new(otlp::resource("svc", "fn"), Arc::new(LogSecrets::new(intercept::telemetry::Redactor::default())))
}

#[test]
fn an_invocation_becomes_spans_and_metrics() {
    let mut converter = converter();
    let out = converter.convert(events(json!([
        {"time": "2025-01-01T00:00:00.000Z", "type": "platform.initStart", "record": {}},
        {"time": "2025-01-01T00:00:00.120Z", "type": "platform.initRuntimeDone", "record": {"status": "success"}},
        {"time": "2025-01-01T00:00:01.000Z", "type": "platform.start", "record": {"requestId": "r1",
            "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}}},
        {"time": "2025-01-01T00:00:01.050Z", "type": "platform.runtimeDone", "record": {"requestId": "r1", "status": "timeout",
            "metrics": {"durationMs": 50.0, "producedBytes": 0},
            "spans": [{"name": "responseLatency", "start": "2025-01-01T00:00:01.010Z", "durationMs": 5.0},
                      {"name": "responseDuration", "start": "2025-01-01T00:00:01.015Z", "durationMs": 1.5}]}},
        {"time": "2025-01-01T00:00:01.060Z", "type": "platform.report", "record": {"requestId": "r1", "status": "timeout",
            "metrics": {"durationMs": 50.2, "billedDurationMs": 51, "memorySizeMB": 128, "maxMemoryUsedMB": 20, "initDurationMs": 120.0}}},
    ])));
    let names: Vec<&str> = out.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["init", "responseLatency", "responseDuration", "invoke"]);
    assert_eq!(out.spans[0].end_time_unix_nano - out.spans[0].start_time_unix_nano, 120_000_000);
    let invoke = &out.spans[3];
    assert_eq!(invoke.trace_id, hex_bytes("5759e988bd862e3fe1be46a994272793", 16).expect("hex"));
    assert_eq!(invoke.parent_span_id, hex_bytes("53995c3f42cd8ad8", 8).expect("hex"));
    assert_eq!(out.spans[1].parent_span_id, invoke.span_id, "phases are children of invoke");
    assert_eq!(invoke.end_time_unix_nano - invoke.start_time_unix_nano, 50_000_000);
    assert_eq!(invoke.status.as_ref().map(|s| s.code), Some(status::StatusCode::Error as i32));
    assert_eq!(out.runtime_done, ["r1"]);
    let metric_names: Vec<&str> = out.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        metric_names,
        [
            "aws.lambda.duration",
            "aws.lambda.billed_duration",
            "aws.lambda.max_memory_used",
            "aws.lambda.init_duration",
            "aws.lambda.timeouts"
        ]
    );
    let Some(Data::Sum(timeouts)) = &out.metrics[4].data else { panic!("a counter") };
    assert!(timeouts.is_monotonic);
}

#[test]
fn log_lines_carry_request_and_trace_ids() {
    let mut converter = converter();
    let out = converter.convert(events(json!([
        {"time": "2025-01-01T00:00:01.000Z", "type": "platform.start", "record": {"requestId": "r2"}},
        {"time": "2025-01-01T00:00:01.001Z", "type": "function",
         "record": "INFO handled trace_id=0af7651916cd43dd8448eb211c80319c span_id=b7ad6b7169203331 ok"},
        {"time": "2025-01-01T00:00:01.002Z", "type": "function",
         "record": {"message": "json line", "level": "WARN", "requestId": "other", "traceId": "0af7651916cd43dd8448eb211c80319d"}},
        {"time": "2025-01-01T00:00:01.003Z", "type": "function", "record": "plain"},
    ])));
    assert_eq!(out.logs.len(), 3);
    let request = |i: usize| out.logs[i].attributes[0].value.clone().and_then(|v| v.value);
    assert_eq!(request(0), Some(any_value::Value::StringValue("r2".into())));
    assert_eq!(out.logs[0].trace_id, hex_bytes("0af7651916cd43dd8448eb211c80319c", 16).expect("hex"));
    assert_eq!(out.logs[0].span_id, hex_bytes("b7ad6b7169203331", 8).expect("hex"));
    assert_eq!(request(1), Some(any_value::Value::StringValue("other".into())));
    assert_eq!(out.logs[1].severity_text, "WARN");
    assert_eq!(out.logs[1].trace_id.len(), 16);
    assert!(out.logs[2].trace_id.is_empty() && out.logs[2].span_id.is_empty());
}

#[test]
fn log_lines_are_scrubbed_of_the_invocations_credentials() {
    let secrets = Arc::new(LogSecrets::new(intercept::telemetry::Redactor::default()));
    let event = r#"{"version":"2.0","rawPath":"/","headers":{"x-api-key":"k3y-of-the-partner"},
        "requestContext":{"http":{"method":"GET","path":"/","sourceIp":"1.2.3.4"}}}"#;
    secrets.register("r3", event.as_bytes());
    let mut converter = Converter::new(otlp::resource("svc", "fn"), secrets);
    let out = converter.convert(events(json!([
        {"time": "2025-01-01T00:00:01.000Z", "type": "platform.start", "record": {"requestId": "r3"}},
        {"time": "2025-01-01T00:00:01.001Z", "type": "function", "record": "event k3y-of-the-partner Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig ok"},
        {"time": "2025-01-01T00:00:01.002Z", "type": "function",
         "record": {"message": "{'password': 'hunter22', 'key': 'k3y-of-the-partner'}", "level": "INFO"}},
    ])));
    let bodies: Vec<String> = out
        .logs
        .iter()
        .filter_map(|log| match log.body.as_ref().and_then(|b| b.value.clone()) {
            Some(any_value::Value::StringValue(text)) => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, ["event [REDACTED] Bearer [REDACTED] ok", "{'password': '[REDACTED]', 'key': '[REDACTED]'}"]);
}
