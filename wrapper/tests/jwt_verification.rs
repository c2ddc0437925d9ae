//! JWT verification through the whole interceptor: interoperability vectors (RFC 7515 and
//! tokens minted by PyJWT and jwcrypto), the bad inputs of issue 5, scopes, API keys, cache.

mod auth_support;

use std::time::Duration;

use auth_support::{NOW, bearer, claims, config, event, pem, sign, vectors};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use intercept::auth::AuthError;
use intercept::{Interceptor, Rejection};
use jsonwebtoken::Algorithm;
use serde_json::json;

const SECRET: &str = "a-test-secret-of-decent-length!!";

fn hs256(pairs: &[(&str, &str)]) -> Interceptor {
    let mut all = vec![("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", SECRET)];
    all.extend_from_slice(pairs);
    Interceptor::new(&config(&all)).expect("builds")
}

async fn reason(interceptor: &Interceptor, token: &str) -> &'static str {
    match interceptor.admit_at(&bearer(token), NOW).await {
        Err(Rejection::Unauthorized(error)) => error.reason(),
        other => panic!("{token:.60}: expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_from_pyjwt_and_jwcrypto_verify() {
    let vectors = vectors();
    let secret = vectors["hmac_secret"].as_str().expect("secret").to_owned();
    for entry in vectors["tokens"].as_array().expect("tokens") {
        let alg = entry["alg"].as_str().expect("alg");
        let key = entry["key"].as_str().expect("key");
        let material = if key == "hmac" { secret.clone() } else { pem(&format!("{key}_public")) };
        let interceptor = Interceptor::new(&config(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWT_SECRET", &material),
            ("INTERCEPT_JWT_ALGORITHMS", alg),
            ("INTERCEPT_JWT_ISSUER", "https://issuer.test"),
            ("INTERCEPT_JWT_AUDIENCE", "intercept"),
        ]))
        .expect("builds");
        let token = entry["token"].as_str().expect("token");
        let admitted = interceptor.admit_at(&bearer(token), NOW).await;
        let principal = admitted.unwrap_or_else(|e| panic!("{alg} by {}: {e:?}", entry["minted_by"])).principal;
        let principal = principal.expect("principal");
        assert_eq!(principal.subject, "interop", "{alg}");
        assert_eq!(principal.scopes, ["read", "write"], "{alg}");
        assert_eq!(principal.claims["aud"], "intercept");
    }
}

