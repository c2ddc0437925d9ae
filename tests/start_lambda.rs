//! `local start-lambda`: the Lambda Invoke API over the lifecycle fixture's functions, with
//! overlapping invocations served by several environments.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use intercept_sam::{Pools, prepare_pools, serve_start_lambda};
use serde_json::{Value, json};
use tokio::sync::oneshot;

struct Server {
    url: String,
    pools: Pools,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let options = intercept_tests::dev_options("tests/fixtures/lifecycle/template.yaml");
        let pools = prepare_pools(&options).await.unwrap_or_else(|e| panic!("{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/2015-03-31/functions", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = pools.clone();
        let done = tokio::spawn(async move {
            serve_start_lambda(listener, served, async {
                let _ = stopped.await;
            })
            .await
            .expect("serves");
        });
        Server { url, pools, stop: Some(stop), done }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.done).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_api_like_lambdas() {
    let server = Server::start().await;
    let url = |name: &str| format!("{}/{name}/invocations", server.url);

    let context = base64::engine::general_purpose::STANDARD
        .encode(r#"{"client":{"installation_id":"i","app_title":"t","app_version_name":"v","app_version_code":"c","app_package_name":"p"},"custom":{"tenant":"acme"},"env":{}}"#);
    let ok = client()
        .post(url("Fixture"))
        .header("X-Amz-Client-Context", context)
        .body(r#"{"action":"echo","n":7}"#)
        .send()
        .await
        .expect("answers");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-amz-executed-version"], "$LATEST");
    assert!(ok.headers().get("x-amz-function-error").is_none());
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["echo"]["n"], 7);
    assert_eq!(body["client_context"]["tenant"], "acme", "{body}");

    let arn = "arn:aws:lambda:us-east-1:123456789012:function:Fixture";
    let failed = client().post(url(arn)).body(r#"{"action":"error"}"#).send().await.expect("answers");
    assert_eq!(failed.status(), 200);
    assert_eq!(failed.headers()["x-amz-function-error"], "Unhandled");
    let error: Value = failed.json().await.expect("json");
    assert_eq!(error["errorMessage"], "the handler failed on purpose");

    let tail = client()
        .post(url("Fixture"))
        .header("X-Amz-Log-Type", "Tail")
        .body(r#"{"action":"echo"}"#)
        .send()
        .await
        .expect("answers");
    let log = base64::engine::general_purpose::STANDARD
        .decode(tail.headers()["x-amz-log-result"].as_bytes())
        .expect("base64 log");
    let log = String::from_utf8_lossy(&log);
    // Lambda's tail: the invocation's START, its log, then END and the tab-separated REPORT.
    let lines: Vec<&str> = log.lines().collect();
    let id = lines
        .first()
        .and_then(|l| l.strip_prefix("START RequestId: "))
        .and_then(|l| l.strip_suffix(" Version: $LATEST"))
        .unwrap_or_else(|| panic!("the tail starts with START: {log}"));
    let end = lines.iter().position(|l| *l == format!("END RequestId: {id}")).unwrap_or_else(|| panic!("{log}"));
    assert!(lines[end + 1].starts_with(&format!("REPORT RequestId: {id}\tDuration: ")), "{log}");

    let event = client().post(url("Fixture")).header("X-Amz-Invocation-Type", "Event").body("{}").send().await;
    assert_eq!(event.expect("answers").status(), 202);
    let dry = client().post(url("Fixture")).header("X-Amz-Invocation-Type", "DryRun").body("{}").send().await;
    assert_eq!(dry.expect("answers").status(), 204);
    let odd = client().post(url("Fixture")).header("X-Amz-Invocation-Type", "Sometimes").body("{}").send().await;
    assert_eq!(odd.expect("answers").status(), 400);

    let missing = client().post(url("Nope")).body("{}").send().await.expect("answers");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-amzn-errortype"], "ResourceNotFoundException");
    let not_json = client().post(url("Fixture")).body("{nope").send().await.expect("answers");
    assert_eq!(not_json.status(), 400);
    assert_eq!(not_json.headers()["x-amzn-errortype"], "InvalidRequestContentException");

    let python = client().post(url("PythonFixture")).body(r#"{"hello":"py"}"#).send().await.expect("answers");
    let python_body: Value = python.json().await.expect("json");
    assert_eq!(python_body["echo"]["hello"], "py", "{python_body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_invocations_get_their_own_environments() {
    let server = Server::start().await;
    let url = format!("{}/Fixture/invocations", server.url);
    let calls = (0..3).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let response = client().post(&url).body(json!({"action":"sleep","ms":400}).to_string()).send().await;
            response.expect("answers").json::<Value>().await.expect("json")
        })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.expect("joins")["slept_ms"], 400);
    }
    let pool = Arc::clone(&server.pools["Fixture"]);
    // The invoke phases end just after the answers; then all three environments are idle and warm.
    let mut idle = 0;
    for _ in 0..100 {
        idle = pool.idle_count();
        if idle == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(idle, 3, "three overlapping invocations need three environments");
    let again = client().post(&url).body(r#"{"action":"echo"}"#).send().await.expect("answers");
    assert_eq!(again.status(), 200);
    server.stop().await;
}
