//! `local start-api` event and response formats: an `HttpApi` route with
//! `PayloadFormatVersion: "1.0"` gets the REST-shaped event and must answer in its shape; the
//! APIs' `StageName` and stage variables reach `requestContext.stage` and `stageVariables`; a
//! REST API's `BinaryMediaTypes` decide which request bodies arrive in base64 and which base64
//! responses are decoded, while an HTTP API base64-encodes bodies that are not text.

use std::sync::Arc;
use std::time::Duration;

use intercept_sam::api::Gateway;
use intercept_sam::{prepare, serve_api};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const TEMPLATE: &str = "tests/fixtures/api_payloads/template.yaml";

struct Api {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Api {
    async fn start() -> Api {
        let options = intercept_tests::dev_options(TEMPLATE);
        let (template, pools) = prepare(&options).await.unwrap_or_else(|e| panic!("{e}"));
        let gateway = Arc::new(Gateway::new(&template, pools.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            serve_api(listener, gateway, pools, async {
                let _ = stopped.await;
            })
            .await
            .expect("serves");
        });
        Api { base, stop: Some(stop), done }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.done).await;
    }
}

async fn body_json(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200, "{response:?}");
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn http_api_payload_1_0_and_stages() {
    let api = Api::start().await;
    let client = reqwest::Client::new();

    let v1 = client.get(format!("{}/v1?x=1&x=2", api.base)).header("x-custom", "one").send().await.expect("answers");
    let v1 = body_json(v1).await;
    assert_eq!(v1["version"], "1.0", "{v1}");
    assert_eq!(v1["resource"], "/v1");
    assert_eq!(v1["path"], "/v1");
    assert_eq!(v1["httpMethod"], "GET");
    assert_eq!(v1["multiValueQueryStringParameters"]["x"], json!(["1", "2"]));
    assert_eq!(v1["multiValueHeaders"]["x-custom"], json!(["one"]));
    assert!(v1.get("rawPath").is_none() && v1.get("routeKey").is_none(), "not the 2.0 shape: {v1}");
    assert_eq!(v1["requestContext"]["stage"], "beta");
    assert_eq!(v1["requestContext"]["path"], "/beta/v1");
    assert_eq!(v1["stageVariables"], json!({"table": "orders"}));

    let v2 =
        body_json(client.post(format!("{}/v2", api.base)).json(&json!({"a": 1})).send().await.expect("answers")).await;
    assert_eq!(v2["version"], "2.0", "{v2}");
    assert_eq!(v2["requestContext"]["stage"], "beta");
    assert_eq!(v2["stageVariables"], json!({"table": "orders"}));
    assert_eq!(v2["isBase64Encoded"], false);
    assert_eq!(v2["body"], r#"{"a":1}"#);

    let implicit = body_json(client.get(format!("{}/implicit", api.base)).send().await.expect("answers")).await;
    assert_eq!(implicit["requestContext"]["stage"], "$default", "{implicit}");
    assert!(implicit.get("stageVariables").is_none(), "{implicit}");

    // A 1.0 route reads a 1.0 answer: without statusCode it is API Gateway's 502; on 2.0 a 200.
    let plain = client.get(format!("{}/v1/plain", api.base)).send().await.expect("answers");
    assert_eq!(plain.status(), 502);
    assert_eq!(plain.json::<Value>().await.expect("json")["message"], "Internal server error");
    let plain = body_json(client.get(format!("{}/v2/plain", api.base)).send().await.expect("answers")).await;
    assert_eq!(plain["hello"], "plain");

    // An HTTP API decodes a base64 answer whatever its content type, on 1.0 too.
    let bytes = client.get(format!("{}/v1/binary?type=text/plain", api.base)).send().await.expect("answers");
    assert_eq!(bytes.bytes().await.expect("body").as_ref(), [0u8, 1, 2, 255]);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_api_bodies_that_are_not_text_arrive_in_base64() {
    let api = Api::start().await;
    let client = reqwest::Client::new();
    let post = |path: &str, content_type: &str, body: &'static [u8]| {
        client.post(format!("{}{path}", api.base)).header("content-type", content_type).body(body).send()
    };
    for (path, content_type, body, base64, expected) in [
        ("/v2", "application/octet-stream", &b"\x00\x01"[..], true, "AAE="),
        ("/v2", "image/png", &b"png"[..], true, "cG5n"),
        ("/v2", "text/plain; charset=utf-8", &b"hello"[..], false, "hello"),
        ("/v2", "application/vnd.api+json", &b"{}"[..], false, "{}"),
        ("/v1", "application/octet-stream", &b"\x00\x01"[..], true, "AAE="),
        ("/v1", "application/xml", &b"<a/>"[..], false, "<a/>"),
    ] {
        let event = body_json(post(path, content_type, body).await.expect("answers")).await;
        assert_eq!(event["isBase64Encoded"], base64, "{path} {content_type}: {event}");
        assert_eq!(event["body"], expected, "{path} {content_type}: {event}");
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_api_binary_media_types_and_stage() {
    let api = Api::start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/rest/echo", api.base);

    let png = client.post(&url).header("content-type", "image/png").body(vec![0u8, 159, 146, 150]).send().await;
    let png = body_json(png.expect("answers")).await;
    assert_eq!(png["isBase64Encoded"], true, "image/png is a binary media type (image~1png): {png}");
    assert_eq!(png["body"], "AJ+Slg==");
    assert_eq!(png["requestContext"]["stage"], "dev");
    assert_eq!(png["requestContext"]["path"], "/dev/rest/echo");
    assert_eq!(png["stageVariables"], json!({"mode": "test"}));
    assert!(png.get("version").is_none(), "a REST API's event has no version: {png}");

    let form = client.post(&url).header("content-type", "application/x-www-form-urlencoded").body("a=1&b=2").send();
    let form = body_json(form.await.expect("answers")).await;
    assert_eq!(form["isBase64Encoded"], false, "not a binary media type: {form}");
    assert_eq!(form["body"], "a=1&b=2");

    // A base64 answer is decoded when its type (or what the caller accepts) is a binary media
    // type; otherwise the caller gets the base64 text, as from API Gateway.
    let binary = |query: &str, accept: Option<&str>| {
        let request = client.get(format!("{}/rest/binary?{query}", api.base));
        match accept {
            Some(accept) => request.header("accept", accept),
            None => request,
        }
        .send()
    };
    let png = binary("type=image/png", None).await.expect("answers");
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(png.bytes().await.expect("body").as_ref(), [0u8, 1, 2, 255]);
    let text = binary("type=text/plain", None).await.expect("answers");
    assert_eq!(text.text().await.expect("body"), "AAEC/w==");
    let accepted = binary("type=text/plain", Some("application/octet-stream")).await.expect("answers");
    assert_eq!(accepted.bytes().await.expect("body").as_ref(), [0u8, 1, 2, 255]);
    // Only the first media type of Accept counts (a browser's list does not make it binary).
    let listed = binary("type=text/plain", Some("text/html, application/octet-stream")).await.expect("answers");
    assert_eq!(listed.text().await.expect("body"), "AAEC/w==");
    api.stop().await;
}
