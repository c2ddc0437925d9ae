//! Entry points for the fuzz targets in `fuzz/`: thin functions over the parsers of outside input
//! (events, tokens, keys, policies, route patterns), each checking what its parser promises.
//!
//! Not part of the API: hidden from the docs, and free to change with any release. Each function
//! takes any input without panicking unless a promise is broken, which is the finding.

use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::auth::{AuthError, JwtVerifier, VerifyingKey};
use crate::config::Config;
use crate::invocation::{Invocation, TriggerKind, readers};
use crate::policy::Policy;
use crate::policy::pattern::RoutePattern;

/// Every algorithm a key may be configured for, so each key parser runs for every family.
const ALL_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The HMAC secret of [`jwt_verifier`] (32 bytes, as RFC 7518 §3.2 asks for HS256).
pub const JWT_SECRET: &str = "fuzzing-secret-0123456789abcdefg";
/// The issuer and audience [`jwt_verifier`] requires, so the claim checks all run.
pub const JWT_ISSUER: &str = "https://issuer.example";
/// See [`JWT_ISSUER`].
pub const JWT_AUDIENCE: &str = "api";
/// The clock every token is checked at: 2023-11-14T22:13:20Z.
pub const JWT_NOW: Duration = Duration::from_secs(1_700_000_000);

/// Reads `event` with the three event readers and checks that they agree: where the one-pass
/// reader reads an event, it describes it exactly as serde does; [`Invocation::from_raw`] is what
/// serde reads; and an event serde reads as an HTTP trigger has that trigger's markers for the
/// lenient reader too (which decides only for events serde refuses). Input that is not JSON is
/// not an event Lambda can deliver and is skipped.
///
/// # Panics
/// When the readers disagree.
pub fn event_readers(event: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<&RawValue>(event) else { return };
    let invocation = Invocation::from_raw(raw);
    let (one_pass, serde, marked) = readers(raw.get());
    let serde_view = format!("{serde:?}");
    if let Some(one_pass) = one_pass {
        assert_eq!(format!("{one_pass:?}"), serde_view, "the one-pass reader and serde disagree");
    }
    assert_eq!(format!("{invocation:?}"), serde_view, "Invocation::from_raw is not what serde reads");
    if serde.malformed().is_none() && serde.kind != TriggerKind::Other {
        assert!(marked.is_some(), "serde reads a {:?} event the marker reader calls unmarked", serde.kind);
    }
    if serde.malformed().is_some() {
        assert!(serde.kind.is_http(), "only an event with an HTTP trigger's markers is malformed");
    }
}

/// The verifier the JWT targets run: an HMAC key for HS256, HS384 and HS512 (so the whole path,
/// header, signature and claims, runs for tokens the fuzzer signs), an issuer and an audience,
/// and no cache (each input is judged on its own).
///
/// # Panics
/// When the configuration is refused, which would be a bug of this module.
pub fn jwt_verifier() -> &'static JwtVerifier {
    static VERIFIER: OnceLock<JwtVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let config = Config::from_lookup(|name| {
            Some(
                match name {
                    "INTERCEPT_AUTH" => "jwt",
                    "INTERCEPT_JWT_SECRET" => JWT_SECRET,
                    "INTERCEPT_JWT_ALGORITHMS" => "HS256,HS384,HS512",
                    "INTERCEPT_JWT_ISSUER" => JWT_ISSUER,
                    "INTERCEPT_JWT_AUDIENCE" => JWT_AUDIENCE,
                    "INTERCEPT_JWT_CACHE_SIZE" => "0",
                    _ => return None,
                }
                .to_owned(),
            )
        })
        .expect("the fuzzing configuration is valid");
        let jwt = config.auth().jwt.as_ref().expect("jwt is on");
        JwtVerifier::new(jwt).expect("the fuzzing key is usable")
    })
}

/// Verifies `token` as a request's bearer token would be, at [`JWT_NOW`].
///
/// # Panics
/// When verification with a configured key waits on anything: it must answer at once.
pub fn verify_token(token: &str) -> Result<std::sync::Arc<crate::auth::Principal>, AuthError> {
    let mut verification = std::pin::pin!(jwt_verifier().verify(token, JWT_NOW));
    match verification.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("verifying with a configured key waited"),
    }
}

/// Signs `header` and `claims` (any bytes, as the token's two JSON segments) with
/// [`JWT_SECRET`] for the HMAC algorithm the header names (HS256 when it names none), and
/// verifies the token. A token signed right is never refused for its signature, and one that
/// verifies carries exactly the claims it was given.
///
/// # Panics
/// When either promise is broken.
pub fn verify_signed(header: &[u8], claims: &[u8]) {
    let named = serde_json::from_slice::<Map<String, Value>>(header)
        .ok()
        .and_then(|header| header.get("alg").and_then(Value::as_str).map(str::to_owned));
    let algorithm = match named.as_deref() {
        Some("HS384") => ring::hmac::HMAC_SHA384,
        Some("HS512") => ring::hmac::HMAC_SHA512,
        _ => ring::hmac::HMAC_SHA256,
    };
    let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let signature = ring::hmac::sign(&ring::hmac::Key::new(algorithm, JWT_SECRET.as_bytes()), signed.as_bytes());
    let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    match verify_token(&token) {
        Ok(principal) => {
            let given: Map<String, Value> = serde_json::from_slice(claims).expect("verified claims are a JSON object");
            assert_eq!(principal.claims, given, "the principal's claims are not the token's");
        }
        Err(AuthError::BadSignature) => {
            assert!(
                !matches!(named.as_deref(), Some("HS256" | "HS384" | "HS512")),
                "a token signed with the configured key for its {named:?} was refused for its signature"
            );
        }
        Err(_) => {}
    }
}

