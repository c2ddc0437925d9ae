//! `intercept-sam policy check` and `policy explain`, run as CI and operators run them: the real
//! binary on the example and invalid policy files.

use std::time::Duration;

use intercept_tests::{Scratch, run_sam};

const LIMIT: Duration = Duration::from_secs(60);
const EXAMPLE: &str = "tests/fixtures/policy/orders.yaml";
const INVALID: &str = "tests/fixtures/policy/invalid.yaml";

#[test]
fn check_accepts_the_example_and_prints_its_digest() {
    let output = run_sam(&["policy", "check", EXAMPLE], LIMIT);
    assert_eq!(output.code, Some(0), "{output:#?}");
    let line = output.stdout.trim();
    let digest = line.strip_prefix("ok: 4 routes, digest sha256:").unwrap_or_else(|| panic!("{output:#?}"));
    assert!(digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    assert!(output.stderr.is_empty(), "{output:#?}");

    // The digest is the file's meaning, not its text: a comment and a new layout keep it.
    let scratch = Scratch::new("policy-check-digest");
    let text = std::fs::read_to_string(intercept_tests::workspace().join(EXAMPLE)).expect("example");
    let copy = scratch.path().join("copy.yaml");
    std::fs::write(&copy, format!("# reviewed\n{}", text.replace("[orders-api]", "\n      - orders-api")))
        .expect("write");
    let again = run_sam(&["policy", "check", copy.to_str().expect("utf-8 path")], LIMIT);
    assert_eq!(again.stdout.trim(), line, "{again:#?}");
    let changed = scratch.path().join("changed.yaml");
    std::fs::write(&changed, text.replace("rate: 50/s", "rate: 60/s")).expect("write");
    let other = run_sam(&["policy", "check", changed.to_str().expect("utf-8 path")], LIMIT);
    assert_eq!(other.code, Some(0), "{other:#?}");
    assert_ne!(other.stdout.trim(), line);
}

#[test]
fn check_reports_every_error_with_its_position() {
    let output = run_sam(&["policy", "check", INVALID], LIMIT);
    assert_eq!(output.code, Some(1), "{output:#?}");
    assert!(output.stdout.is_empty(), "{output:#?}");
    let lines: Vec<&str> = output.stderr.lines().collect();
    let expected = [
        "tests/fixtures/policy/invalid.yaml:5:11: error: unknown key source `vault`",
        "tests/fixtures/policy/invalid.yaml:8:15: error: bad rate: `100/x` has an unknown period",
        "tests/fixtures/policy/invalid.yaml:9:16: error: `burst` must be a whole number above 0, found 0",
        "tests/fixtures/policy/invalid.yaml:13:5: error: unknown key `rate_limt`, did you mean `rate_limit`?",
        "tests/fixtures/policy/invalid.yaml:14:3: error: route `GET /orders/{orderId}` can never match: it matches \
         the same requests as route `GET /orders/{id}` at line 12",
        "tests/fixtures/policy/invalid.yaml:17:7: error: `scopes` on a route without jwt auth (`type: api-key`)",
    ];
    assert_eq!(lines.len(), expected.len(), "{}", output.stderr);
    for (line, expected) in lines.iter().zip(expected) {
        assert!(line.starts_with(expected), "expected `{expected}...`, got `{line}`");
    }
}

#[test]
fn check_reports_conflicts_with_the_given_environment() {
    let output = run_sam(&["policy", "check", EXAMPLE, "--env", "INTERCEPT_JWT_ISSUER=https://other.example/"], LIMIT);
    assert_eq!(output.code, Some(1), "{output:#?}");
    assert!(
        output.stderr.contains("INTERCEPT_JWT_ISSUER: conflicts with the policy file")
            && output.stderr.contains("orders.yaml:10:13"),
        "{output:#?}"
    );
    let missing = run_sam(&["policy", "check", "tests/fixtures/policy/absent.yaml"], LIMIT);
    assert_eq!(missing.code, Some(1));
    assert!(missing.stderr.starts_with("tests/fixtures/policy/absent.yaml:1:1: error: cannot read"), "{missing:#?}");
}

#[test]
fn explain_prints_the_route_and_what_it_would_do() {
    let output = run_sam(&["policy", "explain", EXAMPLE, "GET /orders/42"], LIMIT);
    assert_eq!(output.code, Some(0), "{output:#?}");
    let expected = "\
route: GET /orders/{id} (tests/fixtures/policy/orders.yaml:28:3)
path parameters: id=42
auth: jwt (mode: enforce)
  keys: JWKS https://auth.example.com/.well-known/jwks.json; algorithms: RS256, ES256
  issuer: https://auth.example.com/
  audience: orders-api
  scopes: orders:read
rate limits:
  - orders-read: 50/s burst 50 key principal mode enforce store memory
  - orders-hourly: 1000/h burst 1000 key principal mode detect store memory
telemetry: sampling 1; redact: password
";
    assert_eq!(output.stdout, expected);

    let admin = run_sam(&["policy", "explain", EXAMPLE, "DELETE /admin/users/7?force=1"], LIMIT);
    assert!(admin.stdout.starts_with("route: ANY /admin/{proxy+}"), "{admin:#?}");
    assert!(admin.stdout.contains("path parameters: proxy=users/7"), "{admin:#?}");
    assert!(admin.stdout.contains("auth: api-key (mode: enforce)\n  api key header: x-admin-key"), "{admin:#?}");

    let write = run_sam(&["policy", "explain", EXAMPLE, "POST /orders"], LIMIT);
    assert!(write.stdout.contains("auth: jwt (mode: detect)"), "{write:#?}");
    assert!(write.stdout.contains("telemetry: sampling 0.25; redact: card_number, password"), "{write:#?}");

    let none = run_sam(&["policy", "explain", EXAMPLE, "GET /unknown/path"], LIMIT);
    assert_eq!(none.code, Some(0));
    assert!(none.stdout.starts_with("no route matches: defaults apply\n"), "{none:#?}");
    assert!(none.stdout.contains("- source-ip: 100/m burst 20 key source-ip mode enforce"), "{none:#?}");

    let off = run_sam(&["policy", "explain", EXAMPLE, "GET /orders/1", "--env", "INTERCEPT_DISABLE=auth"], LIMIT);
    assert!(off.stdout.contains("auth: OFF (INTERCEPT_DISABLE)"), "{off:#?}");

    let bad = run_sam(&["policy", "explain", EXAMPLE, "/orders/42"], LIMIT);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("is not a request; expected `METHOD /path`"), "{bad:#?}");
}
