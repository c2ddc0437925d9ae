//! Contract tests: the API Gateway events the emulator builds (payload formats 2.0 and 1.0,
//! `intercept_sam::api::event_v2` and `event_v1`) deserialize into `aws_lambda_events`' types,
//! the ones a Rust function reads them with, and read back as the request that was sent; and
//! Intercept's own reader sees the same method, path, route and caller in them.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use intercept::{Invocation, TriggerKind};
use intercept_sam::api::{HttpRequest, Routed, event_v1, event_v2};
use serde_json::value::RawValue;

fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_static("Bearer abc.def.ghi"));
    headers.insert("user-agent", HeaderValue::from_static("contract-test/1"));
    headers.append("x-multi", HeaderValue::from_static("one"));
    headers.append("x-multi", HeaderValue::from_static("two"));
    headers.insert("cookie", HeaderValue::from_static("session=s1; theme=dark"));
    headers
}

fn intercept_reads(event: &serde_json::Value) -> Invocation {
    Invocation::from_raw(&RawValue::from_string(event.to_string()).expect("the event is JSON"))
}

#[test]
fn an_http_api_event_is_an_aws_lambda_events_v2_request() {
    let headers = headers();
    let body = Bytes::from_static(b"{\"order\":42}");
    let request = HttpRequest {
        method: "POST",
        path: "/orders/42",
        query: "expand=items&expand=notes&page=2",
        headers: &headers,
        body: &body,
        source_ip: "203.0.113.9".to_owned(),
    };
    let params = BTreeMap::from([("id".to_owned(), "42".to_owned())]);
    let routed = Routed {
        route: Some("/orders/{id}"),
        params: &params,
        authorizer: None,
        domain: "local.execute-api.us-east-1.amazonaws.com".to_owned(),
    };
    let event = event_v2(&request, &routed);
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).expect("an ApiGatewayV2httpRequest");
    assert_eq!(typed.version.as_deref(), Some("2.0"));
    assert_eq!(typed.route_key.as_deref(), Some("POST /orders/{id}"));
    assert_eq!(typed.raw_path.as_deref(), Some("/orders/42"));
    assert_eq!(typed.raw_query_string.as_deref(), Some("expand=items&expand=notes&page=2"));
    assert_eq!(typed.query_string_parameters.all("expand"), Some(vec!["items", "notes"]));
    assert_eq!(typed.query_string_parameters.first("page"), Some("2"));
    assert_eq!(typed.path_parameters.get("id").map(String::as_str), Some("42"));
    assert_eq!(typed.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer abc.def.ghi"));
    assert_eq!(typed.headers.get("x-multi").and_then(|v| v.to_str().ok()), Some("one,two"));
    assert_eq!(typed.cookies, Some(vec!["session=s1".to_owned(), "theme=dark".to_owned()]));
    let context = &typed.request_context;
    assert_eq!(context.http.method, "POST");
    assert_eq!(context.http.path.as_deref(), Some("/orders/42"));
    assert_eq!(context.http.source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(context.http.user_agent.as_deref(), Some("contract-test/1"));
    assert_eq!(context.stage.as_deref(), Some("$default"));
    assert_eq!(typed.body.as_deref(), Some("{\"order\":42}"));
    assert!(!typed.is_base64_encoded);

    let invocation = intercept_reads(&event);
    assert_eq!(invocation.kind, TriggerKind::ApiGatewayHttp);
    assert_eq!(invocation.method(), Some("POST"));
    assert_eq!(invocation.path(), Some("/orders/42"));
    assert_eq!(invocation.route(), Some("/orders/{id}"));
    assert_eq!(invocation.source_ip(), Some("203.0.113.9"));
    assert_eq!(invocation.header("cookie"), Some("session=s1; theme=dark"));
}

#[test]
fn a_function_url_event_is_a_v2_request_without_a_route() {
    let headers = HeaderMap::new();
    let body = Bytes::new();
    let request = HttpRequest {
        method: "GET",
        path: "/",
        query: "",
        headers: &headers,
        body: &body,
        source_ip: "192.0.2.1".into(),
    };
    let params = BTreeMap::new();
    let routed =
        Routed { route: None, params: &params, authorizer: None, domain: "abc.lambda-url.us-east-1.on.aws".to_owned() };
    let event = event_v2(&request, &routed);
    let typed: ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).expect("an ApiGatewayV2httpRequest");
    assert_eq!(typed.route_key.as_deref(), Some("$default"));
    assert_eq!(typed.request_context.domain_name.as_deref(), Some("abc.lambda-url.us-east-1.on.aws"));
    assert!(typed.body.is_none());
    assert_eq!(intercept_reads(&event).kind, TriggerKind::FunctionUrl);
}

#[test]
fn a_rest_api_event_is_an_aws_lambda_events_proxy_request() {
    let headers = headers();
    let body = Bytes::from_static(&[0xff, 0x00, 0x01]);
    let request = HttpRequest {
        method: "PUT",
        path: "/items/7",
        query: "tag=a&tag=b",
        headers: &headers,
        body: &body,
        source_ip: "198.51.100.4".to_owned(),
    };
    let params = BTreeMap::from([("item".to_owned(), "7".to_owned())]);
    let routed = Routed {
        route: Some("/items/{item}"),
        params: &params,
        authorizer: None,
        domain: "local.execute-api.us-east-1.amazonaws.com".to_owned(),
    };
    let event = event_v1(&request, &routed);
    let typed: ApiGatewayProxyRequest = serde_json::from_value(event.clone()).expect("an ApiGatewayProxyRequest");
    assert_eq!(typed.http_method, "PUT");
    assert_eq!(typed.path.as_deref(), Some("/items/7"));
    assert_eq!(typed.resource.as_deref(), Some("/items/{item}"));
    assert_eq!(typed.path_parameters.get("item").map(String::as_str), Some("7"));
    assert_eq!(typed.multi_value_query_string_parameters.all("tag"), Some(vec!["a", "b"]));
    assert_eq!(typed.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer abc.def.ghi"));
    let multi: Vec<&str> =
        typed.multi_value_headers.get_all("x-multi").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(multi, ["one", "two"]);
    assert_eq!(typed.request_context.identity.source_ip.as_deref(), Some("198.51.100.4"));
    // A body that is not UTF-8 travels base64-encoded.
    assert!(typed.is_base64_encoded);
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(typed.body.as_deref().expect("a body"));
    assert_eq!(decoded.expect("base64"), [0xff, 0x00, 0x01]);

    let invocation = intercept_reads(&event);
    assert_eq!(invocation.kind, TriggerKind::ApiGatewayRest);
    assert_eq!(invocation.method(), Some("PUT"));
    assert_eq!(invocation.route(), Some("/items/{item}"));
    assert_eq!(invocation.source_ip(), Some("198.51.100.4"));
}
