//! Keys from a JWKS URL, or from the `jwks_uri` of an OIDC issuer's discovery document.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
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

/// An HTTP/1.1 client for http and https (rustls on ring, no process-wide provider).
type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

pub(crate) struct JwksFetcher {
    client: HttpsClient,
    timeout: Duration,
    pub(crate) location: JwksLocation,
    pub(crate) algorithms: Vec<Algorithm>,
    jwks_uri: OnceLock<String>,
}

#[derive(serde::Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher").field("location", &self.location).field("timeout", &self.timeout).finish()
    }
}

impl JwksFetcher {
    pub(crate) fn new(
        location: JwksLocation,
        algorithms: Vec<Algorithm>,
        timeout: Duration,
        tls: rustls::ClientConfig,
    ) -> Self {
        let client = super::tls::https_client(tls, timeout);
        JwksFetcher { client, timeout, location, algorithms, jwks_uri: OnceLock::new() }
    }

    async fn jwks_uri(&self) -> Result<String, FetchError> {
        match &self.location {
            JwksLocation::Url(url) => Ok(url.clone()),
            JwksLocation::Issuer(issuer) => {
                if let Some(uri) = self.jwks_uri.get() {
                    return Ok(uri.clone());
                }
                let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
                let (_, body) = self.get(&url).await?;
                let discovery: Discovery = serde_json::from_slice(&body).map_err(|error| {
                    FetchError(format!("discovery document at {url} has no usable jwks_uri: {error}"))
                })?;
                Ok(self.jwks_uri.get_or_init(|| discovery.jwks_uri).clone())
            }
        }
    }

    /// A GET bounded by the fetch timeout as a whole: the headers and the body.
    async fn get(&self, url: &str) -> Result<(http::HeaderMap, Bytes), FetchError> {
        let uri: http::Uri = url.parse().map_err(|error| FetchError(format!("GET {url}: {error}")))?;
        let exchange = async {
            let response = self
                .client
                .get(uri)
                .await
                .map_err(|error| FetchError(format!("GET {url}: {}", intercept_tls::error_chain(&error))))?;
            if !response.status().is_success() {
                return Err(FetchError(format!("GET {url}: status {}", response.status())));
            }
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|error| FetchError(format!("GET {url}: {error}")))?.to_bytes();
            Ok((parts.headers, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| FetchError(format!("GET {url}: no answer within {:?}", self.timeout)))?
    }

    pub(crate) async fn fetch(&self) -> Result<Fetched, FetchError> {
        let url = self.jwks_uri().await?;
        let (headers, body) = self.get(&url).await?;
        let max_age = headers.get(http::header::CACHE_CONTROL).and_then(|value| value.to_str().ok()).and_then(max_age);
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|error| FetchError(format!("{url} is not a JWK set: {error}")))?;
        let keys: Vec<VerifyingKey> =
            set.keys.iter().filter_map(|jwk| VerifyingKey::from_jwk(jwk, &self.algorithms)).collect();
        if keys.is_empty() {
            return Err(FetchError(format!("{url} has no signing key for the allowed algorithms")));
        }
        Ok(Fetched { keys: KeySet { keys, generation: 0 }, max_age })
    }
}

/// The longest lifetime a JWKS response may give its keys: an IdP's `max-age` of a year would
/// otherwise keep a key it has since withdrawn verifying here for that long.
pub(crate) const MAX_AGE_CAP: Duration = Duration::from_secs(24 * 60 * 60);

/// `max-age` from a `Cache-Control` value, at most [`MAX_AGE_CAP`]; `no-store`/`no-cache` mean
/// zero. A number too large to represent is read as the largest one, as RFC 9111 §1.2.2 says.
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            let digits = secs.trim_matches('"');
            age = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse().unwrap_or(u64::MAX))
                .map(|secs| Duration::from_secs(secs).min(MAX_AGE_CAP));
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
        assert_eq!(max_age("max-age=-5"), None);
        assert_eq!(max_age("max-age="), None);
    }

    #[test]
    fn a_max_age_past_the_cap_or_past_u64_is_capped() {
        assert_eq!(max_age("max-age=86400"), Some(MAX_AGE_CAP));
        assert_eq!(max_age("max-age=86401"), Some(MAX_AGE_CAP));
        assert_eq!(max_age("max-age=18446744073709551615"), Some(MAX_AGE_CAP));
        assert_eq!(max_age("public, max-age=99999999999999999999"), Some(MAX_AGE_CAP));
        assert_eq!(max_age("max-age=\"99999999999999999999999999999999\""), Some(MAX_AGE_CAP));
    }
}
