//! start-api enforces an HTTP API's JWT authorizer with Intercept's JWT check: keys from the
//! issuer's discovery document (a real local OIDC endpoint here), audience, route scopes, and
//! the claims in `requestContext.authorizer.jwt` as API Gateway puts them (directly under
//! `authorizer` for a route of payload format 1.0).

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use intercept_sam::api::Gateway;
use intercept_sam::{prepare, serve_api};
use intercept_tests::workspace;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn signing_key() -> EncodingKey {
    let pem = std::fs::read(workspace().join("wrapper/tests/vectors/rsa_private.pem")).expect("test key");
    EncodingKey::from_rsa_pem(&pem).expect("rsa key")
}

/// A local OIDC issuer: discovery document and JWKS.
async fn issuer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}/issuer", listener.local_addr().expect("addr"));
    let mut jwk = Jwk::from_encoding_key(&signing_key(), Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some("k1".to_owned());
    let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("jwks json");
    let discovery = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") });
    let app = axum::Router::new()
        .route("/issuer/.well-known/openid-configuration", get(move || async move { axum::Json(discovery) }))
        .route("/issuer/jwks", get(move || async move { axum::Json(jwks) }));
    tokio::spawn(axum::serve(listener, app).into_future());
    issuer
}

fn token(issuer: &str, audience: &str, scope: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".to_owned());
    let claims =
        json!({ "sub": "alice", "iss": issuer, "aud": audience, "exp": now + 300, "iat": now, "scope": scope });
    jsonwebtoken::encode(&header, &claims, &signing_key()).expect("sign")
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_authorizer_guards_routes_and_passes_claims() {
    let issuer = issuer().await;
    let mut options = intercept_tests::dev_options("tests/fixtures/api/template.yaml");
    options.parameter_overrides = vec![("Issuer".to_owned(), issuer.clone())];
    let (template, pools) = prepare(&options).await.unwrap_or_else(|e| panic!("{e}"));
    let gateway = Arc::new(Gateway::connect(&template, pools.clone()).await.unwrap_or_else(|e| panic!("{e}")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_api(listener, gateway, pools, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<String>| {
        let mut request = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send()
    };

    let missing = get("/secure/1", None).await.expect("answers");
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");

    let forged = get("/secure/1", Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.".to_owned())).await.expect("answers");
    assert_eq!(forged.status(), 401);
    assert!(forged.headers()["www-authenticate"].to_str().expect("ascii").contains("invalid_token"));

    let wrong_audience = get("/secure/1", Some(token(&issuer, "someone-else", "orders/read"))).await.expect("answers");
    assert_eq!(wrong_audience.status(), 401);

    let no_scope = get("/secure/1", Some(token(&issuer, "orders-api", "profile"))).await.expect("answers");
    assert_eq!(no_scope.status(), 403);
    assert!(no_scope.headers()["www-authenticate"].to_str().expect("ascii").contains("insufficient_scope"));

    let allowed = get("/secure/1", Some(token(&issuer, "orders-api", "orders/read profile"))).await.expect("answers");
    assert_eq!(allowed.status(), 201);
    let event: Value = allowed.json().await.expect("json");
    let jwt = &event["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "alice", "{event}");
    assert_eq!(jwt["claims"]["aud"], "orders-api");
    assert_eq!(jwt["scopes"], json!(["orders/read", "profile"]));

    // A route of PayloadFormatVersion 1.0: claims and scopes directly under `authorizer`.
    let v1 = get("/secure-v1/1", Some(token(&issuer, "orders-api", "orders/read"))).await.expect("answers");
    assert_eq!(v1.status(), 201);
    let event: Value = v1.json().await.expect("json");
    let authorizer = &event["requestContext"]["authorizer"];
    assert_eq!(authorizer["claims"]["sub"], "alice", "{event}");
    assert_eq!(authorizer["scopes"], json!(["orders/read"]));
    assert!(authorizer.get("jwt").is_none(), "{event}");
    assert_eq!(get("/secure-v1/1", None).await.expect("answers").status(), 401);

    let open = get("/open", None).await.expect("answers");
    assert_eq!(open.status(), 201, "Authorizer: NONE opens the route");
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
