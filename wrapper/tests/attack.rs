//! The path attack corpus (tests/fixtures/attack) against the core and the in-process layer: every
//! spelling of a guarded path, in every HTTP trigger's event shape, either meets the rule the
//! canonical path meets (403) or is refused as an unsafe path (400); none reaches a handler past a
//! rule. Spellings of one path share one route-keyed rate-limit bucket.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use intercept::policy::EffectivePolicy;
use intercept::{Config, InterceptLayer, Interceptor, Invocation, RawEvent, Rejection};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tower::{Layer as _, ServiceExt as _};

const SECRET: &str = "attack-corpus-secret";
const SCOPE_RULES: &str = "/admin/*=admin; POST /orders=orders:write";
const POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/attack/policy.yaml");
const NOW: Duration = Duration::from_secs(1_800_000_000);

#[path = "../../tests/fixtures/attack/corpus.rs"]
mod corpus;

use corpus::{Expect, corpus, one_bucket};

fn config(pairs: &[(&str, &str)]) -> Config {
    let mut map: HashMap<&str, &str> = pairs.iter().copied().collect();
    map.entry("INTERCEPT_DISABLE").or_insert("telemetry");
    Config::from_lookup(|name| map.get(name).map(|v| (*v).to_owned())).expect("valid config")
}

fn interceptor(pairs: &[(&str, &str)]) -> Interceptor {
    Interceptor::new(&config(pairs)).expect("builds")
}

/// The env-var form of the rules.
fn scope_rules(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("INTERCEPT_AUTH", "jwt"),
        ("INTERCEPT_JWT_SECRET", SECRET),
        ("INTERCEPT_JWT_REQUIRED_SCOPES", SCOPE_RULES),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

/// The policy-file form of the rules.
fn policy_rules(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![("INTERCEPT_POLICY", POLICY), ("INTERCEPT_JWT_SECRET", SECRET)];
    pairs.extend_from_slice(extra);
    pairs
}

/// A token holding `scope`, valid at the injected clock's [`NOW`].
fn bearer(scope: &str) -> String {
    bearer_at(scope, NOW)
}

/// A token holding `scope`, valid at `now` (the layer runs on the real clock).
fn bearer_at(scope: &str, now: Duration) -> String {
    let claims = json!({ "sub": "mallory", "scope": scope, "exp": now.as_secs() + 600, "iat": now.as_secs() - 10 });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign");
    format!("Bearer {token}")
}

/// The HTTP triggers' event shapes, each carrying the path as the platform delivers it.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// HTTP API payload 2.0 on `$default` (no route template).
    HttpApi,
    /// HTTP API payload 2.0 matched by `ANY /{proxy+}`, on a named stage in the path.
    HttpApiStage,
    /// REST API (payload 1.0) behind `/{proxy+}`.
    Rest,
    /// Application Load Balancer.
    Alb,
    /// Lambda function URL.
    FunctionUrl,
    /// REST API behind `/{proxy+}` on a custom domain whose `v1` base path mapping stays in
    /// `path` (the template and `pathParameters` carry what the API matched).
    RestBasePath,
    /// HTTP API matched by `ANY /{proxy+}` on a custom domain whose `v1` mapping stays in
    /// `rawPath`.
    HttpApiBasePath,
}

const SHAPES: [Shape; 7] = [
    Shape::HttpApi,
    Shape::HttpApiStage,
    Shape::Rest,
    Shape::Alb,
    Shape::FunctionUrl,
    Shape::RestBasePath,
    Shape::HttpApiBasePath,
];

