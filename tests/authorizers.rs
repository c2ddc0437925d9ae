//! start-api runs Lambda authorizers as the template's functions (Python through awslambdaric,
//! Rust through lambda_runtime): TOKEN and REQUEST authorizers of a REST API, REQUEST
//! authorizers of an HTTP API (payload 2.0 simple responses, payload 1.0 IAM policies); allow,
//! deny, `Unauthorized` and failures as API Gateway answers them; identity sources checked
//! before any invocation; results cached by identity for `ReauthorizeEvery` (invocations are
//! counted from the lines each authorizer appends to a file); the context reaching the handler.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use intercept_sam::api::Gateway;
use intercept_sam::prepare;
use intercept_tests::{Scratch, ServedApi, StartApi};
use serde_json::{Value, json};

const TEMPLATE: &str = "tests/fixtures/authorizers/template.yaml";

/// start-api over the fixture, its authorizers writing into `count_dir`.
async fn start_api(count_dir: &Path, with_authorizers: bool) -> ServedApi {
    let mut options = intercept_tests::dev_options(TEMPLATE);
    options.parameter_overrides = vec![("CountDir".to_owned(), count_dir.display().to_string())];
    let (template, pools) = prepare(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let gateway = if with_authorizers {
        Gateway::connect(&template, pools.clone()).await.unwrap_or_else(|e| panic!("{e}"))
    } else {
        Gateway::new(&template, pools.clone())
    };
    ServedApi::serve(gateway, pools).await
}

/// The events an authorizer function was invoked with, from the lines it appended.
fn invocations(dir: &Path, function: &str) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains(function))
        .flat_map(|entry| {
            std::fs::read_to_string(entry.path()).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .map(|line| serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

struct Answer {
    status: u16,
    body: Value,
}

async fn call(client: &reqwest::Client, method: &str, url: String, headers: &[(&str, &str)]) -> Answer {
    let mut request = client.request(method.parse().expect("method"), url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Answer { status, body }
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_api_token_and_request_authorizers() {
    let scratch = Scratch::new("rest-authorizers");
    let dir = scratch.path();
    let api = start_api(dir, true).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", api.base);
    let rust = |dir: &Path| invocations(dir, "RustAuthorizer").len();
    let python = |dir: &Path| invocations(dir, "PyAuthorizer").len();

    // TOKEN (Rust, the API's default authorizer, cached for 300 s).
    let missing = call(&client, "GET", url("/rest/token"), &[]).await;
    assert_eq!((missing.status, &missing.body), (401, &json!({"message": "Unauthorized"})));
    assert_eq!(rust(dir), 0, "a missing identity is refused without invoking the authorizer");

    let allowed = call(&client, "GET", url("/rest/token"), &[("authorization", "allow")]).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let event = &allowed.body;
    let authorizer = &event["requestContext"]["authorizer"];
    assert_eq!(authorizer["principalId"], "rust-allow", "{event}");
    assert_eq!(authorizer["language"], "rust");
    assert_eq!(authorizer["nested"], "flat");
    assert!(authorizer["integrationLatency"].is_u64(), "{authorizer}");
    let sent = invocations(dir, "RustAuthorizer");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["type"], "TOKEN");
    assert_eq!(sent[0]["authorizationToken"], "allow");
    assert_eq!(sent[0]["methodArn"], "arn:aws:execute-api:us-east-1:123456789012:local/Prod/GET/rest/token");

    let again = call(&client, "GET", url("/rest/token"), &[("authorization", "allow")]).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["requestContext"]["authorizer"]["principalId"], "rust-allow");
    assert_eq!(rust(dir), 1, "the cached policy answers within ReauthorizeEvery");
    // The cached policy names GET /rest/token only: API Gateway applies it to every method of the API.
    let other = call(&client, "POST", url("/rest/token/other"), &[("authorization", "allow")]).await;
    assert_eq!(
        (other.status, &other.body),
        (403, &json!({"Message": "User is not authorized to access this resource"}))
    );
    assert_eq!(rust(dir), 1);

    let denied = call(&client, "GET", url("/rest/token"), &[("authorization", "deny")]).await;
    let explicit = json!({"Message": "User is not authorized to access this resource with an explicit deny"});
    assert_eq!((denied.status, &denied.body), (403, &explicit));
    let denied_again = call(&client, "GET", url("/rest/token"), &[("authorization", "deny")]).await;
    assert_eq!(denied_again.status, 403);
    assert_eq!(rust(dir), 2, "a denial is cached too");

    for expected in [3, 4] {
        let unauthorized = call(&client, "GET", url("/rest/token"), &[("authorization", "unauthorized")]).await;
        assert_eq!((unauthorized.status, &unauthorized.body), (401, &json!({"message": "Unauthorized"})));
        assert_eq!(rust(dir), expected, "an Unauthorized error is not cached");
    }
    let failed = call(&client, "GET", url("/rest/token"), &[("authorization", "boom")]).await;
    assert_eq!((failed.status, &failed.body), (500, &json!({"message": null})));

    // TOKEN (Python, X-Token validated by ^[a-z]+$, never cached).
    let invalid = call(&client, "GET", url("/rest/py-token"), &[("x-token", "ABC")]).await;
    assert_eq!(invalid.status, 401);
    assert_eq!(python(dir), 0, "a token the ValidationExpression refuses never reaches the authorizer");
    for expected in [1, 2] {
        let allowed = call(&client, "GET", url("/rest/py-token"), &[("x-token", "allow")]).await;
        assert_eq!(allowed.status, 200, "{}", allowed.body);
        let context = &allowed.body["requestContext"]["authorizer"];
        assert_eq!(
            (&context["principalId"], &context["language"], &context["number"], &context["flag"]),
            (&json!("py-allow"), &json!("python"), &json!("7"), &json!("true")),
            "REST context values arrive as strings: {context}"
        );
        assert_eq!(python(dir), expected, "ReauthorizeEvery: 0 invokes every time");
    }
    let exception = call(&client, "GET", url("/rest/py-token"), &[("x-token", "boom")]).await;
    assert_eq!((exception.status, &exception.body), (500, &json!({"message": null})));
    let unauthorized = call(&client, "GET", url("/rest/py-token"), &[("x-token", "unauthorized")]).await;
    assert_eq!(unauthorized.status, 401);
    let garbage = call(&client, "GET", url("/rest/py-token"), &[("x-token", "garbage")]).await;
    assert_eq!(garbage.status, 500, "a response that is not a policy");
    let elsewhere = call(&client, "GET", url("/rest/py-token"), &[("x-token", "elsewhere")]).await;
    assert_eq!(elsewhere.status, 403, "an Allow for another resource allows nothing here");

    // REQUEST (Python, X-User header and tenant query string, cached by both).
    let before = python(dir);
    let partial = call(&client, "GET", url("/rest/request/1"), &[("x-user", "wildcard")]).await;
    assert_eq!(partial.status, 401, "every identity source must be present");
    assert_eq!(python(dir), before);
    for id in ["1", "2"] {
        let allowed =
            call(&client, "GET", url(&format!("/rest/request/{id}?tenant=t1")), &[("x-user", "wildcard")]).await;
        assert_eq!(allowed.status, 200, "{}", allowed.body);
        assert_eq!(allowed.body["requestContext"]["authorizer"]["principalId"], "py-wildcard");
        assert_eq!(allowed.body["pathParameters"]["id"], id);
    }
    assert_eq!(python(dir), before + 1, "one invocation for both paths: a wildcard policy, cached by identity");
    let sent = invocations(dir, "PyAuthorizer").pop().expect("an event");
    assert_eq!(sent["type"], "REQUEST");
    assert_eq!(sent["methodArn"], "arn:aws:execute-api:us-east-1:123456789012:local/Prod/GET/rest/request/1");
    assert_eq!(sent["resource"], "/rest/request/{id}");
    assert_eq!(sent["queryStringParameters"]["tenant"], "t1");
    assert!(sent.get("body").is_none(), "{sent}");
    let other_tenant = call(&client, "GET", url("/rest/request/1?tenant=t2"), &[("x-user", "wildcard")]).await;
    assert_eq!(other_tenant.status, 200);
    assert_eq!(python(dir), before + 2, "another identity is another cache entry");

    // REQUEST (Rust, never cached) on an ANY route.
    let rust_before = rust(dir);
    let posted = call(&client, "POST", url("/rest/rust-request"), &[("x-user", "allow")]).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(posted.body["requestContext"]["authorizer"]["token"], "allow");
    assert_eq!(posted.body["httpMethod"], "POST");
    assert_eq!(rust(dir), rust_before + 1);
    let deny = call(&client, "DELETE", url("/rest/rust-request"), &[("x-user", "deny")]).await;
    assert_eq!(deny.status, 403);

    let open = call(&client, "GET", url("/rest/open"), &[]).await;
    assert_eq!(open.status, 200, "Authorizer: NONE opens the route");
    assert!(open.body["requestContext"].get("authorizer").is_none(), "{}", open.body);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_api_request_authorizers() {
    let scratch = Scratch::new("http-authorizers");
    let dir = scratch.path();
    let api = start_api(dir, true).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", api.base);
    let rust = |dir: &Path| invocations(dir, "RustAuthorizer").len();

    // Payload 2.0 with simple responses (Rust, cached for 300 s).
    let missing = call(&client, "GET", url("/http/simple"), &[]).await;
    assert_eq!((missing.status, &missing.body), (401, &json!({"message": "Unauthorized"})));
    assert_eq!(rust(dir), 0);
    for _ in 0..2 {
        let allowed = call(&client, "GET", url("/http/simple"), &[("authorization", "allow")]).await;
        assert_eq!(allowed.status, 200, "{}", allowed.body);
        assert_eq!(
            allowed.body["requestContext"]["authorizer"],
            json!({"lambda": {"language": "rust", "token": "allow", "nested": {"n": 1}}}),
            "the context reaches the handler as the authorizer returned it"
        );
    }
    assert_eq!(rust(dir), 1, "cached within ReauthorizeEvery");
    let sent = &invocations(dir, "RustAuthorizer")[0];
    assert_eq!(sent["version"], "2.0");
    assert_eq!(sent["type"], "REQUEST");
    assert_eq!(sent["routeArn"], "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/http/simple");
    assert_eq!(sent["identitySource"], json!(["allow"]));
    assert_eq!(sent["routeKey"], "GET /http/simple");
    let denied = call(&client, "GET", url("/http/simple"), &[("authorization", "deny")]).await;
    assert_eq!((denied.status, &denied.body), (403, &json!({"message": "Forbidden"})));
    let failed = call(&client, "GET", url("/http/simple"), &[("authorization", "boom")]).await;
    assert_eq!((failed.status, &failed.body), (500, &json!({"message": "Internal Server Error"})));
    let unauthorized = call(&client, "GET", url("/http/simple"), &[("authorization", "unauthorized")]).await;
    assert_eq!(unauthorized.status, 401);

    // Payload 1.0 with an IAM policy (Python, not cached).
    for _ in 0..2 {
        let allowed = call(&client, "POST", url("/http/v1"), &[("authorization", "allow")]).await;
        assert_eq!(allowed.status, 200, "{}", allowed.body);
        let lambda = &allowed.body["requestContext"]["authorizer"]["lambda"];
        assert_eq!((&lambda["principalId"], &lambda["number"]), (&json!("py-allow"), &json!(7)), "{lambda}");
    }
    let sent = invocations(dir, "PyAuthorizer");
    assert_eq!(sent.len(), 2, "no ReauthorizeEvery: no cache");
    assert_eq!((&sent[0]["version"], &sent[0]["identitySource"]), (&json!("1.0"), &json!("allow")));
    assert_eq!(sent[0]["authorizationToken"], "allow");
    assert_eq!(sent[0]["methodArn"], "arn:aws:execute-api:us-east-1:123456789012:local/$default/POST/http/v1");
    let denied = call(&client, "POST", url("/http/v1"), &[("authorization", "deny")]).await;
    assert_eq!((denied.status, &denied.body), (403, &json!({"message": "Forbidden"})));

    // A route of PayloadFormatVersion 1.0 gets the context directly under `authorizer` (no
    // `lambda` key), while its 2.0 authorizer still gets a 2.0 event.
    let allowed = call(&client, "GET", url("/http/route-v1"), &[("authorization", "route-v1")]).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.body["version"], "1.0", "{}", allowed.body);
    assert_eq!(
        allowed.body["requestContext"]["authorizer"],
        json!({"language": "rust", "token": "route-v1", "nested": {"n": 1}})
    );
    let sent = invocations(dir, "RustAuthorizer");
    let sent = sent.last().expect("the authorizer ran for the new identity");
    assert_eq!((&sent["version"], &sent["identitySource"]), (&json!("2.0"), &json!(["route-v1"])), "{sent}");
    let allowed = call(&client, "POST", url("/http/route-v1"), &[("authorization", "allow")]).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let authorizer = &allowed.body["requestContext"]["authorizer"];
    assert_eq!((&authorizer["principalId"], &authorizer["number"]), (&json!("py-allow"), &json!(7)), "{authorizer}");
    assert!(authorizer.get("lambda").is_none(), "{authorizer}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_authorizers_every_route_is_open() {
    let scratch = Scratch::new("no-authorizers");
    let api = start_api(scratch.path(), false).await;
    let client = reqwest::Client::new();
    let rest = call(&client, "GET", format!("{}/rest/token", api.base), &[]).await;
    assert_eq!(rest.status, 200, "--disable-authorizer lets the request through");
    assert!(rest.body["requestContext"].get("authorizer").is_none());
    let http = call(&client, "GET", format!("{}/http/simple", api.base), &[]).await;
    assert_eq!(http.status, 200);
    assert!(invocations(scratch.path(), "Authorizer").is_empty(), "no authorizer ran");
    api.stop().await;
}

/// `intercept-sam local start-api` over the fixture as a user runs it (the support's [`StartApi`]),
/// its authorizers writing into `count_dir`.
fn start_api_process(count_dir: &Path, extra: &[&str]) -> StartApi {
    let overrides = format!("CountDir={}", count_dir.display());
    let mut args: Vec<&OsStr> =
        ["-t", TEMPLATE, "--cargo-profile", "dev", "--parameter-overrides"].into_iter().map(OsStr::new).collect();
    args.push(overrides.as_ref());
    args.extend(extra.iter().map(OsStr::new));
    // A hang guard, not a speed bound: the first run builds the Rust authorizer.
    StartApi::start(&args, &[], Duration::from_secs(600))
}

/// The `REPORT` lines it printed so far.
fn report_lines(api: &StartApi) -> Vec<String> {
    api.text().lines().filter(|l| l.starts_with("REPORT RequestId:")).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorizer_is_an_environment_of_its_own_and_the_flag_turns_it_off() {
    let scratch = Scratch::new("authorizer-reports");
    let served = tokio::task::spawn_blocking({
        let dir = scratch.path().to_owned();
        move || start_api_process(&dir, &[])
    })
    .await
    .expect("started");
    let client = reqwest::Client::new();
    let url = format!("{}/rest/token", served.base);
    let first = client.get(&url).header("authorization", "allow").send().await.expect("answers");
    assert_eq!(first.status(), 200);
    // Two functions ran, each a cold start with its own REPORT (the handler's comes after the
    // authorizer's, which had to answer first).
    served.wait_for(Duration::from_secs(30), |text| text.matches("REPORT RequestId:").count() >= 2);
    let reports = report_lines(&served);
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports.iter().all(|r| r.contains("Init Duration:")), "both were cold starts: {reports:?}");
    assert_eq!(invocations(scratch.path(), "RustAuthorizer").len(), 1);
    let second = client.get(&url).header("authorization", "allow").send().await.expect("answers");
    assert_eq!(second.status(), 200);
    served.wait_for(Duration::from_secs(30), |text| text.matches("REPORT RequestId:").count() >= 3);
    let reports = report_lines(&served);
    assert!(!reports[2].contains("Init Duration:"), "the handler's environment was warm: {reports:?}");
    assert_eq!(invocations(scratch.path(), "RustAuthorizer").len(), 1, "the cached policy answered");
    drop(served);

    let open = tokio::task::spawn_blocking({
        let dir = scratch.path().to_owned();
        move || start_api_process(&dir, &["--disable-authorizer"])
    })
    .await
    .expect("started");
    let response = client.get(format!("{}/rest/token", open.base)).send().await.expect("answers");
    assert_eq!(response.status(), 200, "--disable-authorizer: no token needed");
    open.wait_for(Duration::from_secs(30), |text| text.contains("REPORT RequestId:"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(report_lines(&open).len(), 1, "only the handler ran: {:?}", report_lines(&open));
    assert_eq!(invocations(scratch.path(), "RustAuthorizer").len(), 1);
}
