//! `GET /runtime/invocation/next` through the proxy: fetch upstream, run the filters, and
//! either hand the event to the runtime or answer it here and fetch the next one.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Either};
use intercept::InitErrorReport;
use serde_json::json;

use super::Proxy;
use super::filters::Verdict;
use super::upstream::{ProxyBody, UpstreamError, full};

const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const TRACE_ID: &str = "lambda-runtime-trace-id";

/// Serves the runtime's `next`: only an event the filters admit ever reaches it.
pub(crate) async fn next(proxy: &Proxy, parts: Parts) -> Response<ProxyBody> {
    if let Some(problem) = proxy.filters.init_failure().await {
        report_init_error(proxy, &problem).await;
    }
    // Asking for the next event ends whatever the runtime was given before.
    proxy.filters.runtime_moved_on();
    // The previous answer is upstream: a changed policy file applies from this event on.
    proxy.filters.check_policy_file().await;
    loop {
        let mut request = Request::new(full(Bytes::new()));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        *request.extensions_mut() = parts.extensions.clone();
        let response = match proxy.upstream.send(request).await {
            Ok(response) => response,
            Err(error) => return bad_gateway(&error),
        };
        if response.status() != StatusCode::OK {
            return response.map(Either::Left);
        }
        let (mut head, body) = response.into_parts();
        let event = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => return bad_gateway(&proxy.upstream_error(error)),
        };
        let Some(request_id) = head.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned) else {
            // Nothing can be answered for an event without an id; the runtime gets it as Lambda sent it.
            tracing::warn!("proxy: an event without {REQUEST_ID} is passed on unchanged");
            return Response::from_parts(head, full(event));
        };
        match Box::pin(proxy.filters.decide(&request_id, &head.headers, event.clone())).await {
            Verdict::Deliver(body, trace_header) => {
                if let Some(log_secrets) = &proxy.log_secrets {
                    log_secrets.register(&request_id, &event);
                }
                if let Some(value) = trace_header.and_then(|header| HeaderValue::from_str(&header).ok()) {
                    head.headers.insert(TRACE_ID, value);
                }
                if body != event {
                    head.headers.remove(TRANSFER_ENCODING);
                    head.headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
                }
                return Response::from_parts(head, full(body));
            }
            // The rejection's spans go to the extension's buffer before the answer: the answer
            // ends the invocation, and the extension's end-of-invocation flush must find them.
            Verdict::Answer(Ok(response)) => {
                proxy.filters.flush().await;
                answer(proxy, &request_id, "response", &[], response.get().to_owned()).await;
            }
            Verdict::Answer(Err(diagnostic)) => {
                proxy.filters.flush().await;
                let document = InitErrorReport::document(&diagnostic.error_type, &diagnostic.error_message);
                answer(
                    proxy,
                    &request_id,
                    "error",
                    &[(InitErrorReport::ERROR_TYPE_HEADER, &diagnostic.error_type)],
                    document,
                )
                .await;
            }
        }
    }
}

/// Posts the proxy's own answer for an event the runtime never saw.
async fn answer(proxy: &Proxy, request_id: &str, kind: &str, headers: &[(&'static str, &str)], body: String) {
    let path = format!("/2018-06-01/runtime/invocation/{request_id}/{kind}");
    match proxy.upstream.post(&path, headers, Bytes::from(body)).await {
        Ok((status, _)) if status.is_success() => {}
        Ok((status, body)) => {
            tracing::error!(request_id, %status, body = %String::from_utf8_lossy(&body), "proxy: the upstream refused the proxy's answer");
        }
        Err(error) => tracing::error!(request_id, %error, "proxy: cannot answer upstream"),
    }
}

/// Tells Lambda that init failed on the filters' configuration, as the in-process placement
/// does (`Intercept.ConfigError` naming the setting), once per environment.
async fn report_init_error(proxy: &Proxy, problem: &str) {
    let post = |path, headers: [_; 1], body: String| async move {
        tracing::error!(
            "proxy: Intercept's filters cannot run: {problem}; reporting an init error (INTERCEPT_PROXY_FAIL=closed)"
        );
        proxy.upstream.post(path, &headers, Bytes::from(body)).await
    };
    if let Some(Err(error)) = proxy.init_error.send(intercept::ConfigError::ERROR_TYPE, problem, post).await {
        tracing::error!(%error, "proxy: cannot report the init error");
    }
}

/// The answer when the upstream cannot be reached, in the Runtime API's error shape.
pub(crate) fn bad_gateway(error: &UpstreamError) -> Response<ProxyBody> {
    tracing::error!(%error, "proxy: upstream unreachable");
    let body = json!({ "errorType": "Intercept.ProxyUpstreamError", "errorMessage": error.to_string() }).to_string();
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::routing::{get, post};

    use super::*;
    use crate::proxy::ProxyConfig;

    type Reports = Arc<Mutex<Vec<(Option<String>, String)>>>;

    /// Failing closed on a bad setting, the proxy reports one init error per environment (not
    /// one per `next`), in the Runtime API's document with the error-type header.
    #[tokio::test]
    async fn failing_closed_the_proxy_reports_the_init_error_once() {
        let reports = Reports::default();
        let record = |State(reports): State<Reports>, headers: http::HeaderMap, body: String| async move {
            let error_type =
                headers.get(InitErrorReport::ERROR_TYPE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
            reports.lock().expect("not poisoned").push((error_type, body));
            StatusCode::ACCEPTED
        };
        // The fake Runtime API has no event to give: `next` passes its answer on.
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/init/error", post(record))
            .route("/2018-06-01/runtime/invocation/next", get(|| async { StatusCode::GONE }))
            .with_state(reports.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let config = ProxyConfig::from_lookup(|name| (name == "AWS_LAMBDA_RUNTIME_API").then(|| api.clone()));
        let config = config.expect("valid proxy settings");
        assert_eq!(config.fail, super::super::FailMode::Closed);
        let filters = intercept::Config::from_lookup(|name| (name == "INTERCEPT_AUTH").then(|| "nonsense".to_owned()));
        let problem = filters.as_ref().expect_err("a bad setting").to_string();
        let proxy = Proxy::new(&config, filters).expect("proxy");
        for _ in 0..2 {
            let request = Request::get("/2018-06-01/runtime/invocation/next").body(()).expect("request");
            let response = next(&proxy, request.into_parts().0).await;
            assert_eq!(response.status(), StatusCode::GONE);
        }
        let reports = reports.lock().expect("not poisoned").clone();
        let document = json!({ "errorMessage": problem, "errorType": "Intercept.ConfigError", "stackTrace": [] });
        assert_eq!(reports, [(Some("Intercept.ConfigError".to_owned()), document.to_string())]);
    }
}
