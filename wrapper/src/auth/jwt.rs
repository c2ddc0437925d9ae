//! JWT verification: header checks, key choice, signature (ring), claims, cache.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::cache::TokenCache;
use super::claims::ClaimRules;
use super::crypto;
use super::header::{Segments, TokenHeader, read_header, with_decoded};
use super::jwks::{JwksFetcher, JwksLocation};
use super::keys::{KeySet, VerifyingKey};
use super::secrets::{SecretsFetcher, client};
use super::settings::{AwsConfig, JwtConfig, KeySourceConfig};
use super::source::{Fetcher, RefreshPolicy, RemoteKeys};
use super::{AuthError, Principal};
use crate::config::ConfigError;

#[derive(Debug)]
enum Keys {
    Static(Arc<KeySet>),
    Remote(Arc<RemoteKeys>),
}

/// Verifies bearer JWTs against keys from configuration only.
#[derive(Debug)]
pub struct JwtVerifier {
    keys: Keys,
    rules: ClaimRules,
    max_bytes: usize,
    cache: Option<TokenCache>,
}

impl JwtVerifier {
    /// A verifier for a literal secret or PEM key (`INTERCEPT_JWT_SECRET`).
    ///
    /// ```
    /// use intercept::Config;
    /// use intercept::auth::JwtVerifier;
    ///
    /// let config = Config::from_lookup(|name| match name {
    ///     "INTERCEPT_AUTH" => Some("jwt".into()),
    ///     "INTERCEPT_JWT_SECRET" => Some("a-development-secret".into()),
    ///     _ => None,
    /// })?;
    /// let verifier = JwtVerifier::new(config.auth().jwt.as_ref().expect("jwt is on"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] when the key cannot be used with the allowed algorithms, or when the
    /// key source is remote (use [`JwtVerifier::connect`]).
    pub fn new(config: &JwtConfig) -> Result<Self, ConfigError> {
        match &config.keys {
            KeySourceConfig::Secret(secret) => {
                let key = VerifyingKey::from_material(None, secret.expose(), &config.algorithms)
                    .map_err(|error| ConfigError::new("INTERCEPT_JWT_SECRET", error.to_string()))?;
                Ok(Self::with_keys(config, Keys::Static(Arc::new(KeySet { keys: vec![key], generation: 0 }))))
            }
            KeySourceConfig::SecretsManager { .. } => Err(remote("INTERCEPT_JWT_SECRET_ID")),
            KeySourceConfig::JwksUrl(_) => Err(remote("INTERCEPT_JWKS_URL")),
            KeySourceConfig::OidcIssuer(_) => Err(remote("INTERCEPT_JWT_OIDC_ISSUER")),
        }
    }

    /// A verifier whose keys are fetched now, as a function's init should (Secrets Manager,
    /// JWKS or OIDC discovery); a literal key needs no fetch.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key source's setting when the keys cannot be fetched or used.
    pub async fn connect(config: &JwtConfig, aws: Option<&AwsConfig>, now: Duration) -> Result<Self, ConfigError> {
        let policy = RefreshPolicy {
            ttl: config.keys_ttl,
            cooldown: config.kid_cooldown,
            stale_if_error: config.stale_if_error,
        };
        let (setting, fetcher) = match &config.keys {
            KeySourceConfig::Secret(_) => return Self::new(config),
            KeySourceConfig::SecretsManager { secret_id, overlap } => {
                let aws = aws.ok_or_else(|| ConfigError::new("AWS_REGION", "is needed to reach Secrets Manager"))?;
                let fetcher = SecretsFetcher {
                    client: client(aws),
                    secret_id: secret_id.clone(),
                    algorithms: config.algorithms.clone(),
                    overlap: *overlap,
                };
                ("INTERCEPT_JWT_SECRET_ID", Fetcher::SecretsManager(fetcher))
            }
            KeySourceConfig::JwksUrl(url) => jwks("INTERCEPT_JWKS_URL", JwksLocation::Url(url.clone()), config)?,
            KeySourceConfig::OidcIssuer(issuer) => {
                jwks("INTERCEPT_JWT_OIDC_ISSUER", JwksLocation::Issuer(issuer.clone()), config)?
            }
        };
        let remote = RemoteKeys::load(fetcher, policy, now)
            .await
            .map_err(|error| ConfigError::new(setting, format!("cannot load the signing keys: {error}")))?;
        Ok(Self::with_keys(config, Keys::Remote(remote)))
    }

