//! The walking skeleton end to end: the example template under the emulator, with the real
//! `lambda_runtime` function, the real extension from the layer, and the embedded OTLP receiver.

use std::time::Duration;

use intercept_tests::{printed_spans, reports, run_sam};

/// Builds run inside the emulator the first time, so the limit is generous.
const LIMIT: Duration = Duration::from_secs(900);

const VALID: &str = "examples/events/hello-valid.json";
const NO_TOKEN: &str = "examples/events/hello-no-token.json";
/// The `traceparent` in the valid event.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn invoke(extra: &[&str]) -> intercept_tests::Output {
    let mut args = vec!["local", "invoke", "HelloFunction", "-t", "examples/template.yaml", "--cargo-profile", "dev"];
    args.extend_from_slice(extra);
    run_sam(&args, LIMIT)
}

#[test]
fn accepted_unauthorized_and_rate_limited_with_traces() {
    let output = invoke(&["-e", VALID, "-e", NO_TOKEN, "-e", VALID]);
    assert_eq!(output.code, Some(0), "{output:#?}");

    let responses = output.json_lines();
    assert_eq!(responses.len(), 3, "{output:#?}");
    assert_eq!(responses[0]["statusCode"], 200);
    let body: serde_json::Value =
        serde_json::from_str(responses[0]["body"].as_str().expect("body")).expect("json body");
    assert_eq!(body["message"], "hello from behind Intercept");
    assert_eq!(responses[1]["statusCode"], 401);
    assert_eq!(responses[1]["headers"]["www-authenticate"], "Bearer");
    assert_eq!(responses[2]["statusCode"], 429);
    assert_eq!(responses[2]["headers"]["retry-after"], "30");
    assert_eq!(responses[2]["headers"]["ratelimit-policy"], "\"source-ip\";q=2;w=60");

    let reports = reports(&output.stderr);
    assert_eq!(reports.len(), 3, "{}", output.stderr);
    assert!(reports[0].1.contains("Init Duration:"), "cold start reported: {}", reports[0].1);
    assert!(!reports[1].1.contains("Init Duration:"), "warm invocation: {}", reports[1].1);
    for (_, line, _, _) in &reports {
        assert!(line.contains("Billed Duration:") && line.contains("Memory Size: 128 MB"), "{line}");
    }

    // The handler ran for the accepted request only.
    let handler_runs: Vec<&str> =
        output.stderr.lines().filter(|l| l.starts_with("hello handler ran for request ")).collect();
    assert_eq!(handler_runs, [format!("hello handler ran for request {}", reports[0].0)], "{}", output.stderr);

    // Each invocation's span reached the embedded receiver, parented on its caller. The
    // extension flushes on its own schedule, so spans may print after a later REPORT line.
    let spans = printed_spans(&output.stderr);
    // The server span of each invocation (its filters' child spans carry decisions too).
    let function_spans: Vec<_> = spans.iter().filter(|s| s.attributes.contains("faas.coldstart=")).collect();
    assert_eq!(function_spans.len(), 3, "{}", output.stderr);
    let with_status = |code: u16| {
        let wanted = format!("http.response.status_code={code}");
        function_spans
            .iter()
            .find(|s| s.attributes.contains(&wanted))
            .copied()
            .unwrap_or_else(|| panic!("no {code} span"))
    };
    let accepted = with_status(200);
    assert_eq!((accepted.trace_id.as_str(), accepted.parent.as_str()), (CALLER_TRACE, CALLER_SPAN));
    assert_eq!(accepted.name, "GET /hello");
    assert!(accepted.attributes.contains("faas.coldstart=true"), "{accepted:?}");

    // Without a traceparent, the span continues Lambda's X-Ray trace for that invocation.
    let (_, _, xray_trace, xray_segment) = &reports[1];
    let expected_trace = xray_trace.trim_start_matches("1-").replace('-', "");
    let rejected = with_status(401);
    assert_eq!((&rejected.trace_id, &rejected.parent), (&expected_trace, xray_segment));
    assert!(rejected.attributes.contains("intercept.reason=missing_token"), "{rejected:?}");

    let limited = with_status(429);
    assert_eq!(limited.trace_id, CALLER_TRACE);
    assert!(limited.attributes.contains("intercept.reason=rate_limited"), "{limited:?}");

    // The extension turns the Telemetry API's platform events into spans in the same X-Ray trace.
    assert!(
        spans.iter().any(|s| s.name == "invoke" && s.trace_id == expected_trace),
        "a platform invoke span in trace {expected_trace}: {}",
        output.stderr
    );

    // A missing secret stops the function at init, with one line naming the setting.
    let env = std::env::temp_dir().join(format!("intercept-e2e-env-{}.json", std::process::id()));
    std::fs::write(&env, r#"{"HelloFunction": {"INTERCEPT_JWT_SECRET": ""}}"#).expect("write env file");
    let output = invoke(&["-e", VALID, "-n", env.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&env);
    assert_eq!(output.code, Some(1), "{output:#?}");
    let error_line = output.stderr.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(
        error_line.contains("HelloFunction failed to initialise: Intercept.ConfigError")
            && error_line.contains("INTERCEPT_JWT_SECRET"),
        "{error_line}"
    );
    assert!(!output.stderr.contains("hello handler ran"), "the handler must not run: {}", output.stderr);
}

#[test]
fn bad_input_stops_with_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["local", "invoke", "-t", "examples/missing.yaml"], "examples/missing.yaml: cannot read the template"),
        (
            &["local", "invoke", "Nope", "-t", "examples/template.yaml"],
            "no function `Nope` in examples/template.yaml; it has: HelloFunction",
        ),
        (
            &["local", "invoke", "HelloFunction", "-t", "examples/template.yaml", "-e", "Cargo.toml"],
            "event Cargo.toml is not JSON",
        ),
        (
            &["local", "invoke", "-t", "examples/template.yaml", "--parameter-overrides", "Nope=1"],
            "`Nope` is not a parameter of this template",
        ),
        (&["local", "invoke", "-t", "tests/fixtures/broken.yaml"], "tests/fixtures/broken.yaml:3:1: not valid YAML"),
    ];
    for (args, expected) in cases {
        let output = run_sam(args, Duration::from_secs(60));
        assert_eq!(output.code, Some(1), "{args:?}: {output:#?}");
        let stderr = output.stderr.trim();
        assert_eq!(stderr.lines().count(), 1, "one line for {args:?}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
