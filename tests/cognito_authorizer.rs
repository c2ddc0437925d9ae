//! start-api enforces a REST API's Cognito user pool authorizer with Intercept's JWT check: keys
//! from the pool's issuer (a real local OIDC endpoint stands in for Cognito here), an ID token
//! for routes without scopes, an access token holding one of the route's scopes otherwise, and
//! the claims in `requestContext.authorizer.claims` as API Gateway puts them.

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use intercept_sam::api::{AuthorizerOptions, Gateway};
use intercept_sam::{prepare, serve_api};
use intercept_tests::workspace;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const POOL: &str = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Local";

fn signing_key() -> EncodingKey {
    let pem = std::fs::read(workspace().join("wrapper/tests/vectors/rsa_private.pem")).expect("test key");
    EncodingKey::from_rsa_pem(&pem).expect("rsa key")
}

/// A local stand-in for the user pool's issuer: discovery document and JWKS.
async fn issuer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}/us-east-1_Local", listener.local_addr().expect("addr"));
    let mut jwk = Jwk::from_encoding_key(&signing_key(), Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some("k1".to_owned());
    let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("jwks json");
    let discovery = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/.well-known/jwks.json") });
    let app = axum::Router::new()
        .route("/us-east-1_Local/.well-known/openid-configuration", get(move || async move { axum::Json(discovery) }))
        .route("/us-east-1_Local/.well-known/jwks.json", get(move || async move { axum::Json(jwks) }));
    tokio::spawn(axum::serve(listener, app).into_future());
    issuer
}

fn sign(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".to_owned());
    jsonwebtoken::encode(&header, claims, &signing_key()).expect("sign")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// An ID token as Cognito issues it (`aud` is the app client).
fn id_token(issuer: &str, exp: u64) -> String {
    sign(&json!({ "sub": "alice", "iss": issuer, "aud": "app-client", "token_use": "id",
        "email": "alice@example.com", "email_verified": true, "exp": exp, "iat": now() }))
}

/// An access token as Cognito issues it (`client_id`, no `aud`).
fn access_token(issuer: &str, scope: &str) -> String {
    sign(&json!({ "sub": "alice", "iss": issuer, "client_id": "app-client", "token_use": "access",
        "scope": scope, "exp": now() + 300, "iat": now() }))
}

#[tokio::test(flavor = "multi_thread")]
async fn cognito_authorizer_guards_rest_routes() {
    let issuer = issuer().await;
    let options = intercept_tests::dev_options("tests/fixtures/authorizers/cognito.yaml");
    let (template, pools) = prepare(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let authorizers = AuthorizerOptions::default().with_cognito_issuer(POOL, &issuer);
    let gateway = Gateway::connect_with(&template, pools.clone(), &authorizers).await.unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_api(listener, Arc::new(gateway), pools, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let get = |path: &str, authorization: Option<String>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send()
    };
    let unauthorized = json!({"message": "Unauthorized"});

    let missing = get("/profile", None).await.expect("answers");
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.json::<Value>().await.expect("json"), unauthorized);
    let forged = get("/profile", Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.".to_owned())).await.expect("answers");
    assert_eq!(forged.status(), 401);
    let expired = get("/profile", Some(id_token(&issuer, now() - 600))).await.expect("answers");
    assert_eq!(expired.status(), 401);

    for authorization in [id_token(&issuer, now() + 300), format!("Bearer {}", id_token(&issuer, now() + 300))] {
        let allowed = get("/profile", Some(authorization)).await.expect("answers");
        assert_eq!(allowed.status(), 200);
        let event: Value = allowed.json().await.expect("json");
        let claims = &event["requestContext"]["authorizer"]["claims"];
        assert_eq!(claims["email"], "alice@example.com", "{event}");
        assert_eq!(claims["email_verified"], "true", "claims arrive as strings");
        assert_eq!(claims["token_use"], "id");
    }
    let access_on_profile = get("/profile", Some(access_token(&issuer, "orders/read"))).await.expect("answers");
    assert_eq!(access_on_profile.status(), 401, "a route without scopes takes ID tokens");

    let id_on_orders = get("/orders", Some(id_token(&issuer, now() + 300))).await.expect("answers");
    assert_eq!(id_on_orders.status(), 401, "a route with scopes takes access tokens");
    let wrong_scope = get("/orders", Some(access_token(&issuer, "profile"))).await.expect("answers");
    assert_eq!(wrong_scope.status(), 401);
    let scoped = get("/orders", Some(access_token(&issuer, "profile orders/read"))).await.expect("answers");
    assert_eq!(scoped.status(), 200);
    let event: Value = scoped.json().await.expect("json");
    assert_eq!(event["requestContext"]["authorizer"]["claims"]["client_id"], "app-client", "{event}");
    assert_eq!(event["requestContext"]["authorizer"]["scopes"], json!(["profile", "orders/read"]));

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
