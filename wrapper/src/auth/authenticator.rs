//! The authentication filter: API key or bearer JWT, then the route's required scopes.

use std::sync::Arc;
use std::time::Duration;

use super::apikey::ApiKeys;
use super::scopes::{ScopeRule, required_scopes};
use super::secrets::{SecretsClient, client, read_secret};
use super::settings::{AuthConfig, TokenLocation};
use super::token::{find_token, single};
use super::{AuthError, JwtVerifier, Principal};
use crate::config::ConfigError;
use crate::invocation::Invocation;
use crate::rejection::Rejection;

/// Authenticates invocations with the configured schemes; built once per environment.
#[derive(Debug)]
pub struct Authenticator {
    jwt: Option<(JwtVerifier, TokenLocation)>,
    api_keys: Option<(ApiKeys, String)>,
    required_scopes: Vec<ScopeRule>,
}

impl Authenticator {
    /// Builds the filter from keys given in the settings (a literal secret or PEM key, inline
    /// API keys); remote key sources need [`Authenticator::connect`].
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting whose keys cannot be used, or that needs a fetch.
    pub fn new(config: &AuthConfig) -> Result<Option<Self>, ConfigError> {
        if !config.is_enabled() {
            return Ok(None);
        }
        let jwt = match &config.jwt {
            None => None,
            Some(jwt) => Some((JwtVerifier::new(jwt)?, jwt.token.clone())),
        };
        let api_keys = match &config.api_keys {
            Some(keys) if keys.secret_id.is_some() => {
                return Err(ConfigError::new(
                    "INTERCEPT_API_KEYS_SECRET_ID",
                    "needs a fetch at init: build with Interceptor::connect",
                ));
            }
            Some(keys) => Some((keys.keys.clone(), keys.header.clone())),
            None => None,
        };
        Ok(Some(Authenticator { jwt, api_keys, required_scopes: config.required_scopes.clone() }))
    }

    /// Builds the filter, fetching keys from Secrets Manager, a JWKS URL or an OIDC issuer
    /// now, so a source that cannot be reached fails init rather than requests.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting whose keys cannot be fetched or used.
    pub async fn connect(config: &AuthConfig, now: Duration) -> Result<Option<Self>, ConfigError> {
        if !config.is_enabled() {
            return Ok(None);
        }
        let jwt = match &config.jwt {
            None => None,
            Some(jwt) => Some((JwtVerifier::connect(jwt, config.aws.as_ref(), now).await?, jwt.token.clone())),
        };
        let api_keys = match &config.api_keys {
            None => None,
            Some(keys) => {
                let mut all = keys.keys.clone();
                if let (Some(secret_id), Some(aws)) = (&keys.secret_id, &config.aws) {
                    all = load_api_keys(&client(aws), secret_id).await?.merged(all);
                }
                Some((all, keys.header.clone()))
            }
        };
        Ok(Some(Authenticator { jwt, api_keys, required_scopes: config.required_scopes.clone() }))
    }

    /// Authenticates one invocation at `now` and checks the route's required scopes.
    ///
    /// # Errors
    /// [`Rejection::Unauthorized`] for missing or bad credentials, [`Rejection::Forbidden`]
    /// for a principal without a required scope.
    pub async fn authenticate(&self, invocation: &Invocation, now: Duration) -> Result<Arc<Principal>, Rejection> {
        if let Some((_, header)) = &self.api_keys {
            single(invocation, header).map_err(Rejection::Unauthorized)?;
        }
        let api_key = self.api_keys.as_ref().and_then(|(keys, header)| Some((keys, invocation.header(header)?)));
        let principal = match (api_key, &self.jwt) {
            (Some((keys, presented)), _) => keys.verify(presented.trim()),
            (None, Some((verifier, location))) => match find_token(invocation, location) {
                Ok(token) => verifier.verify(token, now).await,
                Err(error) => Err(error),
            },
            (None, None) => Err(AuthError::MissingToken),
        }
        .map_err(Rejection::Unauthorized)?;
        if let Some(required) = required_scopes(&self.required_scopes, invocation)
            && !principal.has_scopes(&required)
        {
            return Err(Rejection::Forbidden { required: required.into_owned() });
        }
        Ok(principal)
    }
}

async fn load_api_keys(client: &SecretsClient, secret_id: &str) -> Result<ApiKeys, ConfigError> {
    const SETTING: &str = "INTERCEPT_API_KEYS_SECRET_ID";
    let (value, _) = read_secret(client, secret_id, "AWSCURRENT")
        .await
        .map_err(|error| ConfigError::new(SETTING, error.to_string()))?
        .ok_or_else(|| ConfigError::new(SETTING, "the secret has no current version"))?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(&value)
        .map_err(|_| ConfigError::new(SETTING, "the secret is not a JSON object of principal names to keys"))?;
    ApiKeys::parse(map.iter().map(|(name, key)| (name.as_str(), key.as_str())))
        .map_err(|problem| ConfigError::new(SETTING, problem.to_string()))
}
