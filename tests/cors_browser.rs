//! CORS through start-api in a real browser: headless Chromium (Debian's `chromium` package)
//! loads a page from one origin that calls the fixture's APIs, served on another port, with
//! `fetch`, and reports what the page could read. The page's origin is the one the template
//! allows; the same page loaded as `http://localhost:PORT` is another origin, which it refuses.

use std::future::IntoFuture as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use intercept_sam::api::Gateway;
use intercept_sam::{prepare, serve_api};
use intercept_tests::Scratch;
use serde_json::Value;

const TEMPLATE: &str = "tests/fixtures/authorizers/template.yaml";

/// What the page does: each case is a `fetch`, and the page writes what it saw as JSON.
const PAGE: &str = r#"<!doctype html><html><body>running<script>
const api = "API_BASE";
const cases = [
  ["http_json_post", "/http/open", {method: "POST", headers: {"content-type": "application/json"}, body: "{}"}],
  ["http_authorized", "/http/simple", {headers: {"authorization": "allow"}}],
  ["http_denied", "/http/simple", {headers: {"authorization": "deny"}}],
  ["http_any_route", "/http/any", {headers: {"authorization": "allow"}}],
  ["rest_open", "/rest/open", {headers: {"x-user": "someone"}}],
  ["rest_authorized", "/rest/token", {headers: {"authorization": "allow"}}],
  ["rest_delete", "/rest/open", {method: "DELETE"}],
];
(async () => {
  const seen = {};
  for (const [name, path, init] of cases) {
    try {
      const response = await fetch(api + path, init);
      seen[name] = {status: response.status, requestId: response.headers.get("x-request-id")};
    } catch (error) {
      seen[name] = {error: String(error)};
    }
  }
  document.body.textContent = "RESULT" + JSON.stringify(seen);
})();
</script></body></html>"#;

/// Chromium, or a failure saying how to install it.
fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "chromium is missing: `apt-get install -y chromium` (./scripts/test.sh installs it)"
    );
    "chromium"
}

/// Loads `url` in headless Chromium and returns what the page reported.
fn run_page(url: &str, profile: &std::path::Path) -> Value {
    let mut child = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // A hang guard, not a speed bound.
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium ran for more than two minutes on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let dom = String::from_utf8_lossy(&output.stdout);
    let start = dom.find("RESULT").unwrap_or_else(|| panic!("the page did not finish: {dom}")) + "RESULT".len();
    let end = dom[start..].find("</body>").map_or(dom.len(), |i| start + i);
    let json = dom[start..end].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_calls_the_apis_from_an_allowed_origin_and_not_from_another() {
    let scratch = Scratch::new("cors-browser");
    // The page's server first: its origin is what the template allows.
    let page_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let page_port = page_listener.local_addr().expect("addr").port();
    let allowed_origin = format!("http://127.0.0.1:{page_port}");

    let mut options = intercept_tests::dev_options(TEMPLATE);
    options.parameter_overrides = vec![
        ("CountDir".to_owned(), scratch.path().display().to_string()),
        ("AllowedOrigin".to_owned(), allowed_origin.clone()),
    ];
    let (template, pools) = prepare(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::connect(&template, pools.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let api_base = format!("http://{}", api_listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_api(api_listener, Arc::new(gateway), pools, async {
        let _ = stopped.await;
    }));
    let page = PAGE.replace("API_BASE", &api_base);
    let app = axum::Router::new().route("/", get(move || async move { axum::response::Html(page) }));
    tokio::spawn(axum::serve(page_listener, app).into_future());

    let profile = scratch.path().join("profile");
    let allowed_url = format!("{allowed_origin}/");
    let profile_allowed = profile.join("allowed");
    let allowed = tokio::task::spawn_blocking(move || run_page(&allowed_url, &profile_allowed)).await.expect("ran");
    let status = |seen: &Value, case: &str| seen[case]["status"].as_u64();
    let failed = |seen: &Value, case: &str| seen[case]["error"].as_str().is_some_and(|e| e.contains("Failed to fetch"));
    assert_eq!(status(&allowed, "http_json_post"), Some(200), "{allowed}");
    assert!(allowed["http_json_post"]["requestId"].is_string(), "ExposeHeaders makes x-request-id readable: {allowed}");
    assert_eq!(status(&allowed, "http_authorized"), Some(200), "{allowed}");
    assert_eq!(status(&allowed, "http_denied"), Some(403), "the refusal is readable: {allowed}");
    assert!(
        failed(&allowed, "http_any_route"),
        "an ANY route takes the preflight, and its authorizer refuses it: {allowed}"
    );
    assert_eq!(status(&allowed, "rest_open"), Some(200), "{allowed}");
    assert!(allowed["rest_open"]["requestId"].is_null(), "a REST API exposes nothing: {allowed}");
    assert_eq!(status(&allowed, "rest_authorized"), Some(200), "{allowed}");
    assert!(failed(&allowed, "rest_delete"), "DELETE is not among the path's methods: {allowed}");

    // The same page from another origin.
    let other_url = format!("http://localhost:{page_port}/");
    let profile_other = profile.join("other");
    let other = tokio::task::spawn_blocking(move || run_page(&other_url, &profile_other)).await.expect("ran");
    for case in ["http_json_post", "http_authorized", "http_denied", "rest_open", "rest_authorized", "rest_delete"] {
        assert!(failed(&other, case), "{case} from another origin: {other}");
    }

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
