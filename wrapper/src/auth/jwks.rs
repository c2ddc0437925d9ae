//! Keys from a JWKS URL, or from the `jwks_uri` of an OIDC issuer's discovery document.

use std::sync::OnceLock;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;

use super::keys::{KeySet, VerifyingKey};
use super::source::{FetchError, Fetched};

/// Where the JWKS is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwksLocation {
    Url(String),
    Issuer(String),
}

#[derive(Debug)]
pub(crate) struct JwksFetcher {
    pub(crate) client: reqwest::Client,
    pub(crate) location: JwksLocation,
    pub(crate) algorithms: Vec<Algorithm>,
    jwks_uri: OnceLock<String>,
}

#[derive(serde::Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl JwksFetcher {
    pub(crate) fn new(
        location: JwksLocation,
        algorithms: Vec<Algorithm>,
        timeout: Duration,
    ) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|error| FetchError(format!("cannot build the HTTP client: {error}")))?;
        Ok(JwksFetcher { client, location, algorithms, jwks_uri: OnceLock::new() })
    }

    async fn jwks_uri(&self) -> Result<String, FetchError> {
        match &self.location {
            JwksLocation::Url(url) => Ok(url.clone()),
            JwksLocation::Issuer(issuer) => {
                if let Some(uri) = self.jwks_uri.get() {
                    return Ok(uri.clone());
                }
                let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
                let discovery: Discovery = self.get(&url).await?.json().await.map_err(|error| {
                    FetchError(format!("discovery document at {url} has no usable jwks_uri: {error}"))
                })?;
                Ok(self.jwks_uri.get_or_init(|| discovery.jwks_uri).clone())
            }
        }
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, FetchError> {
        let response = self.client.get(url).send().await.map_err(|error| FetchError(format!("GET {url}: {error}")))?;
        if !response.status().is_success() {
            return Err(FetchError(format!("GET {url}: status {}", response.status())));
        }
        Ok(response)
    }

    pub(crate) async fn fetch(&self) -> Result<Fetched, FetchError> {
        let url = self.jwks_uri().await?;
        let response = self.get(&url).await?;
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let set: JwkSet =
            response.json().await.map_err(|error| FetchError(format!("{url} is not a JWK set: {error}")))?;
        let keys: Vec<VerifyingKey> =
            set.keys.iter().filter_map(|jwk| VerifyingKey::from_jwk(jwk, &self.algorithms)).collect();
        if keys.is_empty() {
            return Err(FetchError(format!("{url} has no signing key for the allowed algorithms")));
        }
        Ok(Fetched { keys: KeySet { keys, generation: 0 }, max_age })
    }
}

/// `max-age` from a `Cache-Control` value; `no-store`/`no-cache` mean zero.
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            age = secs.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        assert_eq!(max_age("public, max-age=300, must-revalidate"), Some(Duration::from_secs(300)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
