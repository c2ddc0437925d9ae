//! Keys from a real Secrets Manager API (moto's server) through aws-sdk-secretsmanager:
//! fetched at init, refreshed in the background, overlap after rotation, outage, API keys.

mod auth_support;

use std::time::Duration;

use auth_support::{Moto, bearer, config_with, event, sign, wall_now};
use intercept::{AuthError, Interceptor, Rejection};
use jsonwebtoken::Algorithm;
use serde_json::json;

fn token(secret: &str, subject: &str, now: Duration) -> String {
    let claims = json!({"sub": subject, "exp": now.as_secs() + 3600});
    sign(Algorithm::HS256, None, &format!("hmac:{secret}"), &claims)
}

/// Admits at `now` until `check` passes, letting a background refresh finish (bounded).
async fn eventually(interceptor: &Interceptor, token: &str, now: Duration, expected_ok: bool) {
    for _ in 0..100 {
        if interceptor.admit_at(&bearer(token), now).await.is_ok() == expected_ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the background refresh did not change the outcome within 5 s");
}

#[tokio::test]
async fn rotation_keeps_both_versions_during_the_overlap_then_only_the_current() {
    let moto = Moto::start().await;
    let client = moto.client();
    client.create_secret().name("jwt-key").secret_string("secret-one-of-decent-length!!").send().await.expect("create");
    let config = config_with(
        &moto.settings(),
        &[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET_ID", "jwt-key"),
            ("INTERCEPT_JWT_KEYS_TTL_SECONDS", "60"),
            ("INTERCEPT_JWT_SECRET_OVERLAP_SECONDS", "300"),
            ("INTERCEPT_JWKS_STALE_IF_ERROR_SECONDS", "120"),
            ("INTERCEPT_JWT_CACHE_SIZE", "0"),
        ],
    );
    let interceptor = Interceptor::connect(&config).await.expect("keys fetched at init");
    let start = wall_now();
    let old = token("secret-one-of-decent-length!!", "old", start);
    assert!(interceptor.admit_at(&bearer(&old), start).await.is_ok());

    client
        .put_secret_value()
        .secret_id("jwt-key")
        .secret_string("secret-two-of-decent-length!!")
        .send()
        .await
        .expect("rotate");
    let new = token("secret-two-of-decent-length!!", "new", start);
    // Cached keys serve until the refresh point (80% of the TTL): nothing is fetched per request.
    assert_eq!(
        interceptor.admit_at(&bearer(&new), start + Duration::from_secs(10)).await,
        Err(Rejection::Unauthorized(AuthError::BadSignature))
    );
    // Past the refresh point a background refresh picks up the rotation...
    eventually(&interceptor, &new, start + Duration::from_secs(50), true).await;
    // ...and the previous version still verifies during the overlap, but not after it.
    let later = start + Duration::from_secs(50);
    assert!(interceptor.admit_at(&bearer(&old), later).await.is_ok(), "previous version in overlap");
    let after_overlap = start + Duration::from_secs(330);
    assert_eq!(
        interceptor.admit_at(&bearer(&old), after_overlap).await,
        Err(Rejection::Unauthorized(AuthError::BadSignature))
    );

    // An outage: deleted secret. The cached keys keep working through the stale-if-error
    // window, then requests are refused as keys unavailable.
    client.delete_secret().secret_id("jwt-key").force_delete_without_recovery(true).send().await.expect("delete");
    let fresh = token("secret-two-of-decent-length!!", "new", after_overlap);
    assert!(interceptor.admit_at(&bearer(&fresh), after_overlap).await.is_ok());
    let expired_keys = after_overlap + Duration::from_secs(90);
    assert!(interceptor.admit_at(&bearer(&fresh), expired_keys).await.is_ok(), "stale keys serve");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(interceptor.admit_at(&bearer(&fresh), expired_keys).await.is_ok(), "a failed refresh keeps them");
    let beyond = after_overlap + Duration::from_secs(60 + 121);
    assert_eq!(
        interceptor.admit_at(&bearer(&fresh), beyond).await,
        Err(Rejection::Unauthorized(AuthError::KeysUnavailable))
    );
    // The secret is back with a new value: after all those failed refreshes a background one
    // still runs and brings it in (the refetch on the request path is within its cooldown, so
    // only the background refresh can), and the new value is what verifies.
    client
        .create_secret()
        .name("jwt-key")
        .secret_string("secret-three-of-decent-length!!")
        .send()
        .await
        .expect("re-create");
    let third = token("secret-three-of-decent-length!!", "third", beyond);
    eventually(&interceptor, &third, beyond, true).await;
    assert_eq!(
        interceptor.admit_at(&bearer(&fresh), beyond).await,
        Err(Rejection::Unauthorized(AuthError::BadSignature)),
        "the deleted value no longer verifies"
    );
}

/// A key that cannot be used stops init naming the setting and why; once the secret is
/// rotated to a good key, the bad one left as AWSPREVIOUS is dropped, not fatal.
#[tokio::test]
async fn an_unusable_key_is_named_and_an_unusable_previous_version_dropped() {
    let moto = Moto::start().await;
    let client = moto.client();
    let weak = include_str!("vectors/rsa1024_public.pem");
    client.create_secret().name("rsa-key").secret_string(weak).send().await.expect("create");
    let config = config_with(
        &moto.settings(),
        &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET_ID", "rsa-key"), ("INTERCEPT_JWT_ALGORITHMS", "RS256")],
    );
    let error = Interceptor::connect(&config).await.expect_err("a 1024-bit key");
    let text = error.to_string();
    assert!(text.starts_with("INTERCEPT_JWT_SECRET_ID: cannot load the signing keys"), "{text}");
    assert!(text.contains("1024 bits"), "{text}");

    let good = include_str!("vectors/rsa_public.pem");
    client.put_secret_value().secret_id("rsa-key").secret_string(good).send().await.expect("rotate");
    let interceptor = Interceptor::connect(&config).await.expect("the current version is usable");
    let claims = json!({"sub": "alice", "exp": wall_now().as_secs() + 3600});
    let signed = sign(Algorithm::RS256, None, "rsa_private", &claims);
    assert!(interceptor.admit_at(&bearer(&signed), wall_now()).await.is_ok());
}

#[tokio::test]
async fn a_missing_secret_fails_init_naming_the_setting() {
    let moto = Moto::start().await;
    let config = config_with(&moto.settings(), &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET_ID", "absent")]);
    let error = Interceptor::connect(&config).await.expect_err("no such secret");
    let text = error.to_string();
    assert!(text.starts_with("INTERCEPT_JWT_SECRET_ID: cannot load the signing keys"), "{text}");
    assert!(text.contains("ResourceNotFoundException"), "{text}");
}

#[tokio::test]
async fn api_keys_from_a_secret_name_their_principals() {
    let moto = Moto::start().await;
    let digest = "sha256:4c1a7dbc3e9c1d1b7f6e3d5f3a8a46ff5b31f8e1e27cd49fd0bd2a0f6a4b3f0e";
    let keys = json!({"ci": "key-from-secrets-manager", "partner": digest}).to_string();
    moto.client().create_secret().name("api-keys").secret_string(keys).send().await.expect("create");
    let config = config_with(
        &moto.settings(),
        &[
            ("INTERCEPT_AUTH", "api-key"),
            ("INTERCEPT_API_KEYS_SECRET_ID", "api-keys"),
            ("INTERCEPT_API_KEY_HEADER", "x-key"),
        ],
    );
    let interceptor = Interceptor::connect(&config).await.expect("keys fetched at init");
    let now = wall_now();
    let admitted = interceptor.admit_at(&event("GET", "/", &[("x-key", "key-from-secrets-manager")]), now).await;
    assert_eq!(admitted.expect("admitted").principal.expect("principal").subject, "ci");
    assert_eq!(
        interceptor.admit_at(&event("GET", "/", &[("x-key", "guess")]), now).await,
        Err(Rejection::Unauthorized(AuthError::InvalidApiKey))
    );
}
