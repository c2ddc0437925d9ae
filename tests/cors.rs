//! CORS through start-api as a browser meets it. The client below drives the exact sequence a
//! browser's `fetch` sends from a page on another origin (a preflight `OPTIONS` with `Origin`,
//! `Access-Control-Request-Method` and `-Headers` when the request is not simple, then the
//! request with `Origin`) and applies the checks the Fetch standard makes on both answers; a
//! failed check is the `TypeError` a page would get. Node's `fetch` enforces none of this, so
//! the checks live here.
//!
//! The fixture's HTTP API has `CorsConfiguration` (API Gateway answers preflights and adds the
//! headers itself); its REST API has `Cors` through `Globals.Api` (SAM's OPTIONS mock with
//! static headers, and a function that sets `Access-Control-Allow-Origin` itself, as a Lambda
//! proxy integration must).

use std::path::Path;

use intercept_sam::api::Gateway;
use intercept_sam::prepare;
use intercept_tests::{Scratch, ServedApi};
use reqwest::header::HeaderMap;

const TEMPLATE: &str = "tests/fixtures/authorizers/template.yaml";
const APP: &str = "https://app.example";

/// The fixture's API served with its Lambda authorizers (their counts under `count_dir`).
async fn start_api(count_dir: &Path) -> ServedApi {
    let mut options = intercept_tests::dev_options(TEMPLATE);
    options.parameter_overrides = vec![("CountDir".to_owned(), count_dir.display().to_string())];
    let (template, pools) = prepare(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::connect(&template, pools.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    ServedApi::serve(gateway, pools).await
}

/// What a page sees of a response its `fetch` was allowed to read.
#[derive(Debug)]
struct Seen {
    status: u16,
    body: String,
    /// The response headers a script can read: the safelisted ones and those exposed.
    readable: Vec<String>,
    /// The preflight the browser sent first, if it had to: its status and body.
    preflight: Option<(u16, String)>,
}

/// A page on `origin` calling `fetch`.
struct Browser {
    origin: String,
    client: reqwest::Client,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name).map(|v| v.split(',').map(|s| s.trim().to_owned()).collect()).unwrap_or_default()
}

const SAFELISTED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

fn safelisted_request_header(name: &str, value: &str) -> bool {
    match name {
        "accept" | "accept-language" | "content-language" => true,
        "content-type" => {
            let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"].contains(&essence.as_str())
        }
        _ => false,
    }
}

impl Browser {
    fn on(origin: &str) -> Browser {
        Browser { origin: origin.to_owned(), client: reqwest::Client::new() }
    }

    /// The Fetch standard's CORS check of a response to this page.
    fn cors_check(&self, headers: &HeaderMap, credentials: bool) -> Result<(), String> {
        let allowed = header(headers, "access-control-allow-origin").ok_or("no Access-Control-Allow-Origin")?;
        if !(allowed == self.origin || (allowed == "*" && !credentials)) {
            return Err(format!("Access-Control-Allow-Origin `{allowed}` is not {}", self.origin));
        }
        if credentials && header(headers, "access-control-allow-credentials").as_deref() != Some("true") {
            return Err("credentials are not allowed".to_owned());
        }
        Ok(())
    }

    /// `fetch(url, {method, headers, credentials})`: `Err` with what a browser's console says.
    async fn fetch(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        credentials: bool,
    ) -> Result<Seen, String> {
        let unsafe_headers: Vec<String> = {
            let mut names: Vec<String> = headers
                .iter()
                .filter(|(name, value)| !safelisted_request_header(&name.to_ascii_lowercase(), value))
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect();
            names.sort();
            names.dedup();
            names
        };
        let mut preflight = None;
        if !SAFELISTED_METHODS.contains(&method) || !unsafe_headers.is_empty() {
            let mut request = self
                .client
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", &self.origin)
                .header("access-control-request-method", method);
            if !unsafe_headers.is_empty() {
                request = request.header("access-control-request-headers", unsafe_headers.join(","));
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let answer = response.headers().clone();
            preflight = Some((status, response.text().await.unwrap_or_default()));
            if !(200..300).contains(&status) {
                return Err(format!("preflight: status {status} is not ok"));
            }
            self.cors_check(&answer, credentials).map_err(|e| format!("preflight: {e}"))?;
            let methods = list(&answer, "access-control-allow-methods");
            let method_ok = SAFELISTED_METHODS.contains(&method)
                || methods.iter().any(|m| m == method)
                || (!credentials && methods.iter().any(|m| m == "*"));
            if !method_ok {
                return Err(format!("preflight: method {method} is not in Access-Control-Allow-Methods {methods:?}"));
            }
            let allowed: Vec<String> =
                list(&answer, "access-control-allow-headers").iter().map(|h| h.to_ascii_lowercase()).collect();
            for name in &unsafe_headers {
                let wildcard = !credentials && name != "authorization" && allowed.iter().any(|h| h == "*");
                if !wildcard && !allowed.contains(name) {
                    return Err(format!("preflight: header {name} is not in Access-Control-Allow-Headers {allowed:?}"));
                }
            }
        }
        let mut request =
            self.client.request(method.parse().map_err(|_| "method")?, url).header("origin", &self.origin);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let answer = response.headers().clone();
        self.cors_check(&answer, credentials)?;
        let exposed: Vec<String> =
            list(&answer, "access-control-expose-headers").iter().map(|h| h.to_ascii_lowercase()).collect();
        let safelisted = [
            "cache-control",
            "content-language",
            "content-length",
            "content-type",
            "expires",
            "last-modified",
            "pragma",
        ];
        let readable = answer
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| safelisted.contains(&name.as_str()) || exposed.contains(name))
            .collect();
        let status = response.status().as_u16();
        Ok(Seen { status, body: response.text().await.unwrap_or_default(), readable, preflight })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http_api_cors_as_a_browser_meets_it() {
    let scratch = Scratch::new("cors-http");
    let api = start_api(scratch.path()).await;
    let url = format!("{}/http/open", api.base);
    let app = Browser::on(APP);

    // A JSON POST is not simple: preflight (answered by API Gateway, not the function), then the POST.
    let seen = app.fetch("POST", &url, &[("content-type", "application/json")], false).await.expect("allowed");
    let (preflight_status, preflight_body) = seen.preflight.clone().expect("a preflight was needed");
    assert_eq!(
        (preflight_status, preflight_body.as_str()),
        (204, ""),
        "API Gateway answers it; the function does not run"
    );
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("\"routeKey\": \"POST /http/open\""), "{}", seen.body);
    assert!(seen.readable.contains(&"x-request-id".to_owned()), "ExposeHeaders: {:?}", seen.readable);

    // Another origin: the preflight answer carries no CORS headers, and the browser stops there.
    let evil = Browser::on("https://evil.example");
    let refused = evil.fetch("POST", &url, &[("content-type", "application/json")], false).await;
    assert!(refused.as_ref().is_err_and(|e| e.contains("no Access-Control-Allow-Origin")), "{refused:?}");
    // Even a simple request's answer is unreadable there: the function's own header is dropped.
    let simple = evil.fetch("POST", &url, &[("content-type", "text/plain")], false).await;
    assert!(simple.is_err(), "{simple:?}");

    // What the configuration does not list fails the preflight.
    let put = app.fetch("PUT", &url, &[], false).await;
    assert!(put.as_ref().is_err_and(|e| e.contains("preflight")), "{put:?}");
    let custom = app.fetch("POST", &url, &[("x-custom", "1")], false).await;
    assert!(custom.as_ref().is_err_and(|e| e.contains("preflight")), "{custom:?}");

    // A route with a Lambda authorizer: the preflight needs no credentials; the request does.
    let secured = format!("{}/http/simple", api.base);
    let allowed = app.fetch("GET", &secured, &[("authorization", "allow")], false).await.expect("allowed");
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.preflight.map(|(status, _)| status), Some(204));
    let denied = app.fetch("GET", &secured, &[("authorization", "deny")], false).await.expect("readable");
    assert_eq!(denied.status, 403, "the authorizer's refusal carries the CORS headers, so the page can read it");
    // An ANY route takes OPTIONS too: the preflight goes to it, through its authorizer, and a
    // preflight carries no credentials (API Gateway's advice: an OPTIONS route without one).
    let any = app.fetch("GET", &format!("{}/http/any", api.base), &[("authorization", "allow")], false).await;
    assert!(any.as_ref().is_err_and(|e| e.contains("preflight: status 401")), "{any:?}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_api_cors_as_a_browser_meets_it() {
    let scratch = Scratch::new("cors-rest");
    let api = start_api(scratch.path()).await;
    let url = format!("{}/rest/open", api.base);
    let app = Browser::on(APP);

    let seen = app.fetch("GET", &url, &[("x-user", "someone")], false).await.expect("allowed");
    let (status, body) = seen.preflight.clone().expect("x-user needs a preflight");
    assert_eq!((status, body.as_str()), (200, "{}"), "SAM's OPTIONS mock");
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("\"resource\": \"/rest/open\""), "{}", seen.body);

    let raw = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("answers");
    let headers = raw.headers().clone();
    assert_eq!(raw.status(), 200);
    assert_eq!(header(&headers, "access-control-allow-origin").as_deref(), Some(APP), "static, whatever the origin");
    assert_eq!(header(&headers, "access-control-allow-methods").as_deref(), Some("GET,OPTIONS"), "the path's methods");
    assert_eq!(header(&headers, "access-control-allow-headers").as_deref(), Some("Authorization,Content-Type,X-User"));
    assert_eq!(header(&headers, "access-control-max-age").as_deref(), Some("600"));
    let evil = Browser::on("https://evil.example").fetch("GET", &url, &[("x-user", "someone")], false).await;
    assert!(evil.as_ref().is_err_and(|e| e.contains("is not https://evil.example")), "{evil:?}");

    let delete = app.fetch("DELETE", &url, &[], false).await;
    assert!(delete.as_ref().is_err_and(|e| e.contains("method DELETE")), "{delete:?}");

    // The API's default authorizer is not on the preflight (AddDefaultAuthorizerToCorsPreflight: false).
    let token = format!("{}/rest/token", api.base);
    let seen = app.fetch("GET", &token, &[("authorization", "allow")], false).await.expect("allowed");
    assert_eq!(seen.preflight.map(|(status, _)| status), Some(200));
    assert_eq!(seen.status, 200);
    api.stop().await;
}