fn event(shape: Shape, method: &str, path: &str, authorization: Option<&str>) -> String {
    let mut headers = json!({ "user-agent": "attack-corpus", "x-forwarded-for": "203.0.113.9" });
    if let Some(authorization) = authorization {
        headers["authorization"] = authorization.into();
    }
    let v2 = |route_key: &str, raw_path: &str, stage: &str, domain: &str| {
        json!({
            "version": "2.0", "routeKey": route_key, "rawPath": raw_path, "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "domainName": domain, "stage": stage, "routeKey": route_key,
                "http": { "method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9" },
            },
            "isBase64Encoded": false,
        })
    };
    // What `{proxy+}` matched, as API Gateway puts it in `pathParameters`.
    let proxy = path.trim_start_matches('/');
    let parameters = if proxy.is_empty() { Value::Null } else { json!({ "proxy": proxy }) };
    let event = match shape {
        Shape::HttpApiBasePath => {
            let mut event = v2("ANY /{proxy+}", &format!("/v1{path}"), "$default", "api.example.com");
            event["pathParameters"] = parameters;
            event
        }
        Shape::RestBasePath => json!({
            "resource": "/{proxy+}", "path": format!("/v1{path}"), "httpMethod": method, "headers": headers,
            "pathParameters": parameters,
            "requestContext": {
                "resourcePath": "/{proxy+}", "httpMethod": method, "path": format!("/v1{path}"), "stage": "prod",
                "domainName": "api.example.com", "identity": { "sourceIp": "203.0.113.9" },
            },
            "isBase64Encoded": false,
        }),
        Shape::HttpApi => v2("$default", path, "$default", "abc123.execute-api.us-east-1.amazonaws.com"),
        Shape::HttpApiStage => {
            let mut event =
                v2("ANY /{proxy+}", &format!("/prod{path}"), "prod", "abc123.execute-api.us-east-1.amazonaws.com");
            event["pathParameters"] = parameters.clone();
            event
        }
        Shape::FunctionUrl => v2("$default", path, "$default", "abc123.lambda-url.us-east-1.on.aws"),
        Shape::Rest => json!({
            "resource": "/{proxy+}", "path": path, "httpMethod": method, "headers": headers,
            "pathParameters": parameters,
            "multiValueHeaders": headers.as_object().expect("object").iter()
                .map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<_, _>>(),
            "requestContext": {
                "resourcePath": "/{proxy+}", "httpMethod": method, "path": format!("/prod{path}"), "stage": "prod",
                "identity": { "sourceIp": "203.0.113.9" },
            },
            "isBase64Encoded": false,
        }),
        Shape::Alb => json!({
            "requestContext": { "elb": { "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1" } },
            "httpMethod": method, "path": path, "queryStringParameters": {}, "headers": headers,
            "body": "", "isBase64Encoded": false,
        }),
    };
    event.to_string()
}

fn invocation(shape: Shape, method: &str, path: &str, authorization: Option<&str>) -> Invocation {
    let raw = RawValue::from_string(event(shape, method, path, authorization)).expect("json");
    Invocation::from_raw(&raw)
}

/// A one-line account of a decision, for the failure messages.
fn outcome(result: &Result<intercept::Admitted, Rejection>) -> String {
    match result {
        Ok(_) => "ADMITTED (the handler would run)".to_owned(),
        Err(rejection) => format!("{} {}", rejection.status(), rejection.reason()),
    }
}

/// Runs the corpus through `interceptor` in every shape; `decode` says whether
/// `INTERCEPT_UNSAFE_PATHS=decode` is set. Returns how many attacks were judged.
async fn judge_corpus(interceptor: &Interceptor, decode: bool) -> usize {
    let reader = bearer("orders:read");
    let mut judged = 0;
    let mut wrong = Vec::new();
    for shape in SHAPES {
        for attack in corpus() {
            let invocation = invocation(shape, &attack.method, &attack.path, Some(&reader));
            let result = interceptor.admit_at(&invocation, NOW).await;
            let forbidden = matches!(&result, Err(Rejection::Forbidden { .. }));
            let unsafe_path = matches!(&result, Err(Rejection::UnsafePath(_)));
            let fine = match attack.expect {
                Expect::Rule => forbidden,
                Expect::Unsafe if decode => forbidden,
                Expect::Unsafe | Expect::Unreadable => unsafe_path,
            };
            if !fine {
                wrong.push(format!(
                    "{shape:?} {} {} ({:?}): {} [canonical {:?}, problem {:?}]",
                    attack.method,
                    attack.path,
                    attack.expect,
                    outcome(&result),
                    invocation.canonical_path(),
                    invocation.path_problem()
                ));
            }
            judged += 1;
        }
    }
    assert!(wrong.is_empty(), "{} of {judged} attacks were not judged as expected:\n{}", wrong.len(), wrong.join("\n"));
    judged
}

