//! Keys and API keys from AWS Secrets Manager: the current version, and the previous one
//! during an overlap window after a rotation.
//!
//! The one call made, GetSecretValue, is sent by a small client over the HTTPS stack the
//! JWKS fetch already uses and signed here ([`super::sigv4`]): the AWS SDK it replaces was
//! ~1.5 MB of the extension for this single operation (issue 24).

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::Algorithm;
use rand::Rng as _;

use super::keys::{KeySet, VerifyingKey};
use super::settings::AwsConfig;
use super::sigv4;
use super::source::{FetchError, Fetched};

/// One attempt's bound, headers and body: the JWKS fetch's default (`INTERCEPT_JWKS_TIMEOUT_MS`),
/// as the SDK client had no operation timeout of its own.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts per read, as the SDK's standard retry mode made.
const MAX_ATTEMPTS: u32 = 3;
/// The first retry waits up to this long (full jitter), doubling after; smaller than the
/// SDK's 1 s so three attempts fit well inside Lambda's 10 s init.
const BACKOFF_BASE: Duration = Duration::from_millis(200);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A Secrets Manager client with explicit credentials: no global provider chain is
/// consulted, and TLS is rustls over ring.
pub(crate) struct SecretsClient(Box<Inner>);

struct Inner {
    /// The TLS setup's failure, kept to be reported by each read (it cannot happen with the
    /// ring provider and no CA file, but is not assumed away).
    http: Result<HttpsClient, String>,
    endpoint: String,
    aws: AwsConfig,
}

impl std::fmt::Debug for SecretsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsClient").field("endpoint", &self.0.endpoint).field("aws", &self.0.aws).finish()
    }
}

/// Builds a Secrets Manager client from explicit settings: the endpoint is `endpoint_url`
/// when set, else the region's.
pub(crate) fn client(aws: &AwsConfig) -> SecretsClient {
    let http = super::tls::client_config(None).map(|tls| {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client::builder(TokioExecutor::new()).build(connector)
    });
    let endpoint = aws
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("https://secretsmanager.{}.{}", aws.region, dns_suffix(&aws.region)));
    SecretsClient(Box::new(Inner { http, endpoint, aws: aws.clone() }))
}

