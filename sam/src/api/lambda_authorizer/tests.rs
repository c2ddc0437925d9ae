use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::json;

use super::*;
use crate::api::payload::event_v2;
use crate::template::IdentitySource;

fn settings(payload_type: LambdaAuthorizerType, version: &str, simple: bool) -> LambdaAuthorizer {
    LambdaAuthorizer {
        name: "Auth".to_owned(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:sam-app-Auth".to_owned(),
        payload_type,
        payload_version: version.to_owned(),
        simple_responses: simple,
        identity: vec![IdentitySource::Header("Authorization".to_owned())],
        validation_expression: None,
        ttl_seconds: 60,
    }
}

const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:local/Prod/GET/orders/1";

fn policy(effect: &str, resource: &str) -> Json {
    json!({
        "principalId": "alice",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
        "context": {"tier": "gold", "limit": 5, "beta": true},
    })
}

#[test]
fn rest_policies_allow_deny_and_context() {
    let check = LambdaCheck::new(settings(LambdaAuthorizerType::Token, "1.0", false), None);
    let allowed =
        check.judge(ApiKind::Rest, PayloadVersion::V1, &policy("Allow", "arn:*/Prod/GET/*"), ARN, 3).expect("allowed");
    assert_eq!(
        allowed,
        json!({"tier": "gold", "limit": "5", "beta": "true", "principalId": "alice", "integrationLatency": 3}),
        "REST passes context values as strings"
    );
    let deny = check.judge(ApiKind::Rest, PayloadVersion::V1, &policy("Deny", "*"), ARN, 0).expect_err("denied");
    assert_eq!(deny.status, 403);
    assert_eq!(
        serde_json::from_slice::<Json>(&deny.body).expect("json"),
        json!({"Message": "User is not authorized to access this resource with an explicit deny"})
    );
    let elsewhere = check
        .judge(ApiKind::Rest, PayloadVersion::V1, &policy("Allow", "arn:*/Prod/POST/*"), ARN, 0)
        .expect_err("denied");
    assert_eq!(
        serde_json::from_slice::<Json>(&elsewhere.body).expect("json"),
        json!({"Message": "User is not authorized to access this resource"})
    );
    let mut nested = policy("Allow", "*");
    nested["context"]["claims"] = json!({"a": 1});
    let error = check.judge(ApiKind::Rest, PayloadVersion::V1, &nested, ARN, 0).expect_err("objects are refused");
    assert_eq!((error.status.as_u16(), error.body.as_ref()), (500, br#"{"message":null}"#.as_slice()));
    let mut anonymous = policy("Allow", "*");
    anonymous.as_object_mut().expect("object").remove("principalId");
    assert_eq!(
        check.judge(ApiKind::Rest, PayloadVersion::V1, &anonymous, ARN, 0).expect_err("no principal").status,
        500
    );
}

#[test]
fn http_simple_responses_and_policies() {
    let simple = LambdaCheck::new(settings(LambdaAuthorizerType::Request, "2.0", true), None);
    let allowed = simple
        .judge(
            ApiKind::Http,
            PayloadVersion::V2,
            &json!({"isAuthorized": true, "context": {"user": {"id": 7}}}),
            ARN,
            0,
        )
        .expect("allowed");
    assert_eq!(allowed, json!({"lambda": {"user": {"id": 7}}}), "HTTP APIs keep the context's JSON");
    let refused =
        simple.judge(ApiKind::Http, PayloadVersion::V2, &json!({"isAuthorized": false}), ARN, 0).expect_err("refused");
    assert_eq!((refused.status.as_u16(), refused.body.as_ref()), (403, br#"{"message":"Forbidden"}"#.as_slice()));
    let malformed = simple
        .judge(ApiKind::Http, PayloadVersion::V2, &json!({"isAuthorized": "yes"}), ARN, 0)
        .expect_err("malformed");
    assert_eq!(malformed.status, 500);
    let iam = LambdaCheck::new(settings(LambdaAuthorizerType::Request, "2.0", false), None);
    assert_eq!(
        iam.judge(ApiKind::Http, PayloadVersion::V2, &policy("Deny", "*"), ARN, 0).expect_err("denied").status,
        403
    );
    let context = iam.judge(ApiKind::Http, PayloadVersion::V2, &policy("Allow", "*"), ARN, 0).expect("allowed");
    assert_eq!(context["lambda"]["principalId"], "alice");
    assert_eq!(context["lambda"]["limit"], 5);
}

#[test]
fn an_http_route_of_payload_1_0_gets_the_context_directly_under_authorizer() {
    let simple = LambdaCheck::new(settings(LambdaAuthorizerType::Request, "2.0", true), None);
    let response = json!({"isAuthorized": true, "context": {"user": {"id": 7}}});
    let allowed = simple.judge(ApiKind::Http, PayloadVersion::V1, &response, ARN, 0).expect("allowed");
    assert_eq!(allowed, json!({"user": {"id": 7}}), "no `lambda` key in a 1.0 event");
    let iam = LambdaCheck::new(settings(LambdaAuthorizerType::Request, "1.0", false), None);
    let context = iam.judge(ApiKind::Http, PayloadVersion::V1, &policy("Allow", "*"), ARN, 0).expect("allowed");
    assert_eq!(context, json!({"tier": "gold", "limit": 5, "beta": true, "principalId": "alice"}));
}

#[test]
fn events_for_each_authorizer_type_and_payload() {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer t".parse().expect("header"));
    let body = Bytes::from_static(b"secret body");
    let request = HttpRequest {
        method: "GET",
        path: "/orders/1",
        query: "a=1",
        headers: &headers,
        body: &body,
        source_ip: "127.0.0.1".to_owned(),
    };
    let params = BTreeMap::from([("id".to_owned(), "1".to_owned())]);
    let routed = Routed { route: Some("/orders/{id}"), params: &params, authorizer: None, domain: "localhost".into() };
    let identity = vec!["Bearer t".to_owned()];

    let token = LambdaCheck::new(settings(LambdaAuthorizerType::Token, "1.0", false), None);
    let v1 = event_v1(&request, &routed);
    assert_eq!(
        token.event(ApiKind::Rest, &identity, ARN, &request, &routed, &v1),
        json!({"type": "TOKEN", "authorizationToken": "Bearer t", "methodArn": ARN})
    );
    let rest_request = LambdaCheck::new(settings(LambdaAuthorizerType::Request, "1.0", false), None);
    let event = rest_request.event(ApiKind::Rest, &identity, ARN, &request, &routed, &v1);
    assert_eq!((event["type"].as_str(), event["methodArn"].as_str()), (Some("REQUEST"), Some(ARN)));
    assert_eq!(event["resource"], "/orders/{id}");
    assert!(event.get("body").is_none(), "authorizers never see the body");

    let v2 = event_v2(&request, &routed);
    let http2 = LambdaCheck::new(settings(LambdaAuthorizerType::Request, "2.0", true), None);
    let event = http2.event(ApiKind::Http, &identity, ARN, &request, &routed, &v2);
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeArn"], ARN);
    assert_eq!(event["identitySource"], json!(["Bearer t"]));
    assert_eq!(event["routeKey"], "GET /orders/{id}");
    assert!(event.get("body").is_none());

    let http1 = LambdaCheck::new(settings(LambdaAuthorizerType::Request, "1.0", false), None);
    let event = http1.event(ApiKind::Http, &identity, ARN, &request, &routed, &v2);
    assert_eq!(event["version"], "1.0");
    assert_eq!(
        (event["identitySource"].as_str(), event["authorizationToken"].as_str()),
        (Some("Bearer t"), Some("Bearer t"))
    );
    assert_eq!(event["httpMethod"], "GET");
    assert_eq!(event["methodArn"], ARN);

    // A 2.0 authorizer of a route whose own event is 1.0 still gets a 2.0 event, in the route's stage.
    let mut route_v1 = event_v1(&request, &routed);
    route_v1["version"] = json!("1.0");
    route_v1["requestContext"]["stage"] = json!("dev");
    let event = http2.event(ApiKind::Http, &identity, ARN, &request, &routed, &route_v1);
    assert_eq!((&event["version"], &event["routeArn"]), (&json!("2.0"), &json!(ARN)), "{event}");
    assert_eq!(event["identitySource"], json!(["Bearer t"]));
    assert_eq!(event["requestContext"]["stage"], "dev");
    assert!(event.get("methodArn").is_none() && event.get("body").is_none(), "{event}");
}

#[tokio::test(start_paused = true)]
async fn cached_results_expire_after_their_ttl() {
    let check = LambdaCheck::new(settings(LambdaAuthorizerType::Token, "1.0", false), None);
    let key = vec!["token".to_owned()];
    check.remember(key.clone(), Arc::new(json!({"principalId": "a"})));
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(check.cached(&key).is_some(), "within the TTL");
    assert!(check.cached(&["other".to_owned()]).is_none(), "keyed by identity");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(check.cached(&key).is_none(), "expired after ReauthorizeEvery");
}

#[tokio::test]
async fn missing_identity_and_failed_validation_are_401_without_an_invocation() {
    let mut with_validation = settings(LambdaAuthorizerType::Token, "1.0", false);
    with_validation.validation_expression = Some("Bearer [a-z]+".to_owned());
    // No function: an invocation would answer 500, so a 401 proves none was attempted.
    let check = LambdaCheck::new(with_validation, None);
    let body = Bytes::new();
    let params = BTreeMap::new();
    let routed = Routed { route: Some("/"), params: &params, authorizer: None, domain: "localhost".into() };
    for token in [None, Some("Bearer 123"), Some("xBearer abc")] {
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            headers.insert("authorization", token.parse().expect("header"));
        }
        let request = HttpRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
            source_ip: "::1".into(),
        };
        let event = event_v1(&request, &routed);
        let refused =
            check.authorize(ApiKind::Rest, PayloadVersion::V1, &request, &routed, &event).await.expect_err("refused");
        assert_eq!(refused.status, 401, "{token:?}");
    }
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer abc".parse().expect("header"));
    let request =
        HttpRequest { method: "GET", path: "/", query: "", headers: &headers, body: &body, source_ip: "::1".into() };
    let event = event_v1(&request, &routed);
    let error =
        check.authorize(ApiKind::Rest, PayloadVersion::V1, &request, &routed, &event).await.expect_err("no function");
    assert_eq!(error.status, 500, "a valid token reaches the (missing) function");
}

#[test]
fn the_fuzz_seeds_and_random_wildcards_agree_with_a_regular_expression() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/lambda_authorizer");
    let mut count = 0;
    for entry in std::fs::read_dir(&seeds).expect("the fuzz target's seed corpus") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-")) {
            fuzz_response(&std::fs::read(&path).expect("seed"));
            count += 1;
        }
    }
    assert!(count >= 5, "{count} seeds");
    // Patterns and texts over a small alphabet, so that wildcards often almost match.
    let alphabet = ['a', 'b', '/', '*', '?', '\\'];
    let pick = |n: usize| -> String { (0..n).map(|_| alphabet[rand::random_range(0..alphabet.len())]).collect() };
    for _ in 0..5000 {
        let (pattern, text) = (pick(rand::random_range(0..8)), pick(rand::random_range(0..10)).replace('*', "a"));
        fuzz_response(format!("{pattern}\n{text}").as_bytes());
    }
}
