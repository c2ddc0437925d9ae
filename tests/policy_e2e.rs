//! The policy file end to end (#10): the example function under the emulator with its filters
//! from `INTERCEPT_POLICY` (tests/fixtures/policy/template.yaml), the real `lambda_runtime`
//! function, the extension from the layer and the emulator's printed trace trees. Detect mode lets
//! a request that would be refused through and says so on its spans; the kill switch turns the
//! file's authentication off with a warning at init; a bad file stops init naming file:line:col.

use std::sync::Mutex;
use std::time::Duration;

use intercept_tests::{Output, Scratch, printed_spans, run_sam, workspace};

/// Builds run inside the emulator the first time, so the limit is generous.
const LIMIT: Duration = Duration::from_secs(900);
const TEMPLATE: &str = "tests/fixtures/policy/template.yaml";
const NO_TOKEN: &str = "examples/events/hello-no-token.json";

/// One emulator at a time: they would race laying out the same layer folder.
static EMULATOR: Mutex<()> = Mutex::new(());

/// `local invoke` of the policy template with `policy` (a file of tests/fixtures/policy) and
/// `env` overrides for the function, one invocation per event.
fn invoke(policy: &str, env: &[(&str, &str)], events: &[&str]) -> Output {
    let _one = EMULATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let policy = workspace().join("tests/fixtures/policy").join(policy);
    let policy = format!("PolicyFile={}", policy.to_str().expect("utf-8 path"));
    let scratch = Scratch::new("policy-e2e");
    let env_file = scratch.path().join("env.json");
    let vars: serde_json::Map<String, serde_json::Value> =
        env.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
    std::fs::write(&env_file, serde_json::json!({ "HelloFunction": vars }).to_string()).expect("env file");
    let mut args = vec!["local", "invoke", "HelloFunction", "-t", TEMPLATE, "--cargo-profile", "dev"];
    args.extend(["--parameter-overrides", &policy, "-n", env_file.to_str().expect("utf-8 path")]);
    for event in events {
        args.extend(["-e", event]);
    }
    run_sam(&args, LIMIT)
}

fn handler_runs(output: &Output) -> usize {
    output.stderr.lines().filter(|l| l.starts_with("hello handler ran for request ")).count()
}

#[test]
fn detect_mode_lets_would_be_refusals_through_and_says_so_on_the_spans() {
    // The first request has no token (detect-mode auth); the second is also over the detect
    // rule's 1/m from its address.
    let output = invoke("detect.yaml", &[], &[NO_TOKEN, NO_TOKEN]);
    assert_eq!(output.code, Some(0), "{output:#?}");
    let responses = output.json_lines();
    let statuses: Vec<_> = responses.iter().map(|r| r["statusCode"].clone()).collect();
    assert_eq!(statuses, [200, 200], "{output:#?}");
    assert_eq!(handler_runs(&output), 2, "the handler ran both times: {}", output.stderr);

    let spans = printed_spans(&output.stderr);
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let auth = named("authentication");
    assert_eq!(auth.len(), 2, "{}", output.stderr);
    for span in &auth {
        for attribute in ["intercept.mode=detect", "intercept.decision=would_reject", "intercept.reason=missing_token"]
        {
            assert!(span.attributes.contains(attribute), "{attribute} missing: {span:?}");
        }
    }
    let trial = named("ratelimit trial");
    assert_eq!(trial.len(), 2, "{}", output.stderr);
    let decisions: Vec<bool> = trial.iter().map(|s| s.attributes.contains("intercept.decision=would_reject")).collect();
    assert_eq!(decisions.iter().filter(|d| **d).count(), 1, "one of the two is over 1/m: {trial:?}");
    assert!(trial.iter().all(|s| s.attributes.contains("intercept.mode=detect")), "{trial:?}");
    // The server spans answered 200, allowed, with what detect mode would have refused.
    let servers: Vec<_> = spans.iter().filter(|s| s.attributes.contains("faas.coldstart=")).collect();
    assert_eq!(servers.len(), 2, "{}", output.stderr);
    let mut would_reject: Vec<&str> = Vec::new();
    for server in servers {
        assert!(server.attributes.contains("http.response.status_code=200"), "{server:?}");
        assert!(server.attributes.contains("intercept.decision=allowed"), "{server:?}");
        let reasons = server.attributes.split_whitespace().find_map(|a| a.strip_prefix("intercept.would_reject="));
        would_reject.push(reasons.unwrap_or_else(|| panic!("no intercept.would_reject: {server:?}")));
    }
    would_reject.sort_unstable();
    // The rate limit runs before authentication, so its reason comes first.
    assert_eq!(would_reject, ["missing_token", "rate_limited,missing_token"], "{}", output.stderr);
    // One log line per detection, from the function.
    let logged = output.stderr.lines().filter(|l| l.contains("request would have been rejected")).count();
    assert_eq!(logged, 3, "two auth detections and one rate-limit detection: {}", output.stderr);
    // The audit line names the file and its digest.
    assert!(
        output.stderr.lines().any(|l| l.contains("intercept policy: source=") && l.contains("detect.yaml")),
        "audit line at init: {}",
        output.stderr
    );
}

#[test]
fn kill_switch_turns_the_files_authentication_off_and_says_so_at_init() {
    let enforced = invoke("enforce.yaml", &[], &[NO_TOKEN]);
    assert_eq!(enforced.code, Some(0), "{enforced:#?}");
    assert_eq!(enforced.json_lines()[0]["statusCode"], 401, "{enforced:#?}");
    assert_eq!(handler_runs(&enforced), 0, "{}", enforced.stderr);
    assert!(!enforced.stderr.contains("KILL SWITCH"), "{}", enforced.stderr);

    let disabled = invoke("enforce.yaml", &[("INTERCEPT_DISABLE", "auth")], &[NO_TOKEN]);
    assert_eq!(disabled.code, Some(0), "{disabled:#?}");
    assert_eq!(disabled.json_lines()[0]["statusCode"], 200, "{disabled:#?}");
    assert_eq!(handler_runs(&disabled), 1, "{}", disabled.stderr);
    let warning = disabled.stderr.lines().find(|l| l.contains("KILL SWITCH")).unwrap_or_else(|| {
        panic!("no kill switch warning at init: {}", disabled.stderr);
    });
    assert!(warning.contains("WARN") && warning.contains("INTERCEPT_DISABLE=auth"), "{warning}");
    assert!(warning.contains("authentication is OFF for every route"), "{warning}");
    let audit = disabled.stderr.lines().find(|l| l.contains("intercept policy: source=")).expect("audit line");
    assert!(audit.contains("disabled=auth"), "{audit}");
}

#[test]
fn a_bad_policy_file_stops_init_naming_file_line_and_column() {
    let output = invoke("invalid.yaml", &[], &[NO_TOKEN]);
    assert_eq!(output.code, Some(1), "{output:#?}");
    let error_line = output.stderr.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(
        error_line.contains("HelloFunction failed to initialise: Intercept.ConfigError")
            && error_line.contains("INTERCEPT_POLICY"),
        "{error_line}"
    );
    assert!(
        output.stderr.contains("tests/fixtures/policy/invalid.yaml:5:11: error: unknown key source `vault`"),
        "{}",
        output.stderr
    );
    assert_eq!(handler_runs(&output), 0, "the handler must not run: {}", output.stderr);
}
