//! Amazon Cognito's tokens, minted by PyJWT in Cognito's shape and served from a real local
//! JWKS: access tokens name the app client in `client_id` and have no `aud`, ID tokens have
//! `aud`; `token_use` says which, and `INTERCEPT_JWT_TOKEN_USE` says which are accepted.

mod auth_support;

use auth_support::idp::{Server, serve};
use auth_support::{NOW, bearer, config, mint_with_pyjwt};
use intercept::auth::AuthError;
use intercept::{Interceptor, Rejection};
use serde_json::{Value, json};

/// The user pool's issuer, as Cognito writes it in `iss`.
const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E";
/// Our app client, and another app client of the same pool.
const OUR_APP: &str = "4pbq1ko8mni1rjlhjd8f3pc2en";
const OTHER_APP: &str = "7uvd0rcqhd1ar8prohm3pmhqio";

/// An access token's claims as Cognito issues them.
fn access(client_id: &str) -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "iss": ISSUER, "client_id": client_id,
        "origin_jti": "6f2c1f0e-0000-4000-8000-000000000001", "event_id": "e1d2c3b4-0000-4000-8000-000000000002",
        "token_use": "access", "scope": "aws.cognito.signin.user.admin orders/read",
        "auth_time": NOW.as_secs() - 60, "exp": NOW.as_secs() + 3540, "iat": NOW.as_secs() - 60,
        "jti": "0a1b2c3d-0000-4000-8000-000000000003", "username": "alice"
    })
}

/// An ID token's claims as Cognito issues them.
fn id(audience: &str) -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "iss": ISSUER, "aud": audience,
        "email_verified": true, "cognito:username": "alice", "origin_jti": "6f2c1f0e-0000-4000-8000-000000000001",
        "token_use": "id", "auth_time": NOW.as_secs() - 60, "exp": NOW.as_secs() + 3540, "iat": NOW.as_secs() - 60,
        "jti": "0a1b2c3d-0000-4000-8000-000000000004", "email": "alice@example.com"
    })
}

/// With `change` applied to `claims`.
fn with(mut claims: Value, change: &[(&str, Value)]) -> Value {
    for (name, value) in change {
        claims[*name] = value.clone();
    }
    claims
}

/// The pool's JWKS on a local server, and an interceptor for our app client.
async fn pool(jwks: Value, extra: &[(&str, &str)]) -> (Server, Interceptor) {
    let server = serve(jwks).await;
    let url = format!("{}/keys", server.base);
    let mut settings = vec![
        ("INTERCEPT_AUTH", "jwt"),
        ("INTERCEPT_JWKS_URL", url.as_str()),
        ("INTERCEPT_JWT_ISSUER", ISSUER),
        ("INTERCEPT_JWT_AUDIENCE", OUR_APP),
    ];
    settings.extend_from_slice(extra);
    let interceptor = Interceptor::connect(&config(&settings)).await.expect("keys fetched at init");
    (server, interceptor)
}

async fn outcome(interceptor: &Interceptor, token: &str) -> Result<String, AuthError> {
    match interceptor.admit_at(&bearer(token), NOW).await {
        Ok(admitted) => Ok(admitted.principal.expect("principal").subject.clone()),
        Err(Rejection::Unauthorized(error)) => Err(error),
        Err(other) => panic!("expected 401 or admission, got {other:?}"),
    }
}

#[tokio::test]
async fn cognito_access_and_id_tokens_for_our_app_client_are_accepted_and_others_refused() {
    let claims = [
        access(OUR_APP),
        id(OUR_APP),
        access(OTHER_APP),
        id(OTHER_APP),
        // Both claims: `aud` decides, `client_id` is not looked at.
        with(access(OUR_APP), &[("aud", json!(OTHER_APP))]),
        with(access(OTHER_APP), &[("aud", json!(OUR_APP))]),
        with(access(OUR_APP), &[("token_use", json!("refresh"))]),
        with(access(OUR_APP), &[("client_id", json!([OUR_APP]))]),
    ];
    let (jwks, tokens) = mint_with_pyjwt("cognito-key-1", &claims);
    let (_server, interceptor) = pool(jwks, &[]).await;
    let alice = Ok("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".to_owned());
    let expected = [
        (alice.clone(), "access token, client_id = our app, no aud"),
        (alice.clone(), "ID token, aud = our app"),
        (Err(AuthError::WrongAudience), "access token of another app client"),
        (Err(AuthError::WrongAudience), "ID token of another app client"),
        (Err(AuthError::WrongAudience), "aud names another app, client_id ours: aud only"),
        (alice.clone(), "aud names our app, client_id another: aud only"),
        (Err(AuthError::TokenUseNotAccepted), "token_use neither access nor id"),
        (Err(AuthError::Claim("client_id")), "client_id not a string"),
    ];
    for (token, (want, what)) in tokens.iter().zip(expected) {
        assert_eq!(outcome(&interceptor, token).await, want, "{what}");
    }
    // The access token's principal carries Cognito's claims for the handler.
    let admitted = interceptor.admit_at(&bearer(&tokens[0]), NOW).await.expect("admitted");
    let principal = admitted.principal.expect("principal");
    assert_eq!(principal.claims["client_id"], OUR_APP);
    assert_eq!(principal.scopes, ["aws.cognito.signin.user.admin", "orders/read"]);
}

#[tokio::test]
async fn token_use_narrows_what_is_accepted_with_a_clear_reason() {
    let (jwks, tokens) = mint_with_pyjwt("cognito-key-1", &[access(OUR_APP), id(OUR_APP)]);
    let (_server, access_only) = pool(jwks.clone(), &[("INTERCEPT_JWT_TOKEN_USE", "access")]).await;
    assert!(outcome(&access_only, &tokens[0]).await.is_ok(), "access token");
    let refused = access_only.admit_at(&bearer(&tokens[1]), NOW).await.expect_err("an ID token");
    assert_eq!(refused, Rejection::Unauthorized(AuthError::TokenUseNotAccepted));
    assert_eq!((refused.status(), refused.reason()), (401, "token_use_not_accepted"));
    assert_eq!(refused.message(), "unauthorized: token_use not accepted");

    let (_server, id_only) = pool(jwks, &[("INTERCEPT_JWT_TOKEN_USE", "id")]).await;
    assert_eq!(outcome(&id_only, &tokens[0]).await, Err(AuthError::TokenUseNotAccepted), "access token");
    assert!(outcome(&id_only, &tokens[1]).await.is_ok(), "ID token");
}