/// The DNS suffix of the region's partition, as the SDK's endpoint rules resolve it.
fn dns_suffix(region: &str) -> &'static str {
    const PARTITIONS: [(&str, &str); 6] = [
        ("cn-", "amazonaws.com.cn"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("us-isof-", "csp.hci.ic.gov"),
        ("us-iso-", "c2s.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
        ("eusc-", "amazonaws.eu"),
    ];
    PARTITIONS.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("amazonaws.com", |(_, suffix)| suffix)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSecretValueOutput {
    secret_string: Option<String>,
    secret_binary: Option<String>,
    /// Epoch seconds, possibly fractional.
    created_date: Option<f64>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type", alias = "code")]
    kind: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// Why one GetSecretValue failed: AWS's error code (and message), or the exchange itself.
#[derive(Debug)]
enum CallError {
    Service { status: http::StatusCode, code: String, message: Option<String> },
    Exchange(String),
}

impl CallError {
    /// Whether the SDK's standard retry mode retries it: the exchange failed, a server
    /// error, or throttling.
    fn is_transient(&self) -> bool {
        match self {
            CallError::Exchange(_) => true,
            CallError::Service { status, code, .. } => {
                status.is_server_error()
                    || *status == http::StatusCode::TOO_MANY_REQUESTS
                    || code.contains("Throttl")
                    || code == "RequestTimeout"
                    || code == "RequestTimeoutException"
            }
        }
    }

    fn detail(&self) -> String {
        match self {
            CallError::Service { code, message: Some(message), .. } => format!("{code}: {message}"),
            CallError::Service { code, message: None, .. } => code.clone(),
            CallError::Exchange(problem) => problem.clone(),
        }
    }
}

impl SecretsClient {
    /// One GetSecretValue, its body on success.
    async fn get_secret_value(&self, secret_id: &str, stage: &str) -> Result<Bytes, CallError> {
        let Inner { http, endpoint, aws } = &*self.0;
        let http = http.as_ref().map_err(|problem| CallError::Exchange(format!("TLS setup: {problem}")))?;
        let url = endpoint;
        let uri: http::Uri = url.parse().map_err(|error| CallError::Exchange(format!("endpoint `{url}`: {error}")))?;
        let host = uri
            .authority()
            .ok_or_else(|| CallError::Exchange(format!("endpoint `{url}` has no host")))?
            .as_str()
            .to_owned();
        let body = serde_json::json!({"SecretId": secret_id, "VersionStage": stage}).to_string();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "secretsmanager.GetSecretValue"),
        ];
        let token = aws.session_token.as_ref().map(|token| String::from_utf8_lossy(token.expose()).into_owned());
        let credentials = sigv4::Credentials {
            access_key_id: &aws.access_key_id,
            secret_access_key: aws.secret_access_key.expose(),
            session_token: token.as_deref(),
        };
        let unsigned = sigv4::Request { method: "POST", path: uri.path(), headers: &headers, payload: body.as_bytes() };
        let signed = sigv4::sign(&unsigned, &credentials, &aws.region, "secretsmanager", SystemTime::now());

        let mut request = http::Request::post(uri.clone());
        for (name, value) in headers.iter().copied().chain(signed.iter().map(|(name, value)| (*name, value.as_str()))) {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| CallError::Exchange(format!("a header cannot be sent: {error}")))?;
        let exchange = async {
            let response = http
                .request(request)
                .await
                .map_err(|error| CallError::Exchange(format!("POST {url}: {}", with_causes(&error))))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|error| CallError::Exchange(format!("POST {url}: {}", with_causes(&error))))?
                .to_bytes();
            Ok((parts, body))
        };
        let (parts, body) = tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
            .await
            .map_err(|_| CallError::Exchange(format!("POST {url}: no answer within {ATTEMPT_TIMEOUT:?}")))??;
        if parts.status.is_success() {
            return Ok(body);
        }
        Err(service_error(parts.status, &parts.headers, &body))
    }

    /// GetSecretValue, retried as the SDK's standard mode did: transient failures only.
    async fn get_secret_value_retried(&self, secret_id: &str, stage: &str) -> Result<Bytes, CallError> {
        let mut attempt = 1;
        loop {
            match self.get_secret_value(secret_id, stage).await {
                Err(error) if error.is_transient() && attempt < MAX_ATTEMPTS => {
                    let ceiling = BACKOFF_BASE * 2u32.pow(attempt - 1);
                    let wait = ceiling.mul_f64(rand::rng().random::<f64>());
                    tracing::debug!(secret_id, stage, attempt, problem = %error.detail(), ?wait, "retrying GetSecretValue");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

/// AWS's error code from `x-amzn-errortype` or the body's `__type`/`code`, without the
/// namespace (`com.amazonaws.secretsmanager#`) or a trailing `:<uri>`; the status when the
/// body is not AWS's.
fn service_error(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> CallError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let header = headers.get("x-amzn-errortype").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let message = parsed.as_ref().and_then(|error| error.message.clone());
    let code = header
        .or_else(|| parsed.and_then(|error| error.kind))
        .map(|code| {
            let code = code.split(':').next().unwrap_or_default();
            code.rsplit('#').next().unwrap_or_default().to_owned()
        })
        .filter(|code| !code.is_empty())
        .unwrap_or_else(|| format!("status {status}"));
    CallError::Service { status, code, message }
}

/// An error and its causes (hyper's own message is only "client error (Connect)").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Reads a secret's value, its string or its binary as bytes, and when it was created;
/// `None` when a stage other than `AWSCURRENT` has no version.
pub(crate) async fn read_secret(
    client: &SecretsClient,
    secret_id: &str,
    stage: &str,
) -> Result<Option<(Vec<u8>, Option<Duration>)>, FetchError> {
    let body = match client.get_secret_value_retried(secret_id, stage).await {
        Ok(body) => body,
        Err(CallError::Service { code, .. }) if code == "ResourceNotFoundException" && stage != "AWSCURRENT" => {
            return Ok(None);
        }
        Err(error) => {
            return Err(FetchError(format!("cannot read secret `{secret_id}` ({stage}): {}", error.detail())));
        }
    };
    let output: GetSecretValueOutput = serde_json::from_slice(&body).map_err(|error| {
        FetchError(format!("cannot read secret `{secret_id}` ({stage}): not a GetSecretValue answer: {error}"))
    })?;
    let created = output
        .created_date
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .map(|date| Duration::from_secs(date.as_secs()));
    let value = match (output.secret_string, output.secret_binary) {
        (Some(text), _) => text.into_bytes(),
        (None, Some(blob)) => base64::engine::general_purpose::STANDARD.decode(blob).map_err(|_| {
            FetchError(format!("cannot read secret `{secret_id}` ({stage}): SecretBinary is not base64"))
        })?,
        (None, None) => return Err(FetchError(format!("secret `{secret_id}` has no value"))),
    };
    Ok(Some((value, created)))
}

/// Fetches a JWT secret (an HMAC secret or a PEM public key) by id or ARN.
#[derive(Debug)]
pub(crate) struct SecretsFetcher {
    pub(crate) client: SecretsClient,
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
