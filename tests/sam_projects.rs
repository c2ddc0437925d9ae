//! SAM projects written the way real ones are (`tests/fixtures/sam_projects`), run unchanged
//! under `intercept-sam local invoke`: conditions with `AWS::NoValue`, a shared stack's exports,
//! a shared-code layer under `/opt/python`, `--region` and `--profile`, `--env-vars` with all
//! three keys, Lambda's START/END/REPORT lines, and an init that outlasts Lambda's 10 s limit.

use std::process::Command;
use std::time::Duration;

use intercept_tests::{Output, Scratch, assert_sam_validates, run_sam_with};
use serde_json::{Value, json};

const TEMPLATE: &str = "tests/fixtures/sam_projects/template.yaml";

/// The variables a developer's shell may hold that would change what these tests resolve:
/// emptied, so only what each test gives counts.
const CLEAN: [(&str, &str); 7] = [
    ("AWS_REGION", ""),
    ("AWS_DEFAULT_REGION", ""),
    ("AWS_PROFILE", ""),
    ("AWS_ACCESS_KEY_ID", ""),
    ("AWS_SECRET_ACCESS_KEY", ""),
    ("AWS_SESSION_TOKEN", ""),
    ("AWS_ENDPOINT_URL", ""),
];

fn invoke(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all: Vec<(&str, &str)> = CLEAN.to_vec();
    all.extend_from_slice(env);
    let mut command = vec!["local", "invoke"];
    command.extend_from_slice(args);
    command.extend_from_slice(&["-t", TEMPLATE]);
    let output = run_sam_with(&command, &all, Duration::from_secs(180));
    assert_eq!(output.code, Some(0), "{output:#?}");
    output
}

#[test]
fn the_fixture_is_a_valid_sam_template() {
    assert_sam_validates(TEMPLATE);
}

/// The order total comes from the layer's `/opt/python` code; the region given on the command
/// line is the template's `AWS::Region`, the function's `AWS_REGION` and boto3's; the profile's
/// credentials are what boto3 finds; what the shared stack exports is blank, warned about once.
#[test]
fn a_python_project_with_a_shared_layer_a_region_and_a_profile() {
    let scratch = Scratch::new("sam-projects-profile");
    let credentials = scratch.path().join("credentials");
    let config = scratch.path().join("config");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = default-secret\n\n\
         [team]\naws_access_key_id = AKIATEAM\naws_secret_access_key = team/secret\naws_session_token = team-token\n",
    )
    .expect("credentials");
    std::fs::write(&config, "[default]\nregion = us-west-2\n\n[profile team]\nregion = ap-southeast-2\n")
        .expect("config");
    let event = scratch.path().join("event.json");
    std::fs::write(&event, r#"{"items": [{"price_cents": 1000, "quantity": 2}, {"price_cents": 250}]}"#)
        .expect("event");
    let files = [
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().expect("utf-8")),
        ("AWS_CONFIG_FILE", config.to_str().expect("utf-8")),
    ];
    let event = event.to_str().expect("utf-8");

    let output = invoke(&["Orders", "-e", event, "--profile", "team", "--region", "eu-west-1"], &files);
    let answer = &output.json_lines()[0];
    assert_eq!(answer["total_cents"], 2700, "priced by the layer: {answer}");
    assert!(answer["pricing_module"].as_str().is_some_and(|p| p.ends_with("/python/pricing.py")), "{answer}");
    assert_eq!(
        answer["env"],
        json!({
            "STAGE": "dev", "TABLE_NAME": "", "TEMPLATE_REGION": "eu-west-1", "STACK_NAME": "local",
            "DEBUG_ONLY": "yes", "PROD_ONLY": null, "FROM_PARAMETERS": "template", "FROM_FUNCTION": "template",
            "AWS_REGION": "eu-west-1", "AWS_SAM_LOCAL": "true", "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "WARN",
        })
    );
    assert_eq!(
        answer["boto3"],
        json!({"region": "eu-west-1", "access_key": "AKIATEAM", "secret_key": "team/secret", "token": "team-token"})
    );
    let warnings: Vec<&str> = output.stderr.lines().filter(|l| l.contains("!ImportValue")).collect();
    assert_eq!(warnings.len(), 1, "{}", output.stderr);
    assert!(
        warnings[0].starts_with(&format!("intercept-sam: warning: {TEMPLATE}:"))
            && warnings[0].ends_with("!ImportValue shared-infra-OrdersTable: another stack's export cannot be read locally, so it is blank (\"\")"),
        "{}",
        warnings[0]
    );
    assert_lambda_log_layout(&output.stderr, 1);

    // Without --region the profile's region is the region everywhere; without --profile the
    // default chain ends at the default profile.
    let output = invoke(&["Orders", "-e", event, "--profile", "team"], &files);
    let answer = &output.json_lines()[0];
    assert_eq!(
        (&answer["env"]["TEMPLATE_REGION"], &answer["env"]["AWS_REGION"]),
        (&json!("ap-southeast-2"), &json!("ap-southeast-2"))
    );
    let output = invoke(&["Orders", "-e", event, "--parameter-overrides", "Stage=prod"], &files);
    let answer = &output.json_lines()[0];
    assert_eq!(answer["boto3"]["access_key"], "AKIADEFAULT");
    assert_eq!(answer["env"]["TEMPLATE_REGION"], "us-west-2");
    assert_eq!((&answer["env"]["DEBUG_ONLY"], &answer["env"]["PROD_ONLY"]), (&Value::Null, &json!("yes")));

    // An unknown profile stops the command, naming it.
    let mut all = CLEAN.to_vec();
    all.extend_from_slice(&files);
    let failed = run_sam_with(
        &["local", "invoke", "Orders", "-t", TEMPLATE, "--profile", "nobody"],
        &all,
        Duration::from_secs(60),
    );
    assert_eq!(failed.code, Some(1), "{failed:#?}");
    assert!(failed.stderr.contains("--profile nobody: no such profile in"), "{}", failed.stderr);
}

