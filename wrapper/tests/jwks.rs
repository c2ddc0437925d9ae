//! Keys from a real local JWKS server (axum on 127.0.0.1:0) that the tests rotate, slow down
//! and take down: cached, refetched on an unknown `kid` once per cooldown, stale-if-error.

mod auth_support;

use std::time::Duration;

use auth_support::idp::serve;
use auth_support::{bearer, config, sign, vectors, wall_now};
use intercept::auth::AuthError;
use intercept::{Config, Interceptor, Rejection};
use jsonwebtoken::Algorithm;
use serde_json::json;

/// The audience every test's JWKS source is configured with (a shared IdP needs one).
const AUDIENCE: &str = "intercept";

fn token(alg: Algorithm, kid: &str, key: &str, now: Duration) -> String {
    sign(alg, Some(kid), key, &json!({"sub": kid, "aud": AUDIENCE, "exp": now.as_secs() + 7200}))
}

/// An interceptor whose keys were fetched at init, accepting tokens for [`AUDIENCE`].
async fn connect(pairs: &[(&str, &str)]) -> Interceptor {
    let mut all = vec![("INTERCEPT_JWT_AUDIENCE", AUDIENCE)];
    all.extend_from_slice(pairs);
    Interceptor::connect(&config(&all)).await.expect("keys fetched at init")
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
    assert_eq!(server.idp.fetches(), 1, "one fetch at init, none per request");

    // The IdP rotates: rsa is gone, rsa2 is new. The first token naming rsa2 refetches.
    *server.idp.jwks.lock().expect("lock") = vectors()["jwks_rotated"].clone();
    let rotated = token(Algorithm::RS256, "rsa2", "rsa2_private", now);
    assert!(interceptor.admit_at(&bearer(&rotated), now).await.is_ok());
    assert_eq!(server.idp.fetches(), 2);
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
    assert_eq!(server.idp.fetches(), 2);
    let after = now + Duration::from_secs(31);
    let junk = token(Algorithm::RS256, "junk-after", "rsa2_private", now);
    assert!(interceptor.admit_at(&bearer(&junk), after).await.is_err());
    assert_eq!(server.idp.fetches(), 3, "one refetch per cooldown");
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
    assert_eq!(server.idp.fetches(), 1, "max-age=100, not the 5000 s TTL");
    assert!(interceptor.admit_at(&bearer(&rsa), now + Duration::from_secs(81)).await.is_ok());
    for _ in 0..100 {
        if server.idp.fetches() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.idp.fetches(), 2, "refreshed in the background before expiry");

    // Slow and then down: the refreshes time out or fail, the cached keys keep serving, and
    // no failure stops the next refresh from starting.
    *server.idp.delay.lock().expect("lock") = Duration::from_secs(3);
    let stale = now + Duration::from_secs(81 + 150);
    assert!(interceptor.admit_at(&bearer(&rsa), stale).await.is_ok(), "slow IdP, stale keys");
    server.idp.await_fetches(3, "a background refresh of the stale keys").await;
    *server.idp.delay.lock().expect("lock") = Duration::ZERO;
    *server.idp.down.lock().expect("lock") = true;
    tokio::time::sleep(Duration::from_millis(400)).await;
    for expected in [4, 5] {
        for _ in 0..250 {
            assert!(interceptor.admit_at(&bearer(&rsa), stale).await.is_ok(), "IdP down, stale keys");
            if server.idp.fetches() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.idp.fetches(), expected, "a refresh after the timed-out or failed one");
    }
    let too_stale = now + Duration::from_secs(81 + 100 + 601);
    assert_eq!(
        interceptor.admit_at(&bearer(&rsa), too_stale).await,
        Err(Rejection::Unauthorized(AuthError::KeysUnavailable))
    );
    // Back up, with rotated keys: the next request past the cooldown fetches again, and
    // verifies with the new key set, not the old one.
    *server.idp.jwks.lock().expect("lock") = vectors()["jwks_rotated"].clone();
    *server.idp.down.lock().expect("lock") = false;
    let fetched = server.idp.fetches();
    let recovered = too_stale + Duration::from_secs(31);
    let rotated = token(Algorithm::RS256, "rsa2", "rsa2_private", now);
    assert!(interceptor.admit_at(&bearer(&rotated), recovered).await.is_ok(), "the new key verifies");
    assert!(server.idp.fetches() > fetched, "fetched again");
    assert_eq!(
        interceptor.admit_at(&bearer(&rsa), recovered).await,
        Err(Rejection::Unauthorized(AuthError::UnknownKey)),
        "the withdrawn key no longer verifies"
    );
}

