//! Telemetry end to end: the example function (real `lambda_runtime`, the extension from the
//! layer) under the emulator with freeze on, each invocation's spans (the server span and its
//! filter and handler children) arriving at the embedded receiver through the extension, and
//! the log lines carrying the request, trace and span ids.

use std::time::Duration;

use intercept_tests::{PrintedSpan, printed_spans, reports, run_sam};

/// Builds run inside the emulator the first time, so the limit is generous.
const LIMIT: Duration = Duration::from_secs(900);

const VALID: &str = "examples/events/hello-valid.json";
const NO_TOKEN: &str = "examples/events/hello-no-token.json";
/// The `traceparent` in the valid event.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn children<'a>(spans: &'a [PrintedSpan], parent: &PrintedSpan) -> Vec<&'a str> {
    spans
        .iter()
        .filter(|s| s.parent == parent.span_id && s.trace_id == parent.trace_id)
        .map(|s| s.name.as_str())
        .collect()
}

#[test]
fn every_invocation_sends_its_span_tree_and_logs_carry_its_ids() {
    let args = [
        "local",
        "invoke",
        "HelloFunction",
        "-t",
        "examples/template.yaml",
        "--cargo-profile",
        "dev",
        "-e",
        VALID,
        "-e",
        NO_TOKEN,
        "-e",
        VALID,
    ];
    let output = run_sam(&args, LIMIT);
    assert_eq!(output.code, Some(0), "{output:#?}");
    assert!(!output.stderr.contains("--no-freeze"), "freeze stays on");
    let reports = reports(&output.stderr);
    assert_eq!(reports.len(), 3, "{}", output.stderr);

    // The function's server spans: the only ones with a cold-start attribute.
    let spans = printed_spans(&output.stderr);
    let roots: Vec<&PrintedSpan> = spans.iter().filter(|s| s.attributes.contains("faas.coldstart=")).collect();
    assert_eq!(roots.len(), 3, "one server span per invocation: {}", output.stderr);
    let with_status = |code: u16| {
        let wanted = format!("http.response.status_code={code}");
        *roots.iter().find(|s| s.attributes.contains(&wanted)).unwrap_or_else(|| panic!("no {code} span"))
    };

    let accepted = with_status(200);
    assert_eq!(accepted.trace_id, CALLER_TRACE);
    assert_eq!(children(&spans, accepted), ["ratelimit source-ip", "authentication", "handler"]);

    let unauthorized = with_status(401);
    let (_, _, xray_trace, _) = &reports[1];
    assert_eq!(unauthorized.trace_id, xray_trace.trim_start_matches("1-").replace('-', ""));
    assert_eq!(children(&spans, unauthorized), ["ratelimit source-ip", "authentication"], "no handler span");
    let auth = spans
        .iter()
        .find(|s| s.parent == unauthorized.span_id && s.name == "authentication")
        .expect("the authentication span");
    assert!(auth.attributes.contains("intercept.decision=rejected intercept.reason=missing_token"), "{auth:?}");

    let limited = with_status(429);
    assert_eq!(children(&spans, limited), ["ratelimit source-ip"], "refused before authentication");

    // Log lines (Lambda's text format: the template sets no LoggingConfig, and the emulator,
    // like Lambda, does not let a function's variables set AWS_LAMBDA_LOG_FORMAT): the
    // rejection's line names its request and the trace and span of its server span.
    let (rejected_request, _, _, _) = &reports[1];
    let prefix = format!("\t{rejected_request}\tINFO\trequest rejected reason=missing_token");
    let line = output
        .stderr
        .lines()
        .chain(output.stdout.lines())
        .find(|l| l.contains(&prefix))
        .unwrap_or_else(|| panic!("a log line for the rejection of {rejected_request}: {}", output.stderr));
    assert!(line.ends_with(&format!("traceId={} spanId={}", unauthorized.trace_id, unauthorized.span_id)), "{line}");
    // Neither the bearer token nor the Authorization header's value is in any line.
    let token = std::fs::read_to_string(intercept_tests::workspace().join(VALID)).expect("event");
    let bearer = token.split("Bearer ").nth(1).and_then(|rest| rest.split('"').next()).expect("a bearer token");
    assert!(!output.stderr.contains(bearer) && !output.stdout.contains(bearer), "the token leaked");
}
