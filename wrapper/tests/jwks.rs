//! Keys from a real local JWKS server (axum on 127.0.0.1:0) that the tests rotate, slow down
//! and take down: cached, refetched on an unknown `kid` once per cooldown, stale-if-error.

mod auth_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_support::{bearer, config, sign, vectors, wall_now};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use intercept::{AuthError, Interceptor, Rejection};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

#[derive(Default)]
struct Idp {
    jwks: Mutex<Value>,
    cache_control: Mutex<Option<String>>,
    delay: Mutex<Duration>,
    down: Mutex<bool>,
    fetches: AtomicUsize,
    base: Mutex<String>,
}

struct Server {
    idp: Arc<Idp>,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks(State(idp): State<Arc<Idp>>) -> (StatusCode, HeaderMap, String) {
    idp.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *idp.delay.lock().expect("lock");
    tokio::time::sleep(delay).await;
    let mut headers = HeaderMap::new();
    if *idp.down.lock().expect("lock") {
        return (StatusCode::SERVICE_UNAVAILABLE, headers, String::new());
    }
    if let Some(value) = idp.cache_control.lock().expect("lock").clone() {
        headers.insert(header::CACHE_CONTROL, value.parse().expect("header"));
    }
    (StatusCode::OK, headers, idp.jwks.lock().expect("lock").to_string())
}

async fn discovery(State(idp): State<Arc<Idp>>) -> String {
    let base = idp.base.lock().expect("lock").clone();
    json!({"issuer": base, "jwks_uri": format!("{base}/keys")}).to_string()
}

async fn serve(jwks_doc: Value) -> Server {
    let idp = Arc::new(Idp::default());
    *idp.jwks.lock().expect("lock") = jwks_doc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    *idp.base.lock().expect("lock") = base.clone();
    let app = axum::Router::new()
        .route("/keys", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(idp.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { idp, base, task }
}

fn token(alg: Algorithm, kid: &str, key: &str, now: Duration) -> String {
    sign(alg, Some(kid), key, &json!({"sub": kid, "exp": now.as_secs() + 7200}))
}

async fn connect(pairs: &[(&str, &str)]) -> Interceptor {
    Interceptor::connect(&config(pairs)).await.expect("keys fetched at init")
}

#[tokio::test]
async fn keys_are_cached_and_an_unknown_kid_refetches_once_per_cooldown() {
    let server = serve(vectors()["jwks"].clone()).await;
    let url = format!("{}/keys", server.base);
    let interceptor = connect(&[
        ("INTERCEPT_AUTH", "jwt"),
        ("INTERCEPT_JWKS_URL", &url),
        ("INTERCEPT_JWT_ALGORITHMS", "RS256,ES256,ES384,EdDSA"),
        ("INTERCEPT_JWKS_COOLDOWN_SECONDS", "30"),
    ])
    .await;
    let now = wall_now();
    for (alg, kid, key) in [
        (Algorithm::RS256, "rsa", "rsa_private"),
        (Algorithm::ES256, "ec256", "ec256_private"),
        (Algorithm::ES384, "ec384", "ec384_private"),
        (Algorithm::EdDSA, "ed25519", "ed25519_private"),
    ] {
        for _ in 0..5 {
            let admitted = interceptor.admit_at(&bearer(&token(alg, kid, key, now)), now).await;
            assert_eq!(admitted.expect("admitted").principal.expect("principal").subject, kid);
        }
    }
    // A key of the wrong type under a known kid is refused.
    let swapped = token(Algorithm::ES256, "rsa", "ec256_private", now);
    assert!(interceptor.admit_at(&bearer(&swapped), now).await.is_err());
    assert_eq!(server.idp.fetches.load(Ordering::SeqCst), 1, "one fetch at init, none per request");

    // The IdP rotates: rsa is gone, rsa2 is new. The first token naming rsa2 refetches.
    *server.idp.jwks.lock().expect("lock") = vectors()["jwks_rotated"].clone();
    let rotated = token(Algorithm::RS256, "rsa2", "rsa2_private", now);
    assert!(interceptor.admit_at(&bearer(&rotated), now).await.is_ok());
    assert_eq!(server.idp.fetches.load(Ordering::SeqCst), 2);
    let retired = token(Algorithm::RS256, "rsa", "rsa_private", now);
    assert_eq!(interceptor.admit_at(&bearer(&retired), now).await, Err(Rejection::Unauthorized(AuthError::UnknownKey)));
    // A flood of junk kids within the cooldown causes no fetch at all.
    for n in 0..200 {
        let junk = token(Algorithm::RS256, &format!("junk-{n}"), "rsa2_private", now);
        assert_eq!(
            interceptor.admit_at(&bearer(&junk), now).await,
            Err(Rejection::Unauthorized(AuthError::UnknownKey))
        );
    }
    assert_eq!(server.idp.fetches.load(Ordering::SeqCst), 2);
    let after = now + Duration::from_secs(31);
    let junk = token(Algorithm::RS256, "junk-after", "rsa2_private", now);
    assert!(interceptor.admit_at(&bearer(&junk), after).await.is_err());
    assert_eq!(server.idp.fetches.load(Ordering::SeqCst), 3, "one refetch per cooldown");
}

#[tokio::test]
async fn cache_control_sets_the_lifetime_and_an_outage_is_ridden_out() {
    let server = serve(vectors()["jwks"].clone()).await;
    *server.idp.cache_control.lock().expect("lock") = Some("public, max-age=100".into());
    let url = format!("{}/keys", server.base);
    let interceptor = connect(&[
        ("INTERCEPT_AUTH", "jwt"),
        ("INTERCEPT_JWKS_URL", &url),
        ("INTERCEPT_JWKS_STALE_IF_ERROR_SECONDS", "600"),
        ("INTERCEPT_JWKS_TIMEOUT_MS", "300"),
        ("INTERCEPT_JWT_KEYS_TTL_SECONDS", "5000"),
        ("INTERCEPT_JWT_CACHE_SIZE", "0"),
    ])
    .await;
    let now = wall_now();
    let rsa = token(Algorithm::RS256, "rsa", "rsa_private", now);
    assert!(interceptor.admit_at(&bearer(&rsa), now + Duration::from_secs(79)).await.is_ok());
    assert_eq!(server.idp.fetches.load(Ordering::SeqCst), 1, "max-age=100, not the 5000 s TTL");
    assert!(interceptor.admit_at(&bearer(&rsa), now + Duration::from_secs(81)).await.is_ok());
    for _ in 0..100 {
        if server.idp.fetches.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.idp.fetches.load(Ordering::SeqCst), 2, "refreshed in the background before expiry");

    // Slow and then down: the refreshes time out or fail, the cached keys keep serving.
    *server.idp.delay.lock().expect("lock") = Duration::from_secs(3);
    let stale = now + Duration::from_secs(81 + 150);
    assert!(interceptor.admit_at(&bearer(&rsa), stale).await.is_ok(), "slow IdP, stale keys");
    *server.idp.delay.lock().expect("lock") = Duration::ZERO;
    *server.idp.down.lock().expect("lock") = true;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(interceptor.admit_at(&bearer(&rsa), stale).await.is_ok(), "IdP down, stale keys");
    let too_stale = now + Duration::from_secs(81 + 100 + 601);
    assert_eq!(
        interceptor.admit_at(&bearer(&rsa), too_stale).await,
        Err(Rejection::Unauthorized(AuthError::KeysUnavailable))
    );
    // Back up: the next request past the cooldown fetches again and verifies.
    *server.idp.down.lock().expect("lock") = false;
    let recovered = too_stale + Duration::from_secs(31);
    assert!(interceptor.admit_at(&bearer(&rsa), recovered).await.is_ok());
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_and_sets_the_issuer() {
    let server = serve(vectors()["jwks"].clone()).await;
    let interceptor = connect(&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_OIDC_ISSUER", &server.base)]).await;
    let now = wall_now();
    let claims = |iss: &str| json!({"sub": "oidc", "iss": iss, "exp": now.as_secs() + 60});
    let good = sign(Algorithm::RS256, Some("rsa"), "rsa_private", &claims(&server.base));
    assert!(interceptor.admit_at(&bearer(&good), now).await.is_ok());
    let other = sign(Algorithm::RS256, Some("rsa"), "rsa_private", &claims("https://elsewhere"));
    assert_eq!(interceptor.admit_at(&bearer(&other), now).await, Err(Rejection::Unauthorized(AuthError::WrongIssuer)));
}

#[tokio::test]
async fn an_unreachable_jwks_fails_init_naming_the_setting() {
    let server = serve(json!({"keys": []})).await;
    let url = format!("{}/keys", server.base);
    let error = Interceptor::connect(&config(&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWKS_URL", &url)]))
        .await
        .expect_err("no usable keys");
    assert!(error.to_string().starts_with("INTERCEPT_JWKS_URL: cannot load the signing keys"), "{error}");
}
