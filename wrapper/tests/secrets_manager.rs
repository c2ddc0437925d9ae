//! Keys from a real Secrets Manager API (moto's server), read by Intercept's own SigV4
//! client: fetched at init, refreshed in the background, overlap after rotation, outage,
//! binary secrets, API keys, and signatures checked by moto with authentication on. The
//! tests' own writes go through aws-sdk-secretsmanager.

mod auth_support;

use std::time::Duration;

use auth_support::{Moto, bearer, config_with, event, sign, wall_now};
use intercept::auth::AuthError;
use intercept::{Interceptor, Rejection};
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
    let at_init = moto.get_secret_value_calls();
    assert!(at_init >= 1, "the keys were read from Secrets Manager at init");
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
    assert_eq!(moto.get_secret_value_calls(), at_init, "no call per request before the refresh point");
    // Past the refresh point a background refresh picks up the rotation...
    eventually(&interceptor, &new, start + Duration::from_secs(50), true).await;
    assert!(moto.get_secret_value_calls() > at_init, "the rotation came from a refresh");
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
    let before_outage = moto.get_secret_value_calls();
    assert!(interceptor.admit_at(&bearer(&fresh), expired_keys).await.is_ok(), "stale keys serve");
    // The refresh is attempted (moto sees the call) and fails: the stale keys still serve.
    moto.await_calls_beyond(before_outage, "a refresh during the outage").await;
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
    let before_recovery = moto.get_secret_value_calls();
    eventually(&interceptor, &third, beyond, true).await;
    assert!(moto.get_secret_value_calls() > before_recovery, "the new value came from a refresh");
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

#[tokio::test]
async fn a_binary_secret_is_the_key_as_its_bytes() {
    let moto = Moto::start().await;
    let key: Vec<u8> = (0..=255u8).rev().step_by(3).chain([0x00, 0xff, 0xfe]).collect();
    let blob = aws_sdk_secretsmanager::primitives::Blob::new(key.clone());
    moto.client().create_secret().name("binary-key").secret_binary(blob).send().await.expect("create");
    let config = config_with(&moto.settings(), &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET_ID", "binary-key")]);
    let interceptor = Interceptor::connect(&config).await.expect("keys fetched at init");
    let now = wall_now();
    let claims = json!({"sub": "binary", "exp": now.as_secs() + 3600});
    let header = jsonwebtoken::Header::new(Algorithm::HS256);
    let signed = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&key)).expect("sign");
    assert!(interceptor.admit_at(&bearer(&signed), now).await.is_ok());
    // The same bytes read as text (or base64 text) would be another key.
    let as_text = jsonwebtoken::EncodingKey::from_secret(String::from_utf8_lossy(&key).as_bytes());
    let wrong = jsonwebtoken::encode(&header, &claims, &as_text).expect("sign");
    assert_eq!(interceptor.admit_at(&bearer(&wrong), now).await, Err(Rejection::Unauthorized(AuthError::BadSignature)));
}

/// One call to moto's IAM or STS (query protocol) while it still takes unsigned requests;
/// the credential scope in the placeholder `Authorization` only routes it to the service.
async fn setup_call(moto: &Moto, service: &str, params: &[(&str, &str)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let body: Vec<String> =
        params.iter().map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, NON_ALPHANUMERIC))).collect();
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let response = reqwest::Client::new()
        .post(&moto.endpoint)
        .header("authorization", scope)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .expect("moto answers");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{service} {params:?}: {status} {text}");
    text
}

/// The text of `<tag>` in an XML answer.
fn xml_field(xml: &str, tag: &str) -> String {
    let start = xml.find(&format!("<{tag}>")).map(|at| at + tag.len() + 2).expect(tag);
    let end = xml[start..].find(&format!("</{tag}>")).expect(tag);
    xml[start..start + end].to_owned()
}