/// The controls: the same token on an unguarded path, and a token holding the scope.
async fn controls(interceptor: &Interceptor) {
    let reader = bearer("orders:read");
    let admin = bearer("admin");
    let writer = bearer("orders:write");
    for shape in SHAPES {
        let public = interceptor.admit_at(&invocation(shape, "GET", "/public/x", Some(&reader)), NOW).await;
        assert!(public.is_ok(), "{shape:?} GET /public/x: {}", outcome(&public));
        for path in ["/admin/x", "//admin/x", "/%61dmin/x", "/ADMIN/x"] {
            let allowed = interceptor.admit_at(&invocation(shape, "GET", path, Some(&admin)), NOW).await;
            assert!(allowed.is_ok(), "{shape:?} GET {path} with the admin scope: {}", outcome(&allowed));
        }
        let order = interceptor.admit_at(&invocation(shape, "POST", "/orders", Some(&writer)), NOW).await;
        assert!(order.is_ok(), "{shape:?} POST /orders with orders:write: {}", outcome(&order));
        let none = interceptor.admit_at(&invocation(shape, "GET", "/admin/x", None), NOW).await;
        assert_eq!(none.as_ref().err().map(Rejection::status), Some(401), "{shape:?} no token: {}", outcome(&none));
    }
}

#[tokio::test]
async fn env_scope_rules_meet_every_spelling_or_refuse_it() {
    let interceptor = interceptor(&scope_rules(&[]));
    let judged = judge_corpus(&interceptor, false).await;
    assert!(judged >= SHAPES.len() * 55, "{judged}");
    controls(&interceptor).await;
}

#[tokio::test]
async fn env_scope_rules_with_unsafe_paths_decoded_judge_the_most_decoded_reading() {
    let interceptor = interceptor(&scope_rules(&[("INTERCEPT_UNSAFE_PATHS", "decode")]));
    judge_corpus(&interceptor, true).await;
    controls(&interceptor).await;
}

#[tokio::test]
async fn policy_routes_meet_every_spelling_or_refuse_it() {
    let interceptor = interceptor(&policy_rules(&[]));
    judge_corpus(&interceptor, false).await;
    controls(&interceptor).await;
    let decoding = Interceptor::new(&config(&policy_rules(&[("INTERCEPT_UNSAFE_PATHS", "decode")]))).expect("builds");
    judge_corpus(&decoding, true).await;
}

#[test]
fn route_for_and_explain_give_each_spelling_the_canonical_paths_route() {
    let map: HashMap<&str, &str> = policy_rules(&[]).into_iter().collect();
    let policy = EffectivePolicy::from_lookup(|name| map.get(name).map(|v| (*v).to_owned())).expect("policy");
    for attack in corpus() {
        let (method, path) = (attack.method.as_str(), attack.path.as_str());
        let (route, pattern) = policy.route_for(method, path);
        let explained = policy.explain(method, path);
        let expected = match (method, path) {
            (_, p) if p.contains("orders") || p.contains("Orders") || p.contains("%6F") => "POST /orders",
            (_, "/admin" | "/admin/") => "ANY /admin",
            _ => "ANY /admin/{proxy+}",
        };
        match attack.expect {
            Expect::Rule => {
                assert_eq!(route.route.as_deref(), Some(expected), "{method} {path}: {explained}");
                assert_eq!(pattern, Some(expected), "{method} {path}");
                assert!(explained.contains(&format!("route: {expected}")), "{method} {path}: {explained}");
                assert!(!explained.contains("refused"), "{method} {path}: {explained}");
            }
            Expect::Unsafe => {
                // Refused; the route is the one its most decoded reading would meet.
                assert!(explained.starts_with("refused: 400 unsafe_path"), "{method} {path}: {explained}");
                assert_eq!(route.route.as_deref(), Some(expected), "{method} {path}: {explained}");
                assert!(explained.contains(&format!("route: {expected}")), "{method} {path}: {explained}");
            }
            Expect::Unreadable => {
                assert!(explained.starts_with("refused: 400 unsafe_path"), "{method} {path}: {explained}");
                assert!(explained.contains("the handler never sees it"), "{method} {path}: {explained}");
                assert_eq!(route.route, None, "{method} {path}: no reading, no route");
            }
        }
    }
    let (public, _) = policy.route_for("GET", "/public/x");
    assert_eq!(public.route, None, "the defaults serve /public/x");
}

