//! `local start-api` over a template written the way projects write them: HTTP API routes
//! with parameters and a greedy path, a REST API, a function URL; and parity with `local invoke`.

use std::sync::Arc;
use std::time::Duration;

use intercept_sam::api::Gateway;
use intercept_sam::{prepare, serve_api};
use intercept_tests::{Scratch, run_sam, workspace};
use serde_json::Value;
use tokio::sync::oneshot;

const TEMPLATE: &str = "tests/fixtures/api/template.yaml";

struct Api {
    base: String,
    pools: intercept_sam::Pools,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Api {
    async fn start() -> Api {
        Self::start_with(false).await
    }

    async fn start_with(watch: bool) -> Api {
        let options = intercept_tests::dev_options(TEMPLATE);
        let (template, pools) = prepare(&options).await.unwrap_or_else(|e| panic!("{e}"));
        if watch {
            let _watcher = intercept_sam::watch(&template, &pools, &options.spec);
        }
        let gateway = Arc::new(Gateway::new(&template, pools.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = pools.clone();
        let done = tokio::spawn(async move {
            serve_api(listener, gateway, served, async {
                let _ = stopped.await;
            })
            .await
            .expect("serves");
        });
        Api { base, pools, stop: Some(stop), done }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.done).await;
    }
}

async fn body_json(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_events_and_responses_like_api_gateway() {
    let api = Api::start().await;
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{}/orders/42?x=1&x=2&q=a%20b", api.base))
        .header("cookie", "c1=v1; c2=v2")
        .header("x-custom", "one")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-echo"], "yes");
    let multi: Vec<&str> = response.headers().get_all("x-multi").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(multi, ["a", "b"]);
    assert_eq!(response.headers()["set-cookie"], "session=abc; HttpOnly");
    let event = body_json(response).await;
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /orders/{id}");
    assert_eq!(event["rawPath"], "/orders/42");
    assert_eq!(event["pathParameters"]["id"], "42");
    assert_eq!(event["queryStringParameters"]["x"], "1,2");
    assert_eq!(event["queryStringParameters"]["q"], "a b");
    assert_eq!(event["cookies"], serde_json::json!(["c1=v1", "c2=v2"]));
    assert_eq!(event["headers"]["x-custom"], "one");
    assert!(event["headers"].get("cookie").is_none(), "cookies move out of the headers in 2.0");
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    assert_eq!(event["requestContext"]["http"]["sourceIp"], "127.0.0.1");

    let latest = body_json(client.get(format!("{}/orders/latest", api.base)).send().await.expect("answers")).await;
    assert_eq!(latest["routeKey"], "GET /orders/latest", "an exact path wins over a parameter");

    let binary = client.post(format!("{}/files/a/b/c.bin", api.base)).body(vec![0u8, 159, 146, 150]).send().await;
    let binary = body_json(binary.expect("answers")).await;
    assert_eq!(binary["pathParameters"]["proxy"], "a/b/c.bin");
    assert_eq!(binary["isBase64Encoded"], true);
    assert_eq!(binary["body"], "AJ+Slg==");

    let failed = client.get(format!("{}/fail", api.base)).send().await.expect("answers");
    assert_eq!(failed.status(), 502);
    assert_eq!(body_json(failed).await["message"], "Internal server error");

    let bytes = client.get(format!("{}/binary", api.base)).send().await.expect("answers");
    assert_eq!(bytes.bytes().await.expect("body").as_ref(), [0u8, 1, 2, 255]);

    let plain = client.get(format!("{}/plain", api.base)).send().await.expect("answers");
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["content-type"], "application/json");
    assert_eq!(body_json(plain).await["hello"], "without statusCode");

    let missing = client.get(format!("{}/nowhere", api.base)).send().await.expect("answers");
    assert_eq!(missing.status(), 404);
    assert_eq!(body_json(missing).await["message"], "Not Found");

    let rest = client.delete(format!("{}/items/9?y=1&y=2", api.base)).send().await.expect("answers");
    assert_eq!(rest.status(), 201);
    let v1 = body_json(rest).await;
    assert_eq!(v1["httpMethod"], "DELETE");
    assert_eq!(v1["resource"], "/items/{id}");
    assert_eq!(v1["pathParameters"]["id"], "9");
    assert_eq!(v1["multiValueQueryStringParameters"]["y"], serde_json::json!(["1", "2"]));
    assert_eq!(v1["requestContext"]["identity"]["sourceIp"], "127.0.0.1");

    let url = client
        .get(format!("{}/anything?z=1", api.base))
        .header("host", "orders.localhost")
        .send()
        .await
        .expect("answers");
    let url_event = body_json(url).await;
    assert_eq!(url_event["routeKey"], "$default");
    assert!(url_event["requestContext"]["domainName"].as_str().is_some_and(|d| d.contains(".lambda-url.")));

    let huge = client.post(format!("{}/files/big", api.base)).body(vec![b'x'; 7 * 1024 * 1024]).send().await;
    assert_eq!(huge.expect("answers").status(), 413);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn local_invoke_and_start_api_agree_on_the_same_event() {
    let api = Api::start().await;
    let response = reqwest::Client::new().get(format!("{}/orders/7?k=v", api.base)).send().await.expect("answers");
    let status = response.status().as_u16();
    let via_api = response.text().await.expect("body");
    api.stop().await;

    // The event start-api built is the body it answered with: replay it through local invoke.
    let scratch = Scratch::new("parity");
    let event_file = scratch.path().join("event.json");
    std::fs::write(&event_file, &via_api).expect("write event");
    let output = run_sam(
        &[
            "local",
            "invoke",
            "Orders",
            "-t",
            TEMPLATE,
            "--cargo-profile",
            "dev",
            "-e",
            event_file.to_str().expect("utf-8"),
        ],
        Duration::from_secs(600),
    );
    assert_eq!(output.code, Some(0), "{output:#?}");
    let invoked = &output.json_lines()[0];
    assert_eq!(invoked["statusCode"], status);
    let invoked_body: Value = serde_json::from_str(invoked["body"].as_str().expect("body")).expect("json");
    let api_body: Value = serde_json::from_str(&via_api).expect("json");
    assert_eq!(invoked_body, api_body, "the function saw the same event both ways");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_mode_rebuilds_and_retires_old_environments() {
    let api = Api::start_with(true).await;
    let url = format!("{}/orders/1", api.base);
    assert_eq!(reqwest::get(&url).await.expect("answers").status(), 201);
    let pool = api.pools["Orders"].clone();
    let mut idle = 0;
    for _ in 0..100 {
        idle = pool.idle_count();
        if idle > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(idle, 1, "one warm environment after the first request");

    // A source change: the watcher rebuilds and the warm environment (old code) is retired.
    let source = workspace().join("tests/fixtures/lifecycle/src/bin/fixture-function.rs");
    let file = std::fs::OpenOptions::new().append(true).open(&source).expect("source");
    file.set_modified(std::time::SystemTime::now()).expect("touch");
    drop(file);
    // A hang guard, not a speed bound: the rebuild links the fixture again, which on a loaded
    // 2-core machine beside the other tests' builds took close to a minute.
    let mut retired = false;
    for _ in 0..3000 {
        if pool.idle_count() == 0 {
            retired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(retired, "the watcher retires environments running the old build");
    assert_eq!(reqwest::get(&url).await.expect("answers").status(), 201, "new code serves requests");
    api.stop().await;
}
