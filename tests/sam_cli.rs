//! The real SAM CLI (from pip) on our templates and events: `sam validate --lint` accepts them,
//! and events from `sam local generate-event` run through `intercept-sam local invoke`.

use std::process::Command;
use std::time::Duration;

use intercept_tests::{Scratch, assert_sam_validates, run_sam, sam_cli, workspace};
use serde_json::Value;

fn sam(args: &[&str]) -> std::process::Output {
    Command::new(sam_cli())
        .args(args)
        .env("SAM_CLI_TELEMETRY", "0")
        .current_dir(workspace())
        .output()
        .expect("sam runs")
}

#[test]
fn sam_validate_lint_accepts_our_templates() {
    for template in
        ["examples/template.yaml", "tests/fixtures/api/template.yaml", "tests/fixtures/lifecycle/template.yaml"]
    {
        assert_sam_validates(template);
    }
}

#[test]
fn generated_events_run_through_local_invoke() {
    let scratch = Scratch::new("generated-events");
    for (kind, function, version) in [("http-api-proxy", "Orders", "2.0"), ("aws-proxy", "Legacy", "1.0")] {
        let output = sam(&["local", "generate-event", "apigateway", kind]);
        assert!(output.status.success(), "generate-event {kind}: {}", String::from_utf8_lossy(&output.stderr));
        let generated: Value = serde_json::from_slice(&output.stdout).expect("a JSON event");
        let file = scratch.path().join(format!("{kind}.json"));
        std::fs::write(&file, &output.stdout).expect("write event");
        let invoked = run_sam(
            &[
                "local",
                "invoke",
                function,
                "-t",
                "tests/fixtures/api/template.yaml",
                "--cargo-profile",
                "dev",
                "-e",
                file.to_str().expect("utf-8"),
            ],
            Duration::from_secs(600),
        );
        assert_eq!(invoked.code, Some(0), "{invoked:#?}");
        let response = &invoked.json_lines()[0];
        assert_eq!(response["statusCode"], 201, "{response}");
        let echoed: Value = serde_json::from_str(response["body"].as_str().expect("body")).expect("json");
        assert_eq!(echoed, generated, "the function received SAM's {version} event unchanged");
    }
}
