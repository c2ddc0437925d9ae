//! Live policy end to end (issue 23): the example hello function (the real `lambda_runtime`
//! under `#[intercept::main]`) served by `intercept-sam local start-api`, its `INTERCEPT_POLICY`
//! a file, an S3 object or an SSM parameter on moto's server (boto3 writes them), or an
//! AppConfig location served by the emulator's `--appconfig` endpoint (moto has no AppConfig
//! data API, and the AppConfig Agent is a Lambda extension that cannot run here). The policy is
//! polled every second (`tests/fixtures/live_policy/template.yaml`).
//!
//! Each test changes the source while the environment stays warm and sends requests until the
//! new rule decides (a deadline, never a timed assertion); it then checks that no environment
//! was started again (one `faas.coldstart=true` span) and that the spans name the new digest.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use intercept_tests::{MotoServer, Scratch, StartApi, printed_spans, venv_python, workspace};

const TEMPLATE: &str = "tests/fixtures/live_policy/template.yaml";
/// Builds run inside the emulator the first time, so the start limit is generous.
const START_LIMIT: Duration = Duration::from_secs(900);
/// How long a change may take to be seen: the poll (1 s) plus an invocation, with room for a
/// loaded machine. Requests are sent until then; nothing is asserted about the time taken.
const CHANGE_DEADLINE: Duration = Duration::from_secs(60);

/// One emulator at a time: they would race laying out the same layer folder.
static EMULATOR: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const OPEN: &str = "defaults:\n  auth: none\n";
const CLOSED: &str = "defaults:\n  auth: jwt\n";
/// `auth: saml` is not a scheme: an invalid version (line 2, column 9).
const BROKEN: &str = "defaults:\n  auth: saml\n";
const KEPT: &str = "a new policy version is not used, the last good one stays";

fn rules(mode: &str) -> String {
    format!("defaults:\n  auth: none\n  rate_limit:\n    - rate: 1/m\n      key: global\n      mode: {mode}\n")
}

/// moto's server with the S3 and SSM helpers the tests use.
struct Moto(MotoServer);

impl Moto {
    fn start() -> Moto {
        Moto(MotoServer::start())
    }