#[tokio::test]
async fn rfc_7515_appendix_a1_hs256_verifies_and_a_tampered_copy_does_not() {
    // RFC 7515 A.1: its claims have no `sub`, so a verified signature ends at the claim check.
    let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let interceptor = Interceptor::new(&config(&[
        ("INTERCEPT_AUTH", "jwt"),
        (
            "INTERCEPT_JWT_SECRET",
            "base64:AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
        ),
        ("INTERCEPT_JWT_ISSUER", "joe"),
    ]))
    .expect("builds");
    let then = Duration::from_secs(1_300_819_000);
    assert_eq!(interceptor.admit_at(&bearer(token), then).await, Err(Rejection::Unauthorized(AuthError::Claim("sub"))));
    let tampered = token.replace("dBjftJeZ4CVP", "dBjftJeZ4CVQ");
    assert_eq!(
        interceptor.admit_at(&bearer(&tampered), then).await,
        Err(Rejection::Unauthorized(AuthError::BadSignature))
    );
    assert_eq!(
        interceptor.admit_at(&bearer(token), then + Duration::from_secs(400)).await,
        Err(Rejection::Unauthorized(AuthError::Expired))
    );
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn every_bad_input_is_refused_with_its_reason() {
    let interceptor = hs256(&[("INTERCEPT_JWT_ISSUER", "https://id"), ("INTERCEPT_JWT_AUDIENCE", "api")]);
    let now = NOW.as_secs();
    let good = json!({"sub":"a","iss":"https://id","aud":"api","exp":now+60});
    let with = |key: &str, value: serde_json::Value| {
        let mut claims = good.clone();
        claims[key] = value;
        sign(Algorithm::HS256, None, &format!("hmac:{SECRET}"), &claims)
    };
    let without = |key: &str| {
        let mut claims = good.clone();
        claims.as_object_mut().expect("object").remove(key);
        sign(Algorithm::HS256, None, &format!("hmac:{SECRET}"), &claims)
    };
    let payload = b64(&good.to_string());
    let valid = sign(Algorithm::HS256, None, &format!("hmac:{SECRET}"), &good);
    let parts: Vec<&str> = valid.split('.').collect();
    let with_header = |header: &str| format!("{}.{}.{}", b64(header), parts[1], parts[2]);
    let mut cases: Vec<(String, &str)> = ["none", "None", "NONE", "nOnE", "NoNE"]
        .iter()
        .flat_map(|alg| {
            let header = b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            [
                (format!("{header}.{payload}."), "algorithm_not_accepted"),
                (format!("{header}.{payload}.{}", parts[2]), "algorithm_not_accepted"),
            ]
        })
        .collect();
    cases.extend([
        (with("exp", json!(now - 1)), "expired"),
        (with("nbf", json!(now + 60)), "not_yet_valid"),
        (with("iat", json!(now + 60)), "issued_in_future"),
        (with("iss", json!("https://evil")), "wrong_issuer"),
        (with("aud", json!(["other", "more"])), "wrong_audience"),
        (without("exp"), "invalid_claim"),
        (without("sub"), "invalid_claim"),
        (without("aud"), "invalid_claim"),
        (sign(Algorithm::HS256, None, "hmac:another-secret-entirely-wrong", &good), "bad_signature"),
        (sign(Algorithm::HS512, None, &format!("hmac:{SECRET}"), &good), "algorithm_not_accepted"),
        (sign(Algorithm::RS256, None, "rsa_private", &good), "algorithm_not_accepted"),
        (format!("{}.{}.{}", parts[0], b64(&with_claim(&good, "sub", "admin")), parts[2]), "bad_signature"),
        (with_header(r#"{"alg":"HS256","crit":["exp"]}"#), "unsupported_critical_header"),
        (with_header(r#"{"alg":"HS256","kid":"../../../etc/passwd"}"#), "bad_signature"),
        (with_header(r#"{"alg":"HS256","kid":"' OR '1'='1"}"#), "bad_signature"),
        (valid[..valid.len() - 5].to_owned(), "malformed_token"),
        (format!("{valid}.extra"), "malformed_token"),
        (format!("{}.{}!.{}", parts[0], parts[1], parts[2]), "bad_signature"),
        (format!("{}!.{}.{}", parts[0], parts[1], parts[2]), "malformed_token"),
        (format!("{}.{}.{}", parts[0], b64("not json"), parts[2]), "bad_signature"),
        ("a.b".to_owned(), "malformed_token"),
        ("..".to_owned(), "malformed_token"),
        ("\u{1}\u{2}\u{3}".to_owned(), "malformed_token"),
        (String::from_utf8_lossy(&[0xde, 0xad, 0xbe, 0xef, b'.', 0xff, b'.', 0x00]).into_owned(), "malformed_token"),
        (format!("{}.{}.{}", "a".repeat(6000), "b".repeat(3000), "c"), "token_too_large"),
    ]);
    // jku, x5u, jwk and x5c are ignored: a token signed with our key still verifies with them,
    // and a token signed with the attacker's key they point to does not.
    let hostile =
        r#""jku":"http://127.0.0.1:9/jwks","x5u":"http://127.0.0.1:9/x","jwk":{"kty":"oct","k":"YQ"},"x5c":["AAAA"]"#;
    let header = b64(&format!(r#"{{"alg":"HS256",{hostile}}}"#));
    let signing_input = format!("{header}.{payload}");
    let attacker = sign_raw(&signing_input, b"a");
    cases.push((format!("{signing_input}.{attacker}"), "bad_signature"));
    for (token, expected) in &cases {
        assert_eq!(reason(&interceptor, token).await, *expected, "{token}");
    }
    let ours = format!("{signing_input}.{}", sign_raw(&signing_input, SECRET.as_bytes()));
    assert!(interceptor.admit_at(&bearer(&ours), NOW).await.is_ok(), "key URLs in the header are ignored");
    assert_eq!(
        interceptor.admit_at(&event("GET", "/x", &[]), NOW).await,
        Err(Rejection::Unauthorized(AuthError::MissingToken))
    );
    let huge_header = event("GET", "/x", &[("authorization", &format!("Bearer {}", "x".repeat(100_000)))]);
    assert_eq!(interceptor.admit_at(&huge_header, NOW).await, Err(Rejection::Unauthorized(AuthError::TooLarge)));
}

fn with_claim(claims: &serde_json::Value, key: &str, value: &str) -> String {
    let mut claims = claims.clone();
    claims[key] = value.into();
    claims.to_string()
}

fn sign_raw(input: &str, secret: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).expect("sign")
}

#[tokio::test]
async fn a_jwt_header_must_be_a_json_object() {
    let interceptor = hs256(&[]);
    let payload = b64(&json!({"sub":"a","exp":NOW.as_secs()+60}).to_string());
    // Signed with the configured secret, so only the header's shape is wrong.
    let signed = |header: &str| {
        let input = format!("{}.{payload}", b64(header));
        format!("{input}.{}", sign_raw(&input, SECRET.as_bytes()))
    };
    for header in [r#"["HS256"]"#, r#"["HS256",null,null]"#, r#" ["HS256"]"#] {
        assert_eq!(reason(&interceptor, &signed(header)).await, "malformed_token", "{header}");
    }
    assert!(interceptor.admit_at(&bearer(&signed(r#" {"alg":"HS256"}"#)), NOW).await.is_ok(), "an object verifies");
}

#[tokio::test]
async fn an_rsa_public_key_is_never_used_as_an_hmac_secret() {
    // Even with HS256 on the allow-list, a PEM key only verifies its own family.
    let interceptor = Interceptor::new(&config(&[
        ("INTERCEPT_AUTH", "jwt"),
        ("INTERCEPT_JWT_SECRET", &pem("rsa_public")),
        ("INTERCEPT_JWT_ALGORITHMS", "RS256,HS256"),
    ]))
    .expect("builds");
    let confused = vectors()["key_confusion_hs256"].as_str().expect("token").to_owned();
    assert_eq!(reason(&interceptor, &confused).await, "algorithm_not_accepted");
    let genuine = sign(Algorithm::RS256, None, "rsa_private", &claims("frank"));
    assert!(interceptor.admit_at(&bearer(&genuine), NOW).await.is_ok());
}

#[tokio::test]
async fn tokens_from_a_named_cookie_or_header() {
    let interceptor = hs256(&[("INTERCEPT_JWT_COOKIE", "session"), ("INTERCEPT_JWT_HEADER", "x-token")]);
    let token = sign(Algorithm::HS256, None, &format!("hmac:{SECRET}"), &claims("carol"));
    let cookie = format!("theme=dark; session={token}");
    for headers in [vec![("cookie", cookie.as_str())], vec![("x-token", token.as_str())]] {
        let admitted = interceptor.admit_at(&event("GET", "/", &headers), NOW).await.expect("admitted");
        assert_eq!(admitted.principal.expect("principal").subject, "carol");
    }
    let other = event("GET", "/", &[("cookie", "sessionid=abc")]);
    assert_eq!(interceptor.admit_at(&other, NOW).await, Err(Rejection::Unauthorized(AuthError::MissingToken)));
}

#[tokio::test]
async fn a_missing_scope_is_forbidden_not_unauthorized() {
    let interceptor = hs256(&[("INTERCEPT_JWT_REQUIRED_SCOPES", "POST /orders=orders:write; GET /orders=orders:read")]);
    let mut reader = claims("reader");
    reader["scope"] = "orders:read".into();
    let token = sign(Algorithm::HS256, None, &format!("hmac:{SECRET}"), &reader);
    let auth = format!("Bearer {token}");
    let get = event("GET", "/orders", &[("authorization", &auth)]);
    assert!(interceptor.admit_at(&get, NOW).await.is_ok());
    let post = event("POST", "/orders", &[("authorization", &auth)]);
    assert_eq!(
        interceptor.admit_at(&post, NOW).await,
        Err(Rejection::Forbidden { required: vec!["orders:write".into()] })
    );
    assert!(interceptor.admit_at(&event("GET", "/public", &[("authorization", &auth)]), NOW).await.is_ok());
}

#[tokio::test]
async fn api_keys_name_their_principal() {
    let interceptor = Interceptor::new(&config(&[
        ("INTERCEPT_AUTH", "jwt,api-key"),
        ("INTERCEPT_JWT_SECRET", SECRET),
        (
            "INTERCEPT_API_KEYS",
            "ci=key-one, partner=sha256:ba3a7b30a33fdcd0b0ed7a32bd4ab0d81f7a67e5d6cd7d2b1b5b4c5c2fa23a5e",
        ),
    ]))
    .expect("builds");
    let with_key = |key: &str| event("GET", "/", &[("x-api-key", key)]);
    let admitted = interceptor.admit_at(&with_key("key-one"), NOW).await.expect("admitted");
    assert_eq!(admitted.principal.expect("principal").subject, "ci");
    assert_eq!(
        interceptor.admit_at(&with_key("key-two"), NOW).await,
        Err(Rejection::Unauthorized(AuthError::InvalidApiKey))
    );
    let token = sign(Algorithm::HS256, None, &format!("hmac:{SECRET}"), &claims("dave"));
    assert!(interceptor.admit_at(&bearer(&token), NOW).await.is_ok(), "JWTs still work");
}

#[tokio::test]
async fn a_cached_token_still_expires() {
    let interceptor = hs256(&[]);
    let token = sign(Algorithm::HS256, None, &format!("hmac:{SECRET}"), &claims("erin"));
    for _ in 0..3 {
        assert!(interceptor.admit_at(&bearer(&token), NOW).await.is_ok());
    }
    assert_eq!(
        interceptor.admit_at(&bearer(&token), NOW + Duration::from_secs(600)).await,
        Err(Rejection::Unauthorized(AuthError::Expired))
    );
}

#[tokio::test]
async fn max_age_refuses_tokens_issued_too_long_ago_and_tokens_without_iat() {
    let interceptor = hs256(&[("INTERCEPT_JWT_MAX_AGE_SECONDS", "60")]);
    let secret = format!("hmac:{SECRET}");
    let at = |iat: Option<u64>| {
        let mut body = claims("alice");
        match iat {
            Some(iat) => body["iat"] = json!(iat),
            None => drop(body.as_object_mut().map(|claims| claims.remove("iat"))),
        }
        sign(Algorithm::HS256, None, &secret, &body)
    };
    let now = NOW.as_secs();
    assert!(interceptor.admit_at(&bearer(&at(Some(now - 60))), NOW).await.is_ok(), "exactly 60 s old");
    assert_eq!(reason(&interceptor, &at(Some(now - 61))).await, "token_too_old");
    assert_eq!(reason(&interceptor, &at(None)).await, "invalid_claim");
    // Without the setting the same old token is accepted: nothing else bounds its age.
    assert!(hs256(&[]).admit_at(&bearer(&at(Some(now - 86_400))), NOW).await.is_ok());
}