/// With moto's authentication on, a request is refused unless its signature is the one
/// botocore computes for the same request with the caller's secret key (moto checks it so),
/// and a session's requests unless they carry its token: the client's signing is checked by
/// another implementation on the wire, for an IAM user's keys and for an assumed role's.
#[tokio::test]
async fn moto_with_authentication_on_accepts_the_signatures_and_refuses_a_wrong_key() {
    let moto = Moto::start().await;
    moto.client()
        .create_secret()
        .name("signed-key")
        .secret_string("secret-of-decent-length!!!")
        .send()
        .await
        .expect("create");
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}).to_string();
    let iam = |action: &'static str| [("Action", action), ("Version", "2010-05-08")];
    setup_call(&moto, "iam", &[&iam("CreateUser")[..], &[("UserName", "reader")]].concat()).await;
    setup_call(
        &moto,
        "iam",
        &[&iam("PutUserPolicy")[..], &[("UserName", "reader"), ("PolicyName", "read"), ("PolicyDocument", &policy)]]
            .concat(),
    )
    .await;
    let user = setup_call(&moto, "iam", &[&iam("CreateAccessKey")[..], &[("UserName", "reader")]].concat()).await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}).to_string();
    setup_call(
        &moto,
        "iam",
        &[&iam("CreateRole")[..], &[("RoleName", "reader-role"), ("AssumeRolePolicyDocument", &trust)]].concat(),
    )
    .await;
    setup_call(
        &moto,
        "iam",
        &[
            &iam("PutRolePolicy")[..],
            &[("RoleName", "reader-role"), ("PolicyName", "read"), ("PolicyDocument", &policy)],
        ]
        .concat(),
    )
    .await;
    let role = setup_call(
        &moto,
        "sts",
        &[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/reader-role"),
            ("RoleSessionName", "intercept"),
        ],
    )
    .await;
    // From now on every request is authenticated.
    let reset = reqwest::Client::new()
        .post(format!("{}/moto-api/reset-auth", moto.endpoint))
        .body("0")
        .send()
        .await
        .expect("reset-auth");
    assert!(reset.status().is_success(), "{}", reset.status());

    let connect = |key_id: String, secret: String, token: Option<String>| {
        let mut settings = moto.settings();
        settings.retain(|(name, _)| !name.starts_with("AWS_ACCESS") && !name.starts_with("AWS_SECRET"));
        settings.extend([("AWS_ACCESS_KEY_ID", key_id), ("AWS_SECRET_ACCESS_KEY", secret)]);
        settings.extend(token.map(|token| ("AWS_SESSION_TOKEN", token)));
        let config = config_with(&settings, &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET_ID", "signed-key")]);
        async move { Interceptor::connect(&config).await }
    };
    let now = wall_now();
    let signed = token("secret-of-decent-length!!!", "alice", now);
    let (user_id, user_secret) = (xml_field(&user, "AccessKeyId"), xml_field(&user, "SecretAccessKey"));
    let interceptor =
        connect(user_id.clone(), user_secret.clone(), None).await.expect("an IAM user's signature accepted");
    assert!(interceptor.admit_at(&bearer(&signed), now).await.is_ok());

    let (role_id, role_secret, session) =
        (xml_field(&role, "AccessKeyId"), xml_field(&role, "SecretAccessKey"), xml_field(&role, "SessionToken"));
    let interceptor = connect(role_id.clone(), role_secret.clone(), Some(session.clone()))
        .await
        .expect("an assumed role's signature accepted");
    assert!(interceptor.admit_at(&bearer(&signed), now).await.is_ok());

    let mut wrong = user_secret.into_bytes();
    wrong[0] ^= 1;
    let error = connect(user_id, String::from_utf8(wrong).expect("ascii"), None).await.expect_err("a wrong secret key");
    let text = error.to_string();
    assert!(
        text.starts_with(
            "INTERCEPT_JWT_SECRET_ID: cannot load the signing keys: cannot read secret `signed-key` (AWSCURRENT)"
        ),
        "{text}"
    );
    // moto answers an authentication failure with an XML body (AWS itself with JSON and
    // x-amzn-ErrorType, which the client reads), so only the status names it here; the same
    // key id with the right secret was accepted above, so the signature is what was refused.
    assert!(text.ends_with("status 403 Forbidden"), "{text}");
    let error = connect(role_id, role_secret, None).await.expect_err("a session's keys without its token");
    assert!(error.to_string().contains("(AWSCURRENT)"), "{error}");
}