    /// Runs boto3 `code` with `s3` and `ssm` clients of this server; `arg` is `sys.argv[1]`.
    fn boto3(&self, code: &str, arg: &str) {
        let script = format!(
            "import sys, boto3\n\
             kwargs = dict(endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             s3 = boto3.client('s3', **kwargs)\n\
             ssm = boto3.client('ssm', **kwargs)\n\
             {code}\n",
            self.0.endpoint
        );
        let output = Command::new(venv_python()).args(["-c", &script, arg]).output().expect("python runs");
        assert!(output.status.success(), "boto3: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn put_object(&self, text: &str) {
        self.boto3(
            "try: s3.create_bucket(Bucket='policies')\nexcept s3.exceptions.BucketAlreadyOwnedByYou: pass\n\
             s3.put_object(Bucket='policies', Key='live/policy.yaml', Body=sys.argv[1].encode())",
            text,
        );
    }

    fn put_parameter(&self, text: &str) {
        self.boto3(
            "ssm.put_parameter(Name='/intercept/policy', Value=sys.argv[1], Type='SecureString', Overwrite=True)",
            text,
        );
    }
}

/// start-api of the live-policy template with `source` as `INTERCEPT_POLICY`.
fn start(source: &str, extra: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> StartApi {
    let parameter = format!("PolicySource={source}");
    let mut args: Vec<&std::ffi::OsStr> =
        ["-t", TEMPLATE, "--cargo-profile", "dev", "--parameter-overrides", &parameter].map(AsRef::as_ref).to_vec();
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    env.extend([("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_REGION", "us-east-1")]);
    StartApi::start(&args, &env, START_LIMIT)
}

/// Invocations the emulator reported (their invoke phase over, the environment idle again).
fn reported(api: &StartApi) -> usize {
    api.text().lines().filter(|line| line.starts_with("REPORT RequestId:")).count()
}

/// The status of one `GET /hello`, once its invocation is reported: the environment is idle
/// again, so the next request reuses it (as Lambda would) instead of starting another.
async fn status(api: &StartApi) -> u16 {
    status_of(api, "/hello").await
}

/// [`status`] of `GET path`.
async fn status_of(api: &StartApi, path: &str) -> u16 {
    let before = reported(api);
    let response = reqwest::get(format!("{}{path}", api.base)).await.expect("start-api answers");
    let started = Instant::now();
    while reported(api) <= before {
        assert!(started.elapsed() < CHANGE_DEADLINE, "the invocation was never reported:\n{}", api.text());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    response.status().as_u16()
}

/// Sends requests until one answers `wanted` (the change was read and applied), or panics at the
/// deadline with what the emulator printed.
async fn until_status(api: &StartApi, wanted: u16) {
    let started = Instant::now();
    loop {
        if status(api).await == wanted {
            return;
        }
        assert!(started.elapsed() < CHANGE_DEADLINE, "never answered {wanted}:\n{}", api.text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends requests to `path` until the emulator's output contains `text` (the function logged it).
async fn until_logged(api: &StartApi, text: &str, path: &str) {
    let started = Instant::now();
    while !api.text().contains(text) {
        assert!(started.elapsed() < CHANGE_DEADLINE, "never logged `{text}`:\n{}", api.text());
        let _ = status_of(api, path).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Environments started so far: REPORT lines with an `Init Duration` (a cold start's).
fn cold_starts(api: &StartApi) -> usize {
    api.text().lines().filter(|line| line.starts_with("REPORT RequestId:") && line.contains("Init Duration")).count()
}

/// The policy digests the server spans named, in order, without repeats.
fn digests(api: &StartApi) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for span in printed_spans(&api.text()) {
        if let Some(digest) =
            span.attributes.split_whitespace().find_map(|a| a.strip_prefix("intercept.policy.digest="))
            && seen.last().map(String::as_str) != Some(digest)
        {
            seen.push(digest.to_owned());
        }
    }
    seen
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write the policy");
}

#[tokio::test]
async fn an_edited_policy_file_applies_to_the_next_requests_and_a_broken_edit_keeps_the_last_good() {
    let _one = EMULATOR.lock().await;
    let scratch = Scratch::new("live-policy-file");
    let file = scratch.path().join("policy.yaml");
    write(&file, OPEN);
    let api = start(file.to_str().expect("utf-8"), &[], &[]);
    assert_eq!(status(&api).await, 200, "{}", api.text());

    write(&file, CLOSED);
    until_status(&api, 401).await;
    write(&file, BROKEN);
    until_logged(&api, KEPT, "/hello").await;
    assert!(api.text().contains(":2:9:"), "the error's position is logged:\n{}", api.text());
    assert_eq!(status(&api).await, 401, "the last good version stays in force");
    assert_eq!(cold_starts(&api), 1, "one environment, kept warm:\n{}", api.text());
    assert_eq!(digests(&api).len(), 2, "the spans carry the open then the closed digest:\n{}", api.text());
}

#[tokio::test]
async fn an_s3_policy_is_polled_and_its_object_going_away_keeps_the_last_good() {
    let _one = EMULATOR.lock().await;
    let moto = Moto::start();
    moto.put_object(OPEN);
    let api = start("s3://policies/live/policy.yaml", &[], &[("AWS_ENDPOINT_URL", &moto.0.endpoint)]);
    assert_eq!(status(&api).await, 200, "{}", api.text());

    moto.put_object(CLOSED);
    until_status(&api, 401).await;
    moto.boto3("s3.delete_object(Bucket='policies', Key='live/policy.yaml')", "");
    until_logged(&api, KEPT, "/hello").await;
    assert!(api.text().contains("s3://policies/live/policy.yaml: status 404"), "{}", api.text());
    assert_eq!(status(&api).await, 401, "the last good version stays in force");
    assert_eq!(cold_starts(&api), 1, "one environment, kept warm:\n{}", api.text());
}

#[tokio::test]
async fn a_detect_route_in_ssm_promoted_to_enforce_refuses_without_a_new_environment() {
    let _one = EMULATOR.lock().await;
    let moto = Moto::start();
    moto.put_parameter(&rules("detect"));
    let api = start("ssm:///intercept/policy", &[], &[("AWS_ENDPOINT_URL", &moto.0.endpoint)]);
    // 1/m from everyone: the second request is over it, and detect mode lets it through.
    assert_eq!(status(&api).await, 200, "{}", api.text());
    assert_eq!(status(&api).await, 200, "{}", api.text());
    assert!(
        printed_spans(&api.text()).iter().any(|s| s.attributes.contains("intercept.decision=would_reject")),
        "the would-be rejection is recorded:\n{}",
        api.text()
    );

    moto.put_parameter(&rules("enforce"));
    until_status(&api, 429).await;
    assert_eq!(cold_starts(&api), 1, "one environment, kept warm:\n{}", api.text());
    assert!(digests(&api).len() >= 2, "the spans name the new digest:\n{}", api.text());
}

#[tokio::test]
async fn an_appconfig_policy_from_the_emulators_endpoint_is_polled() {
    let _one = EMULATOR.lock().await;
    let scratch = Scratch::new("live-policy-appconfig");
    let folder = scratch.path().join("orders/local");
    std::fs::create_dir_all(&folder).expect("folder");
    let file = folder.join("intercept.yaml");
    write(&file, OPEN);
    let api = start("appconfig://orders/local/intercept", &["--appconfig".as_ref(), scratch.path().as_os_str()], &[]);
    assert_eq!(status(&api).await, 200, "{}", api.text());

    write(&file, CLOSED);
    until_status(&api, 401).await;
    write(&file, &format!("disable: [auth]\n{CLOSED}"));
    until_status(&api, 200).await;
    assert_eq!(cold_starts(&api), 1, "one environment, kept warm:\n{}", api.text());
}

#[tokio::test]
async fn the_extension_proxy_applies_an_edited_policy_to_a_python_function() {
    let _one = EMULATOR.lock().await;
    let scratch = Scratch::new("live-policy-proxy");
    let file = scratch.path().join("policy.yaml");
    write(&file, OPEN);
    let api = start(file.to_str().expect("utf-8"), &[], &[]);
    assert_eq!(status_of(&api, "/proxied").await, 200, "{}", api.text());

    write(&file, CLOSED);
    let started = Instant::now();
    while status_of(&api, "/proxied").await != 401 {
        assert!(started.elapsed() < CHANGE_DEADLINE, "the proxy never refused:\n{}", api.text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    write(&file, BROKEN);
    until_logged(&api, KEPT, "/proxied").await;
    assert_eq!(status_of(&api, "/proxied").await, 401, "the last good version stays in force");
    assert_eq!(cold_starts(&api), 1, "one environment, kept warm:\n{}", api.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn start_lambda_applies_an_edited_policy_file_to_the_warm_environment() {
    use base64::Engine as _;
    let _one = EMULATOR.lock().await;
    let scratch = Scratch::new("live-policy-start-lambda");
    let file = scratch.path().join("policy.yaml");
    write(&file, OPEN);
    let mut options = intercept_tests::dev_options(TEMPLATE);
    options.parameter_overrides = vec![("PolicySource".to_owned(), file.to_str().expect("utf-8").to_owned())];
    let pools = intercept_sam::prepare_pools(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/2015-03-31/functions/HelloFunction/invocations", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = pools.clone();
    let server = tokio::spawn(async move {
        let _ = intercept_sam::serve_start_lambda(listener, served, async {
            let _ = stopped.await;
        })
        .await;
    });
    let event = std::fs::read_to_string(workspace().join("examples/events/hello-no-token.json")).expect("event");
    let mut tails = String::new();
    // With `Tail`, the answer comes once the invoke phase is over: the environment is idle again.
    let mut invoke = async || {
        let response = reqwest::Client::new()
            .post(&url)
            .header("X-Amz-Log-Type", "Tail")
            .body(event.clone())
            .send()
            .await
            .expect("start-lambda answers");
        let tail = response.headers().get("x-amz-log-result").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let tail = base64::engine::general_purpose::STANDARD.decode(tail).expect("base64 tail");
        tails.push_str(&String::from_utf8_lossy(&tail));
        let answer: serde_json::Value = response.json().await.expect("json answer");
        answer["statusCode"].as_u64().unwrap_or_default()
    };
    assert_eq!(invoke().await, 200);
    write(&file, CLOSED);
    let started = Instant::now();
    while invoke().await != 401 {
        assert!(started.elapsed() < CHANGE_DEADLINE, "never refused:\n{tails}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cold = tails.lines().filter(|l| l.starts_with("REPORT") && l.contains("Init Duration")).count();
    assert_eq!(cold, 1, "one environment, kept warm:\n{tails}");
    assert_eq!(pools["HelloFunction"].idle_count(), 1);
    let _ = stop.send(());
    let _ = server.await;
}