/// A `Cache-Control: max-age` past what a `u64` or a `Duration` holds neither panics at init
/// nor per request: it is capped (at 24 h), so the keys are refreshed within a day.
#[tokio::test]
async fn an_enormous_max_age_is_capped_at_a_day() {
    for max_age in ["18446744073709551615", "99999999999999999999"] {
        let server = serve(vectors()["jwks"].clone()).await;
        *server.idp.cache_control.lock().expect("lock") = Some(format!("public, max-age={max_age}"));
        let url = format!("{}/keys", server.base);
        let interceptor = connect(&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWKS_URL", &url)]).await;
        let now = wall_now();
        let day = 24 * 60 * 60;
        let claims = json!({"sub": "rsa", "aud": AUDIENCE, "exp": now.as_secs() + 2 * day});
        let rsa = sign(Algorithm::RS256, Some("rsa"), "rsa_private", &claims);
        for later in [0, 60, day * 4 / 5 - 1] {
            assert!(interceptor.admit_at(&bearer(&rsa), now + Duration::from_secs(later)).await.is_ok(), "{max_age}");
        }
        assert_eq!(server.idp.fetches(), 1, "{max_age}: within 80% of a day, no refresh");
        // Past 80% of the day the keys are refreshed, as with any lifetime.
        let near_expiry = now + Duration::from_secs(day * 4 / 5 + 1);
        assert!(interceptor.admit_at(&bearer(&rsa), near_expiry).await.is_ok(), "{max_age}");
        server.idp.await_fetches(2, "a refresh within the capped day").await;
        let junk = token(Algorithm::RS256, "junk", "rsa_private", now);
        let far = now + Duration::from_secs(u64::from(u32::MAX));
        assert!(interceptor.admit_at(&bearer(&junk), far).await.is_err(), "{max_age}: answered, no panic");
    }
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_and_sets_the_issuer() {
    let server = serve(vectors()["jwks"].clone()).await;
    let interceptor = connect(&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_OIDC_ISSUER", &server.base)]).await;
    let now = wall_now();
    let claims = |iss: &str| json!({"sub": "oidc", "iss": iss, "aud": AUDIENCE, "exp": now.as_secs() + 60});
    let good = sign(Algorithm::RS256, Some("rsa"), "rsa_private", &claims(&server.base));
    assert!(interceptor.admit_at(&bearer(&good), now).await.is_ok());
    let other = sign(Algorithm::RS256, Some("rsa"), "rsa_private", &claims("https://elsewhere"));
    assert_eq!(interceptor.admit_at(&bearer(&other), now).await, Err(Rejection::Unauthorized(AuthError::WrongIssuer)));
}

#[tokio::test]
async fn an_unreachable_jwks_fails_init_naming_the_setting() {
    let server = serve(json!({"keys": []})).await;
    let url = format!("{}/keys", server.base);
    let settings = [("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWKS_URL", &url), ("INTERCEPT_JWT_AUDIENCE", AUDIENCE)];
    let error = Interceptor::connect(&config(&settings)).await.expect_err("no usable keys");
    assert!(error.to_string().starts_with("INTERCEPT_JWKS_URL: cannot load the signing keys"), "{error}");
}

/// A shared IdP signs tokens for other applications with the same keys: a JWKS or OIDC source
/// without an audience stops init, unless `*` says any audience is meant.
#[tokio::test]
async fn a_jwks_source_without_an_audience_stops_init_unless_any_is_explicit() {
    let server = serve(vectors()["jwks"].clone()).await;
    let url = format!("{}/keys", server.base);
    for source in [("INTERCEPT_JWKS_URL", url.as_str()), ("INTERCEPT_JWT_OIDC_ISSUER", server.base.as_str())] {
        let error = Config::from_lookup(|name| match name {
            "INTERCEPT_AUTH" => Some("jwt".to_owned()),
            name if name == source.0 => Some(source.1.to_owned()),
            _ => None,
        })
        .expect_err("no audience");
        let text = error.to_string();
        assert!(text.starts_with("INTERCEPT_JWT_AUDIENCE: is not set"), "{text}");
        assert!(text.contains("other applications"), "{text}");
    }
    assert_eq!(server.idp.fetches(), 0, "refused before any fetch");
    let any = Interceptor::connect(&config(&[
        ("INTERCEPT_AUTH", "jwt"),
        ("INTERCEPT_JWKS_URL", &url),
        ("INTERCEPT_JWT_AUDIENCE", "*"),
    ]))
    .await
    .expect("any audience, deliberately");
    let now = wall_now();
    for aud in [json!("someone-else"), json!(null)] {
        let mut claims = json!({"sub": "anyone", "exp": now.as_secs() + 60});
        if !aud.is_null() {
            claims["aud"] = aud;
        }
        let token = sign(Algorithm::RS256, Some("rsa"), "rsa_private", &claims);
        assert!(any.admit_at(&bearer(&token), now).await.is_ok(), "{claims}");
    }
}
