//! Authentication: who is calling, proved by a bearer token.

mod jwt;

pub use jwt::JwtVerifier;

/// The authenticated caller, as the handler and the rate limiter see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The `sub` claim.
    pub subject: String,
    /// The `iss` claim, when present.
    pub issuer: Option<String>,
    /// Scopes from `scope` (space separated) or `scp`.
    pub scopes: Vec<String>,
}

/// Why a request was not authenticated, in terms safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` token.
    #[error("missing bearer token")]
    MissingToken,
    /// Not a well-formed JWT, or a header this verifier refuses.
    #[error("malformed token")]
    Malformed,
    /// Signed with an algorithm outside the allow-list.
    #[error("token algorithm not accepted")]
    AlgorithmNotAccepted,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` names none of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// A claim the verifier needs is absent or of the wrong type.
    #[error("missing or invalid claim `{0}`")]
    Claim(&'static str),
}

impl AuthError {
    /// A short machine-readable reason for spans and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Malformed => "malformed_token",
            AuthError::AlgorithmNotAccepted => "algorithm_not_accepted",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::Claim(_) => "invalid_claim",
        }
    }
}

/// Reads the bearer token from an `Authorization` header value.
///
/// # Errors
/// [`AuthError::MissingToken`] when there is no bearer token.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or(AuthError::MissingToken)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() {
        Err(AuthError::MissingToken)
    } else {
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens_only() {
        assert_eq!(bearer_token(Some("Bearer abc.def.ghi")), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(Some("bearer   abc ")), Ok("abc"));
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer  "),
            Some("Basic dXNlcjpwYXNz"),
            Some("abc"),
        ] {
            assert_eq!(bearer_token(bad), Err(AuthError::MissingToken), "{bad:?}");
        }
    }
}