#[tokio::test]
async fn the_tower_layer_never_calls_the_handler_past_a_rule() {
    for (name, pairs) in [("env", scope_rules(&[])), ("policy", policy_rules(&[]))] {
        let interceptor = Arc::new(interceptor(&pairs));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let handler = tower::service_fn(move |event: LambdaEvent<Value>| {
            let calls = counted.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let path = event.payload["rawPath"].as_str().or(event.payload["path"].as_str()).unwrap_or_default();
                Ok::<_, Diagnostic>(json!({ "statusCode": 200, "body": format!("handler reached {path}") }))
            }
        });
        let service = InterceptLayer::<Value>::new(interceptor).layer(handler);
        let call = |shape, method: &str, path: &str, authorization: &str| {
            let raw = RawValue::from_string(event(shape, method, path, Some(authorization))).expect("json");
            let service = service.clone();
            async move {
                let answer = service
                    .oneshot(LambdaEvent::new(RawEvent(raw), lambda_runtime::Context::default()))
                    .await
                    .unwrap_or_else(|e| panic!("{shape:?}: an HTTP trigger is answered, not failed: {e:?}"));
                serde_json::from_str::<Value>(answer.get()).expect("a JSON response")
            }
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
        let reader = bearer_at("orders:read", now);
        let mut wrong = Vec::new();
        for shape in SHAPES {
            for attack in corpus() {
                let before = calls.load(Ordering::SeqCst);
                let response = call(shape, &attack.method, &attack.path, &reader).await;
                let status = response["statusCode"].as_u64();
                let body: Value =
                    response["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
                let expected = match attack.expect {
                    Expect::Rule => (403, "insufficient_scope"),
                    Expect::Unsafe | Expect::Unreadable => (400, "unsafe_path"),
                };
                let called = calls.load(Ordering::SeqCst) != before;
                if called || status != Some(expected.0) || body["reason"] != expected.1 {
                    wrong.push(format!(
                        "{name} {shape:?} {} {}: handler called {called}, {response}",
                        attack.method, attack.path
                    ));
                }
                if expected.0 == 400 {
                    let message = body["message"].as_str().unwrap_or_default();
                    assert!(message.starts_with("bad request: "), "{name} {shape:?} {}: {response}", attack.path);
                }
            }
            // The control: the handler runs for the unguarded path.
            let before = calls.load(Ordering::SeqCst);
            let public = call(shape, "GET", "/public/x", &reader).await;
            assert_eq!(public["statusCode"], 200, "{name} {shape:?}: {public}");
            let reached = public["body"].as_str().unwrap_or_default();
            assert!(
                reached.starts_with("handler reached /") && reached.ends_with("/public/x"),
                "{name} {shape:?}: {public}"
            );
            assert_eq!(calls.load(Ordering::SeqCst), before + 1, "{name} {shape:?}");
            let admin = call(shape, "GET", "/admin/x", &bearer_at("admin", now)).await;
            assert_eq!(admin["statusCode"], 200, "{name} {shape:?}: {admin}");
        }
        assert!(wrong.is_empty(), "{} attacks went wrong through the layer:\n{}", wrong.len(), wrong.join("\n"));
    }
}

#[tokio::test]
async fn spellings_of_one_path_share_one_route_keyed_bucket() {
    let spellings = one_bucket();
    assert!(spellings.len() >= 5, "{spellings:?}");
    let settings = [("INTERCEPT_RATE_LIMIT", "1/m"), ("INTERCEPT_RATE_LIMIT_KEY", "route")];
    // No route template: `$default`, a function URL, an ALB.
    for shape in [Shape::HttpApi, Shape::FunctionUrl, Shape::Alb] {
        // Whichever spelling comes first takes the one request; every other is then refused.
        for first in &spellings {
            let interceptor = interceptor(&settings);
            let admitted = interceptor.admit_at(&invocation(shape, "GET", first, None), NOW).await;
            assert!(admitted.is_ok(), "{shape:?} first {first}: {}", outcome(&admitted));
            for other in &spellings {
                let invocation = invocation(shape, "GET", other, None);
                let limited = interceptor.admit_at(&invocation, NOW + Duration::from_millis(10)).await;
                assert!(
                    matches!(limited, Err(Rejection::RateLimited { .. })),
                    "{shape:?}: after {first}, {other} (canonical {:?}) was {}",
                    invocation.canonical_path(),
                    outcome(&limited)
                );
            }
            // Another path has a bucket of its own.
            let other = interceptor.admit_at(&invocation(shape, "GET", "/orders/2", None), NOW).await;
            assert!(other.is_ok(), "{shape:?} /orders/2: {}", outcome(&other));
        }
    }
}

/// The short form (`INTERCEPT_JWT_REQUIRED_SCOPES`) and the equivalent policy file decide every
/// spelling of the corpus, in every shape, the same way for every token: what must hold before
/// the short form is resolved as the policy's routes (issue 22), and while it is not.
#[tokio::test]
async fn the_short_form_and_the_equivalent_policy_file_decide_every_spelling_alike() {
    let short = interceptor(&scope_rules(&[]));
    let file = interceptor(&policy_rules(&[]));
    let tokens = [None, Some(bearer("orders:read")), Some(bearer("admin")), Some(bearer("orders:write"))];
    let (mut compared, mut differ) = (0, Vec::new());
    for shape in SHAPES {
        for attack in corpus() {
            for method in [attack.method.as_str(), "GET", "HEAD", "POST", "DELETE"] {
                for token in &tokens {
                    let request = invocation(shape, method, &attack.path, token.as_deref());
                    let (a, b) = (short.admit_at(&request, NOW).await, file.admit_at(&request, NOW).await);
                    if outcome(&a) != outcome(&b) {
                        differ.push(format!(
                            "{shape:?} {method} {}: {} against {}",
                            attack.path,
                            outcome(&a),
                            outcome(&b)
                        ));
                    }
                    compared += 1;
                }
            }
        }
    }
    // Behind a custom domain's base path the canonical path meets no rule; the path the API
    // matched against its template does (both forms match it by the one route matcher).
    for (resource, path, parameters) in [
        ("/admin/{proxy+}", "/v1/admin/x", json!({ "proxy": "x" })),
        ("/orders", "/v1/orders", Value::Null),
        ("/{proxy+}", "/v1/admin", json!({ "proxy": "admin" })),
    ] {
        for token in &tokens {
            for method in ["GET", "POST", "DELETE"] {
                let mut headers = json!({ "x-forwarded-for": "203.0.113.9" });
                if let Some(token) = token {
                    headers["authorization"] = token.as_str().into();
                }
                let event = json!({
                    "resource": resource, "path": path, "httpMethod": method, "headers": headers,
                    "pathParameters": parameters,
                    "requestContext": { "resourcePath": resource, "httpMethod": method, "path": path, "stage": "prod",
                        "domainName": "api.example.com", "identity": { "sourceIp": "203.0.113.9" } },
                    "isBase64Encoded": false,
                });
                let request = Invocation::from_raw(&RawValue::from_string(event.to_string()).expect("json"));
                let (a, b) = (short.admit_at(&request, NOW).await, file.admit_at(&request, NOW).await);
                if resource != "/orders" && token.is_some() && token != &tokens[2] {
                    assert_eq!(
                        outcome(&a),
                        "403 insufficient_scope",
                        "{method} {path}: the base path escaped the rule"
                    );
                }
                if outcome(&a) != outcome(&b) {
                    differ.push(format!(
                        "custom domain {method} {path} ({resource}): {} against {}",
                        outcome(&a),
                        outcome(&b)
                    ));
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 1000, "too few requests compared: {compared}");
    assert!(
        differ.is_empty(),
        "{} of {compared} decisions differ (short form against file):\n{}",
        differ.len(),
        differ.join("\n")
    );
}