/// Reads key material as `INTERCEPT_JWT_SECRET` is read: a PEM public key (RSA, EC or Ed25519)
/// or, for anything else, an HMAC secret; every algorithm is allowed.
pub fn key_material(material: &[u8]) {
    let _ = VerifyingKey::from_material(None, material, &ALL_ALGORITHMS);
}

/// Reads `der` as a PKCS#1 `RSAPublicKey`, the way an `RSA PUBLIC KEY` PEM block reaches the
/// DER reader that checks the key's size and exponent.
pub fn rsa_der(der: &[u8]) {
    let pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    let _ = VerifyingKey::from_material(None, pem.as_bytes(), &ALL_ALGORITHMS);
}

/// Reads a JWKS document as a JWKS URL's answer is read: the set, then each key that some
/// allowed algorithm can use.
pub fn jwks(document: &[u8]) {
    let Ok(set) = serde_json::from_slice::<jsonwebtoken::jwk::JwkSet>(document) else { return };
    for jwk in &set.keys {
        let _ = VerifyingKey::from_jwk(jwk, &ALL_ALGORITHMS);
    }
}

/// Parses a policy file and, when it is valid, resolves it with an empty environment and asks
/// it which route a few requests meet; error messages are rendered too.
pub fn policy(text: &str) {
    match Policy::parse("policy.yaml", text) {
        Ok(policy) => {
            let _ = policy.digest();
            if let Ok(effective) = policy.resolve_offline(|_| None) {
                let _ = effective.audit();
                // What `intercept-sam policy diff` compares (the top-level `disable` included).
                let _ = effective.summary();
                for (method, path) in [("GET", "/"), ("POST", "/orders/42"), ("HEAD", "/admin/x/y")] {
                    let _ = effective.route_for(method, path);
                    let _ = effective.explain(method, path);
                }
            }
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
}

/// Parses `route` as a policy route key and as a required-scopes rule target, and matches both
/// against `method` and `path`: the two matchers (with and without parameters) agree, and a
/// route parses back from how it is shown.
///
/// # Panics
/// When the matchers disagree or a route does not survive being shown and parsed again.
pub fn route_pattern(route: &str, method: &str, path: &str) {
    let short = route.split_once(' ').map_or((None, route), |(method, path)| (Some(method), path));
    for pattern in [RoutePattern::parse(route), RoutePattern::parse_short(short.0, short.1)].into_iter().flatten() {
        let with_parameters = pattern.matches(method, path).is_some();
        assert_eq!(with_parameters, pattern.is_match(method, path), "{pattern} on {method} {path}");
        assert!(pattern.same_requests(&pattern) && pattern.precedence(&pattern).is_eq(), "{pattern}");
    }
    if let Ok(pattern) = RoutePattern::parse(route) {
        assert_eq!(RoutePattern::parse(&pattern.to_string()).as_ref(), Ok(&pattern), "{route:?} shown as {pattern}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry points accept real inputs and the promises they check hold for them; inputs
    /// the fuzzers found are added here once fixed.
    #[test]
    fn the_fuzz_entry_points_hold_on_real_inputs() {
        for event in [
            r#"{"version":"2.0","routeKey":"GET /a","rawPath":"/a","headers":{"x":"1"},"cookies":["a=1"],
            "requestContext":{"http":{"method":"GET","path":"/a","sourceIp":"1.2.3.4"}}}"#,
            r#"{"httpMethod":"GET","path":"/x","multiValueHeaders":{"Cookie":["a=1","b=2"]},"requestContext":{"elb":{}}}"#,
            r#"{"httpMethod":null,"httpMethod":"DELETE","path":"/admin"}"#,
            r#"{"requestContext":{"http":null,"elb":{}},"httpMethod":"GET","multiValueHeaders":7}"#,
            "[1]",
            "not json",
        ] {
            event_readers(event.as_bytes());
        }
        let claims = r#"{"sub":"alice","iss":"https://issuer.example","aud":"api","exp":4102444800}"#;
        verify_signed(br#"{"alg":"HS384"}"#, claims.as_bytes());
        let signed = {
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims);
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, JWT_SECRET.as_bytes());
            let signature = ring::hmac::sign(&key, format!("{header}.{payload}").as_bytes());
            format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        };
        assert_eq!(verify_token(&signed).map(|principal| principal.subject.clone()), Ok("alice".to_owned()));
        verify_signed(br#"{"alg":"none"}"#, b"[]");
        key_material(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
        rsa_der(&[0x30, 0x06, 0x02, 0x01, 0x03, 0x02, 0x01, 0x03]);
        jwks(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}"#);
        policy("routes:\n  GET /health:\n    auth: none\n");
        policy("routes: [\n");
        route_pattern("GET /orders/{id}", "GET", "/orders/42");
        route_pattern("/admin/*", "HEAD", "/ADMIN/x");
    }
}