    fn with_keys(config: &JwtConfig, keys: Keys) -> Self {
        JwtVerifier {
            keys,
            rules: ClaimRules {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                token_use: config.token_use.clone(),
                leeway: config.leeway,
                max_age: config.max_age,
            },
            max_bytes: config.max_token_bytes,
            cache: NonZeroUsize::new(config.cache_size).map(TokenCache::new),
        }
    }

    /// Verifies a token at `now` (since the Unix epoch) and returns its principal.
    ///
    /// # Errors
    /// An [`AuthError`] saying which check failed.
    pub async fn verify(&self, token: &str, now: Duration) -> Result<Arc<Principal>, AuthError> {
        if token.len() > self.max_bytes {
            return Err(AuthError::TooLarge);
        }
        let remote_keys;
        let keys = match &self.keys {
            Keys::Static(keys) => Ok(&**keys),
            Keys::Remote(remote) => {
                remote_keys = remote.current(now);
                remote_keys.as_deref().map_err(Clone::clone)
            }
        };
        let digest = self.cache.as_ref().map(|_| TokenCache::digest(token));
        if let (Some(cache), Some(digest), Ok(keys)) = (&self.cache, &digest, &keys)
            && let Some(principal) = cache.get(digest, now, keys.generation)
        {
            return Ok(principal);
        }
        let (header, segments) = read_header(token, self.max_bytes)?;
        let mut outcome = keys.and_then(|keys| Ok((self.verify_with(keys, &header, segments, now)?, keys.generation)));
        if let Keys::Remote(remote) = &self.keys
            && matches!(outcome, Err(AuthError::UnknownKey | AuthError::KeysUnavailable))
            // An unknown `kid` may be a new key; keys past their stale window may be fetchable
            // again. Either way one refetch per cooldown, then a final answer. Boxed: the fetch's
            // future is large, and every other verification would otherwise carry (and copy) it.
            && Box::pin(remote.refetch_now(now)).await
        {
            let keys = remote.current(now)?;
            outcome = Ok((self.verify_with(&keys, &header, segments, now)?, keys.generation));
        }
        let ((principal, valid_until), generation) = outcome?;
        let principal = Arc::new(principal);
        if let (Some(cache), Some(digest)) = (&self.cache, digest) {
            cache.insert(digest, principal.clone(), valid_until, generation);
        }
        Ok(principal)
    }

    /// The signature (ring, for the token's algorithm and each candidate key), then the
    /// claims; the header was read and checked once, by [`read_header`].
    fn verify_with(
        &self,
        keys: &KeySet,
        header: &TokenHeader,
        segments: Segments<'_>,
        now: Duration,
    ) -> Result<(Principal, Duration), AuthError> {
        let candidates = keys.candidates(header, now)?;
        let key = with_decoded(segments.signature, |signature| {
            // Every candidate accepts the token's algorithm and is of its family; after the
            // first, the previous secret version (during a rotation's overlap) may verify it.
            let mut candidates = candidates;
            candidates
                .find(|key| crypto::verify(header.algorithm, &key.key, segments.signed.as_bytes(), signature))
                .ok_or(AuthError::BadSignature)
        })?;
        let claims = with_decoded(segments.payload, |json| {
            serde_json::from_slice::<Map<String, Value>>(json).map_err(|_| AuthError::Malformed)
        })?;
        let checked = self.rules.check(claims, now)?;
        let valid_until = key.valid_until.map_or(checked.expires_at, |until| until.min(checked.expires_at));
        Ok((checked.principal, valid_until))
    }
}

fn remote(setting: &'static str) -> ConfigError {
    ConfigError::new(setting, "keys from here are fetched at init: build with Interceptor::connect")
}

fn jwks(
    setting: &'static str,
    location: JwksLocation,
    config: &JwtConfig,
) -> Result<(&'static str, Fetcher), ConfigError> {
    let tls = super::tls::client_config(config.ca_file.as_deref())
        .map_err(|problem| ConfigError::new("INTERCEPT_JWKS_CA_FILE", problem))?;
    let fetcher = JwksFetcher::new(location, config.algorithms.clone(), config.fetch_timeout, tls);
    Ok((setting, Fetcher::Jwks(Box::new(fetcher))))
}
