//! Keys and API keys from AWS Secrets Manager: the current version, and the previous one
//! during an overlap window after a rotation.

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use jsonwebtoken::Algorithm;

use super::keys::{KeySet, VerifyingKey};
use super::settings::AwsConfig;
use super::source::{FetchError, Fetched};

/// Builds a Secrets Manager client from explicit settings: no global provider chain is
/// consulted, and TLS is rustls over ring.
pub(crate) fn client(aws: &AwsConfig) -> Client {
    let mut config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(aws.region.clone()))
        .credentials_provider(Credentials::new(
            aws.access_key_id.clone(),
            String::from_utf8_lossy(aws.secret_access_key.expose()).into_owned(),
            aws.session_token.as_ref().map(|token| String::from_utf8_lossy(token.expose()).into_owned()),
            None,
            "intercept-environment",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        );
    if let Some(endpoint) = &aws.endpoint_url {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

/// Reads a secret's value: its string, or its binary as bytes.
pub(crate) async fn read_secret(
    client: &Client,
    secret_id: &str,
    stage: &str,
) -> Result<Option<(Vec<u8>, Option<Duration>)>, FetchError> {
    let result = client.get_secret_value().secret_id(secret_id).version_stage(stage).send().await;
    let output = match result {
        Ok(output) => output,
        Err(error) => {
            let service = error.as_service_error();
            if service.is_some_and(|e| e.is_resource_not_found_exception()) && stage != "AWSCURRENT" {
                return Ok(None);
            }
            let detail = service.map_or_else(|| error.to_string(), |e| e.meta().code().unwrap_or("error").to_owned());
            return Err(FetchError(format!("cannot read secret `{secret_id}` ({stage}): {detail}")));
        }
    };
    let created = output.created_date().and_then(|date| u64::try_from(date.secs()).ok()).map(Duration::from_secs);
    let value = match (output.secret_string(), output.secret_binary()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(blob)) => blob.as_ref().to_vec(),
        (None, None) => return Err(FetchError(format!("secret `{secret_id}` has no value"))),
    };
    Ok(Some((value, created)))
}

/// Fetches a JWT secret (an HMAC secret or a PEM public key) by id or ARN.
#[derive(Debug)]
pub(crate) struct SecretsFetcher {
    pub(crate) client: Client,
    pub(crate) secret_id: String,
    pub(crate) algorithms: Vec<Algorithm>,
    /// How long the previous version still verifies after the current one was created.
    pub(crate) overlap: Duration,
}

impl SecretsFetcher {
    pub(crate) async fn fetch(&self) -> Result<Fetched, FetchError> {
        let (current, created) = read_secret(&self.client, &self.secret_id, "AWSCURRENT")
            .await?
            .ok_or_else(|| FetchError(format!("secret `{}` has no current version", self.secret_id)))?;
        let key = |material: &[u8]| {
            VerifyingKey::from_material(None, material, &self.algorithms)
                .map_err(|error| FetchError(format!("secret `{}`: {error}", self.secret_id)))
        };
        let mut keys = vec![key(&current)?];
        if let Some((previous, _)) = read_secret(&self.client, &self.secret_id, "AWSPREVIOUS").await? {
            // Without a creation date the overlap cannot be placed; the previous version is
            // then dropped rather than trusted forever.
            // A previous version that cannot be used (the rotation replaced a bad key) is
            // dropped with a warning: the current one is what must work.
            if let Some(created) = created {
                match key(&previous) {
                    Ok(previous) => keys.push(previous.expiring(Some(created.saturating_add(self.overlap)))),
                    Err(problem) => tracing::warn!(%problem, "the previous version of the secret is not used"),
                }
            }
        }
        Ok(Fetched { keys: KeySet { keys, generation: 0 }, max_age: None })
    }
}
