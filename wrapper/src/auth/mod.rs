//! Authentication: who is calling, proved by a bearer JWT or an API key.
//!
//! Keys come only from configuration (a literal secret, Secrets Manager, a JWKS URL or an
//! OIDC issuer), never from the token; verified tokens are remembered by digest until `exp`.
//!
//! [`AuthConfig`] is what the `INTERCEPT_JWT_*` and `INTERCEPT_API_KEYS` settings describe
//! ([`Config::auth`](crate::Config::auth)); an [`Authenticator`] built from it checks each
//! request, and the handler reads who passed with [`current_principal`]. The parsers of the
//! settings' values ([`ApiKeys::parse`], [`ScopeRule::parse`]) are public for tools that check
//! a value before it is deployed.
//!
//! ```
//! use intercept::auth::{ApiKeys, ScopeRule};
//!
//! # fn main() -> Result<(), intercept::ParseError> {
//! let keys = ApiKeys::parse([("ci", "k1-secret")])?;
//! assert_eq!(keys.verify("k1-secret").map(|principal| principal.subject.clone()), Ok("ci".to_owned()));
//!
//! let rule = ScopeRule::parse("POST /orders=orders:write")?;
//! assert_eq!(rule.scopes, ["orders:write"]);
//! assert!(ScopeRule::parse("POST /orders").is_err());
//! # Ok(()) }
//! ```

mod apikey;
mod authenticator;
mod cache;
mod claims;
mod crypto;
mod current;
mod header;
mod jwks;
mod jwt;
mod keys;
mod scopes;
pub(crate) mod secrets;
mod settings;
pub(crate) mod sigv4;
mod source;
mod splice;
pub(crate) mod tls;
mod token;

pub use apikey::ApiKeys;
pub use authenticator::Authenticator;
pub use crypto::RING_PROVIDER;
pub use current::{current_principal, inject_authorizer};
pub use jwt::JwtVerifier;
pub use scopes::ScopeRule;
pub use settings::{ApiKeyConfig, AuthConfig, AwsConfig, JwtConfig, KeySourceConfig, TokenLocation};
pub use splice::{SpliceError, splice_authorizer, splice_event};
pub use token::bearer_token;

pub use crate::config::Secret;

pub(crate) use current::with_principal;
/// For the key-parsing fuzz targets (`crate::fuzzing`).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use keys::VerifyingKey;
pub(crate) use settings::{AuthInputs, KeyInput, Schemes, parse_auth};

/// The authenticated caller, as the handler and the rate limiter see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Principal {
    /// The `sub` claim, or the API key's configured name.
    pub subject: String,
    /// The `iss` claim, when present.
    pub issuer: Option<String>,
    /// Scopes from `scope` (space separated) or `scp` (string or list).
    pub scopes: Vec<String>,
    /// Every claim of the verified token (empty for API keys), as API Gateway passes them on.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Principal {
    /// A principal with a subject and nothing else (an API key's name, a test's caller).
    #[must_use]
    pub fn named(subject: impl Into<String>) -> Self {
        Principal { subject: subject.into(), issuer: None, scopes: Vec::new(), claims: serde_json::Map::new() }
    }

    /// Whether the principal holds every one of `required`.
    #[must_use]
    pub fn has_scopes(&self, required: &[String]) -> bool {
        required.iter().all(|scope| self.scopes.contains(scope))
    }
}

/// Why a request was not authenticated, in terms safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No bearer token (and no API key, when that scheme is on).
    #[error("missing bearer token")]
    MissingToken,
    /// Longer than the configured limit; refused before any parsing.
    #[error("token too large")]
    TooLarge,
    /// Not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// `alg` is `none` or outside the allow-list of every configured key.
    #[error("token algorithm not accepted")]
    AlgorithmNotAccepted,
    /// A `crit` header names an extension this verifier does not understand.
    #[error("unsupported critical header")]
    UnsupportedCritical,
    /// No configured key has the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The keys could not be fetched and the cached ones are too old to use.
    #[error("signing keys unavailable")]
    KeysUnavailable,
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
    /// `iat` is older than `INTERCEPT_JWT_MAX_AGE_SECONDS` allows.
    #[error("token too old")]
    TooOld,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` (or `client_id`, in a token without `aud`) names none of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// `token_use` (Cognito's `access` or `id`) is not one `INTERCEPT_JWT_TOKEN_USE` accepts.
    #[error("token_use not accepted")]
    TokenUseNotAccepted,
    /// A claim the verifier needs is absent or of the wrong type.
    #[error("missing or invalid claim `{0}`")]
    Claim(&'static str),
    /// The API key matches none of the configured keys.
    #[error("invalid api key")]
    InvalidApiKey,
    /// More than one header (matched case-insensitively) has the name a credential is read
    /// from, so the one verified might not be the one the handler sees.
    #[error("more than one {0} header")]
    DuplicateHeader(String),
    /// The cookie the token is read from is given more than once.
    #[error("more than one {0} cookie")]
    DuplicateCookie(String),
    /// Two of the places a token is read from (`Authorization`, the configured header, the
    /// configured cookie) hold different tokens.
    #[error("different tokens in more than one credential location")]
    ConflictingTokens,
}

impl AuthError {
    /// A short machine-readable reason for spans and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::TooLarge => "token_too_large",
            AuthError::Malformed => "malformed_token",
            AuthError::AlgorithmNotAccepted => "algorithm_not_accepted",
            AuthError::UnsupportedCritical => "unsupported_critical_header",
            AuthError::UnknownKey => "unknown_key",
            AuthError::KeysUnavailable => "keys_unavailable",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::TooOld => "token_too_old",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::TokenUseNotAccepted => "token_use_not_accepted",
            AuthError::Claim(_) => "invalid_claim",
            AuthError::InvalidApiKey => "invalid_api_key",
            AuthError::DuplicateHeader(_) => "duplicate_credential_header",
            AuthError::DuplicateCookie(_) => "duplicate_credential_cookie",
            AuthError::ConflictingTokens => "conflicting_credentials",
        }
    }
}
