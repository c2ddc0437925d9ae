//! JWT verification against a configured key and algorithm allow-list.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;

use super::{AuthError, Principal};
use crate::config::JwtConfig;

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Verifies bearer JWTs: signature, algorithm allow-list and the registered claims.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    leeway_secs: u64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    iss: Option<String>,
    iat: Option<serde_json::Number>,
    scope: Option<String>,
    scp: Option<Scopes>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Spaced(String),
}

impl JwtVerifier {
    /// A verifier for the configured secret and claims.
    #[must_use]
    pub fn new(config: &JwtConfig) -> JwtVerifier {
        let mut validation = Validation::new(config.algorithms[0]);
        validation.algorithms.clone_from(&config.algorithms);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        if config.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&config.audience);
        }
        JwtVerifier {
            key: DecodingKey::from_secret(config.secret.expose()),
            validation,
            leeway_secs: config.leeway.as_secs(),
        }
    }

    /// Verifies a token and returns its principal.
    ///
    /// # Errors
    /// An [`AuthError`] saying which check failed.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(
            |error| match error.kind() {
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm => AuthError::AlgorithmNotAccepted,
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                    AuthError::Claim(registered_claim(claim))
                }
                _ => AuthError::Malformed,
            },
        )?;
        let claims = data.claims;
        if let Some(iat) = claims.iat {
            let iat = iat.as_f64().ok_or(AuthError::Claim("iat"))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            if iat > now + self.leeway_secs as f64 {
                return Err(AuthError::IssuedInFuture);
            }
        }
        let scopes = match (claims.scope, claims.scp) {
            (Some(scope), _) | (None, Some(Scopes::Spaced(scope))) => {
                scope.split_whitespace().map(str::to_owned).collect()
            }
            (None, Some(Scopes::List(list))) => list,
            (None, None) => Vec::new(),
        };
        Ok(Principal {
            subject: claims.sub.ok_or(AuthError::Claim("sub"))?,
            issuer: claims.iss,
            scopes,
        })
    }
}

fn registered_claim(claim: &str) -> &'static str {
    ["exp", "nbf", "iat", "iss", "aud", "sub"]
        .into_iter()
        .find(|known| *known == claim)
        .unwrap_or("claim")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;
    use crate::config::Secret;

    const SECRET: &[u8] = b"a-test-secret-of-decent-length!!";

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64
    }

    fn verifier(issuer: Option<&str>, audience: &[&str]) -> JwtVerifier {
        JwtVerifier::new(&JwtConfig {
            secret: Secret::new(SECRET),
            algorithms: vec![Algorithm::HS256],
            issuer: issuer.map(str::to_owned),
            audience: audience.iter().map(|a| (*a).to_owned()).collect(),
            leeway: Duration::ZERO,
        })
    }

    fn sign(claims: &serde_json::Value, alg: Algorithm, secret: &[u8]) -> String {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).expect("sign")
    }

    #[test]
    fn accepts_a_valid_token_and_reads_the_principal() {
        let token = sign(
            &json!({"sub":"alice","iss":"https://id.example","exp":now()+60,"scope":"orders:read orders:write"}),
            Algorithm::HS256,
            SECRET,
        );
        let principal = verifier(Some("https://id.example"), &[])
            .verify(&token)
            .expect("valid");
        assert_eq!(principal.subject, "alice");
        assert_eq!(principal.scopes, ["orders:read", "orders:write"]);
    }

    #[test]
    fn refuses_each_failed_check_with_its_reason() {
        let v = verifier(Some("https://id.example"), &["api"]);
        let good = json!({"sub":"a","iss":"https://id.example","aud":"api","exp":now()+60});
        let with = |patch: serde_json::Value| {
            let mut claims = good.clone();
            for (k, val) in patch.as_object().expect("object") {
                claims[k] = val.clone();
            }
            claims
        };
        let cases = [
            (
                sign(&with(json!({"exp": now() - 5})), Algorithm::HS256, SECRET),
                AuthError::Expired,
            ),
            (
                sign(&with(json!({"nbf": now() + 60})), Algorithm::HS256, SECRET),
                AuthError::NotYetValid,
            ),
            (
                sign(&with(json!({"iat": now() + 600})), Algorithm::HS256, SECRET),
                AuthError::IssuedInFuture,
            ),
            (
                sign(
                    &with(json!({"iss": "https://evil"})),
                    Algorithm::HS256,
                    SECRET,
                ),
                AuthError::WrongIssuer,
            ),
            (
                sign(&with(json!({"aud": ["other"]})), Algorithm::HS256, SECRET),
                AuthError::WrongAudience,
            ),
            (
                sign(&good, Algorithm::HS256, b"another-secret-entirely-wrong!!!"),
                AuthError::BadSignature,
            ),
            (
                sign(&good, Algorithm::HS512, SECRET),
                AuthError::AlgorithmNotAccepted,
            ),
            (
                sign(
                    &json!({"sub":"a","iss":"https://id.example","aud":"api"}),
                    Algorithm::HS256,
                    SECRET,
                ),
                AuthError::Claim("exp"),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(v.verify(&token), Err(expected.clone()), "{expected:?}");
        }
    }

    #[test]
    fn refuses_garbage_and_alg_none() {
        let v = verifier(None, &[]);
        let payload = base64_url(&json!({"sub":"a","exp":now()+60}).to_string());
        let none_tokens: Vec<String> = ["none", "None", "NONE", "nOnE"]
            .iter()
            .map(|alg| {
                format!(
                    "{}.{payload}.",
                    base64_url(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#))
                )
            })
            .collect();
        let tampered = {
            let token = sign(&json!({"sub":"a","exp":now()+60}), Algorithm::HS256, SECRET);
            let parts: Vec<&str> = token.split('.').collect();
            format!(
                "{}.{}.{}",
                parts[0],
                base64_url(&json!({"sub":"admin","exp":now()+60}).to_string()),
                parts[2]
            )
        };
        let huge = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
        let mut bad: Vec<String> = vec![
            "".into(),
            "a".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            "!!!.###.$$$".into(),
            huge,
        ];
        bad.extend(none_tokens);
        for token in &bad {
            let error = v.verify(token).expect_err(token);
            assert!(
                matches!(
                    error,
                    AuthError::Malformed | AuthError::AlgorithmNotAccepted
                ),
                "{token}: {error:?}"
            );
        }
        assert_eq!(v.verify(&tampered), Err(AuthError::BadSignature));
    }

    fn base64_url(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}