/// A Node.js function requires the same layer's `nodejs/node_modules` code through `NODE_PATH`.
#[test]
fn a_node_project_with_the_shared_layer() {
    let scratch = Scratch::new("sam-projects-node");
    let event = scratch.path().join("event.json");
    std::fs::write(&event, r#"{"items": [{"price_cents": 1000, "quantity": 2}, {"price_cents": 250}]}"#)
        .expect("event");
    let output = invoke(&["OrdersNode", "-e", event.to_str().expect("utf-8")], &[]);
    let answer = &output.json_lines()[0];
    assert_eq!(answer["total_cents"], 2700, "priced by the layer: {answer}");
    let module = answer["pricing_module"].as_str().unwrap_or_default();
    assert!(module.ends_with("/nodejs/node_modules/pricing/index.js"), "{answer}");
}

/// `Parameters` apply to every function, a section named by logical id to that function, and
/// one named by `FunctionName` to the function so named (SAM CLI's keys).
#[test]
fn env_vars_with_parameters_logical_id_and_function_name_sections() {
    let scratch = Scratch::new("sam-projects-env-vars");
    let marker = scratch.path().join("init-marker");
    // The marker says init already ran, so SlowStart's init is quick here.
    std::fs::write(&marker, "init\n").expect("marker");
    let env_vars = scratch.path().join("env.json");
    let sections = json!({
        "Parameters": {"FROM_PARAMETERS": "parameters", "FROM_FUNCTION": "parameters", "STAGE": "from-parameters"},
        "Orders": {"FROM_FUNCTION": "logical-id"},
        "local-slow-start": {"INIT_MARKER": marker},
    });
    std::fs::write(&env_vars, sections.to_string()).expect("env vars");
    let env_vars = env_vars.to_str().expect("utf-8");
    let event = scratch.path().join("event.json");
    std::fs::write(&event, r#"{"items": []}"#).expect("event");

    let output = invoke(&["Orders", "-e", event.to_str().expect("utf-8"), "-n", env_vars], &[]);
    let env = &output.json_lines()[0]["env"];
    assert_eq!(
        (&env["FROM_PARAMETERS"], &env["FROM_FUNCTION"], &env["STAGE"]),
        (&json!("parameters"), &json!("logical-id"), &json!("from-parameters"))
    );
    let output = invoke(&["SlowStart", "-n", env_vars], &[]);
    assert_eq!(output.json_lines()[0], json!({"init_attempts": 2, "function_name": "SlowStart"}));
}

/// Lambda's "suppressed init": the init phase gets 10 s; when it runs out, the environment is
/// reset and init runs again inside the first invocation, under the function's timeout.
#[test]
fn an_init_that_times_out_is_run_again_inside_the_first_invocation() {
    let scratch = Scratch::new("sam-projects-init-timeout");
    let marker = scratch.path().join("init-marker");
    let env_vars = scratch.path().join("env.json");
    std::fs::write(&env_vars, json!({"SlowStart": {"INIT_MARKER": marker}}).to_string()).expect("env vars");
    let output = invoke(&["SlowStart", "-n", env_vars.to_str().expect("utf-8")], &[]);
    assert_eq!(output.json_lines()[0], json!({"init_attempts": 2, "function_name": "SlowStart"}), "{output:#?}");
    let init_report = output.stderr.lines().find(|l| l.starts_with("INIT_REPORT ")).expect("an INIT_REPORT line");
    let fields: Vec<&str> = init_report.split('\t').collect();
    assert_eq!(fields.len(), 3, "{init_report:?}");
    assert!(milliseconds(fields[0], "INIT_REPORT Init Duration: ").is_some_and(|ms| ms >= 10_000.0), "{init_report:?}");
    assert_eq!(&fields[1..], ["Phase: init", "Status: timeout"]);
    // The retried init is part of the invocation: its REPORT has no Init Duration.
    let reports = assert_lambda_log_layout(&output.stderr, 1);
    assert!(!reports[0].contains("Init Duration"), "{}", reports[0]);
}

/// A duration field such as `Duration: 12.34 ms` (two decimals), after `prefix`.
fn milliseconds(field: &str, prefix: &str) -> Option<f64> {
    let number = field.strip_prefix(prefix)?.strip_suffix(" ms")?;
    let (_, decimals) = number.split_once('.')?;
    (decimals.len() == 2).then(|| number.parse().ok()).flatten()
}

fn request_id(text: &str) -> Option<&str> {
    let valid = text.len() == 36
        && text
            .char_indices()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    valid.then_some(text)
}

/// Checks every START, END and REPORT line against Lambda's layout, field by field (what the
/// regex `^REPORT RequestId: ID\tDuration: D ms\tBilled Duration: B ms\tMemory Size: M MB\tMax
/// Memory Used: U MB\t(Init Duration: I ms\t)?(Status: ...)?$` says), that each invocation has
/// the three in order, and returns the REPORT lines.
fn assert_lambda_log_layout(stderr: &str, invocations: usize) -> Vec<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let starts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].starts_with("START ")).collect();
    assert_eq!(starts.len(), invocations, "{stderr}");
    let mut reports = Vec::new();
    for start in starts {
        let id = lines[start]
            .strip_prefix("START RequestId: ")
            .and_then(|rest| rest.strip_suffix(" Version: $LATEST"))
            .and_then(request_id)
            .unwrap_or_else(|| panic!("START line: {:?}", lines[start]));
        let end = (start..lines.len())
            .find(|&i| lines[i] == format!("END RequestId: {id}"))
            .unwrap_or_else(|| panic!("no END for {id}:\n{stderr}"));
        let report = lines[end + 1];
        let fields: Vec<&str> = report.split('\t').collect();
        assert_eq!(fields[0], format!("REPORT RequestId: {id}"), "{report:?}");
        assert!(milliseconds(fields[1], "Duration: ").is_some(), "{report:?}");
        let billed = fields[2].strip_prefix("Billed Duration: ").and_then(|b| b.strip_suffix(" ms"));
        assert!(billed.is_some_and(|b| b.parse::<u64>().is_ok()), "{report:?}");
        assert_eq!(fields[3], "Memory Size: 256 MB", "{report:?}");
        let used = fields[4].strip_prefix("Max Memory Used: ").and_then(|u| u.strip_suffix(" MB"));
        assert!(used.is_some_and(|u| u.parse::<u64>().is_ok()), "{report:?}");
        let rest = &fields[5..];
        let rest = match rest.first().and_then(|f| milliseconds(f, "Init Duration: ")) {
            Some(_) => &rest[1..],
            None => rest,
        };
        assert_eq!(rest, [""], "a successful invocation's REPORT ends with a tab: {report:?}");
        let xray = lines.get(end + 2).copied().unwrap_or_default();
        assert!(xray.starts_with("XRAY TraceId: 1-") && xray.ends_with("\tSampled: true"), "{xray:?}");
        reports.push(report.to_owned());
    }
    reports
}

/// Without `-t`, SAM CLI's `local` commands take what `sam build` wrote, else `template.yaml`
/// (`.yml`, `.json`) in the current folder.
#[test]
fn without_a_template_flag_the_built_template_is_preferred() {
    let scratch = Scratch::new("sam-projects-default-template");
    let app = scratch.path();
    for (folder, answer) in [("src", "source"), (".aws-sam/build/Hello", "built")] {
        std::fs::create_dir_all(app.join(folder)).expect("folder");
        let handler = format!("def handler(event, context):\n    return {{\"template\": \"{answer}\"}}\n");
        std::fs::write(app.join(folder).join("app.py"), handler).expect("handler");
    }
    let template = |code_uri: &str| {
        format!(
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  Hello:\n    Type: AWS::Serverless::Function\n    \
             Properties:\n      CodeUri: {code_uri}\n      Handler: app.handler\n      Runtime: python3.12\n"
        )
    };
    std::fs::write(app.join("template.yml"), template("src")).expect("template");
    let run = || {
        let output = Command::new(intercept_tests::intercept_sam())
            .args(["local", "invoke"])
            .current_dir(app)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("intercept-sam runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).expect("one JSON answer")
    };
    assert_eq!(run(), json!({"template": "source"}), "template.yml in the current folder");
    std::fs::write(app.join(".aws-sam/build/template.yaml"), template("Hello")).expect("built template");
    assert_eq!(run(), json!({"template": "built"}), "what sam build wrote comes first");
}

/// `samconfig.toml` beside the template gives the flags not given, per `--config-env`: the
/// command's section over the global one, the command line over both.
#[test]
fn samconfig_gives_the_flags_not_given() {
    let scratch = Scratch::new("sam-projects-samconfig");
    let app = scratch.path();
    std::fs::create_dir_all(app.join("src")).expect("folder");
    std::fs::write(
        app.join("src/app.py"),
        "import os\n\ndef handler(event, context):\n    \
         return {k: os.environ.get(k) for k in ['STAGE', 'TEMPLATE_REGION', 'AWS_REGION', 'FROM_FILE']}\n",
    )
    .expect("handler");
    std::fs::write(
        app.join("template.yaml"),
        "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Stage: {Type: String, Default: dev}\nResources:\n  \
         Hello:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n      Handler: app.handler\n      \
         Runtime: python3.12\n      Environment:\n        Variables:\n          STAGE: !Ref Stage\n          \
         TEMPLATE_REGION: !Ref AWS::Region\n          FROM_FILE: template\n",
    )
    .expect("template");
    std::fs::write(app.join("env.json"), r#"{"Parameters": {"FROM_FILE": "env-vars"}}"#).expect("env vars");
    std::fs::write(
        app.join("samconfig.toml"),
        "version = 0.1\n[default.global.parameters]\nregion = \"eu-west-1\"\n\n\
         [default.local_invoke.parameters]\nparameter_overrides = \"Stage=qa\"\nenv_vars = \"env.json\"\n\n\
         [prod.local_invoke.parameters]\nparameter_overrides = [\"Stage=prod\"]\nregion = \"us-west-2\"\n",
    )
    .expect("samconfig");
    let run = |extra: &[&str]| {
        let output = Command::new(intercept_tests::intercept_sam())
            .args(["local", "invoke"])
            .args(extra)
            .envs(CLEAN)
            .current_dir(app)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("intercept-sam runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).expect("one JSON answer")
    };
    let answer = |stage: &str, region: &str, from_file: &str| json!({"STAGE": stage, "TEMPLATE_REGION": region, "AWS_REGION": region, "FROM_FILE": from_file});
    assert_eq!(run(&[]), answer("qa", "eu-west-1", "env-vars"));
    assert_eq!(run(&["--config-env", "prod"]), answer("prod", "us-west-2", "template"));
    assert_eq!(
        run(&["--region", "ca-central-1", "--parameter-overrides", "Stage=cli"]),
        answer("cli", "ca-central-1", "env-vars")
    );
}
