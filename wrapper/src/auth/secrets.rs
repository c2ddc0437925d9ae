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
    let http = super::tls::client_config(None).map(|tls| super::tls::https_client(tls, ATTEMPT_TIMEOUT));
    let endpoint = aws
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("https://secretsmanager.{}.{}", aws.region, dns_suffix(&aws.region)));
    SecretsClient(Box::new(Inner { http, endpoint, aws: aws.clone() }))
}

/// The DNS suffix of the region's partition, as the SDK's endpoint rules resolve it.
pub(crate) fn dns_suffix(region: &str) -> &'static str {
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
                .map_err(|error| CallError::Exchange(format!("POST {url}: {}", intercept_tls::error_chain(&error))))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|error| CallError::Exchange(format!("POST {url}: {}", intercept_tls::error_chain(&error))))?
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::config::Secret;

    /// What the scripted endpoint saw: each request's headers and body.
    type Seen = Arc<Mutex<Vec<(http::HeaderMap, String)>>>;
    /// A scripted answer: status, headers, body.
    type Answer = (u16, Vec<(&'static str, &'static str)>, String);

    /// A scripted stand-in for Secrets Manager, answering each request with the next
    /// (status, headers, body). A mock, because moto cannot be made to fail transiently or
    /// throttle; the real API's behaviour is tested against moto in tests/secrets_manager.rs.
    async fn scripted(answers: Vec<Answer>) -> (AwsConfig, Seen) {
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let seen: Seen = Arc::default();
        let recorded = seen.clone();
        let handler = move |headers: http::HeaderMap, body: String| {
            recorded.lock().expect("seen").push((headers, body));
            let (status, headers, body) = answers.lock().expect("answers").pop_front().expect("a scripted answer");
            let mut response = http::Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(name, value);
            }
            async move { response.body(axum::body::Body::from(body)).expect("response") }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let app = axum::Router::new().route("/", axum::routing::post(handler));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let aws = AwsConfig {
            region: "eu-west-1".to_owned(),
            endpoint_url: Some(format!("http://127.0.0.1:{port}")),
            access_key_id: "ASIAEXAMPLE".to_owned(),
            secret_access_key: Secret::new(b"secret".to_vec()),
            session_token: Some(Secret::new(b"the-session-token".to_vec())),
        };
        (aws, seen)
    }

    fn ok(body: serde_json::Value) -> Answer {
        (200, vec![], body.to_string())
    }

    fn failure(status: u16, kind: &str) -> Answer {
        (status, vec![], serde_json::json!({"__type": kind, "Message": "from the script"}).to_string())
    }

    #[tokio::test]
    async fn sends_a_signed_get_secret_value_and_reads_string_binary_and_date() {
        let (aws, seen) = scripted(vec![
            ok(serde_json::json!({"SecretString": "text", "CreatedDate": 1.7000000009e9})),
            ok(serde_json::json!({"SecretBinary": "AP8Q", "CreatedDate": 1_700_000_000})),
            ok(serde_json::json!({"Name": "valueless"})),
        ])
        .await;
        let client = client(&aws);
        let read = read_secret(&client, "arn:aws:secretsmanager:x", "AWSCURRENT").await.expect("read");
        assert_eq!(read, Some((b"text".to_vec(), Some(Duration::from_secs(1_700_000_000)))));
        let binary = read_secret(&client, "binary", "AWSPREVIOUS").await.expect("read");
        assert_eq!(binary, Some((vec![0x00, 0xff, 0x10], Some(Duration::from_secs(1_700_000_000)))));
        let error = read_secret(&client, "valueless", "AWSCURRENT").await.expect_err("no value");
        assert_eq!(error.0, "secret `valueless` has no value");

        let seen = seen.lock().expect("seen");
        let (headers, body) = &seen[0];
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let port = aws.endpoint_url.as_deref().and_then(|url| url.rsplit(':').next()).expect("port");
        assert_eq!(header("host"), format!("127.0.0.1:{port}"));
        assert_eq!(header("content-type"), "application/x-amz-json-1.1");
        assert_eq!(header("x-amz-target"), "secretsmanager.GetSecretValue");
        assert_eq!(header("x-amz-security-token"), "the-session-token");
        let authorization = header("authorization");
        let date = &header("x-amz-date")[..8];
        assert!(
            authorization.starts_with(&format!(
                "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/{date}/eu-west-1/secretsmanager/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
            )),
            "{authorization}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(body, serde_json::json!({"SecretId": "arn:aws:secretsmanager:x", "VersionStage": "AWSCURRENT"}));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&seen[1].1).expect("json")["VersionStage"], "AWSPREVIOUS");
    }

    #[tokio::test]
    async fn a_missing_version_is_none_except_the_current_one_which_is_named() {
        let not_found = "com.amazonaws.secretsmanager#ResourceNotFoundException";
        let (aws, seen) = scripted(vec![failure(400, not_found), failure(400, not_found)]).await;
        let client = client(&aws);
        assert_eq!(read_secret(&client, "jwt", "AWSPREVIOUS").await.expect("no previous"), None);
        let error = read_secret(&client, "jwt", "AWSCURRENT").await.expect_err("no current");
        assert_eq!(error.0, "cannot read secret `jwt` (AWSCURRENT): ResourceNotFoundException: from the script");
        assert_eq!(seen.lock().expect("seen").len(), 2, "a missing secret is not retried");
    }

    #[tokio::test]
    async fn transient_failures_are_retried_up_to_three_attempts_and_others_not_at_all() {
        let value = || ok(serde_json::json!({"SecretString": "v"}));
        let (aws, seen) = scripted(vec![
            failure(503, "ServiceUnavailable"),
            failure(400, "ThrottlingException"),
            value(),
            (500, vec![], "<html>proxy error</html>".to_owned()),
            (500, vec![], String::new()),
            (502, vec![], String::new()),
            failure(400, "AccessDeniedException"),
        ])
        .await;
        let client = client(&aws);
        let count = || seen.lock().expect("seen").len();
        assert!(read_secret(&client, "s", "AWSCURRENT").await.expect("third attempt").is_some());
        assert_eq!(count(), 3);
        let error = read_secret(&client, "s", "AWSCURRENT").await.expect_err("three server errors");
        assert_eq!(error.0, "cannot read secret `s` (AWSCURRENT): status 502 Bad Gateway");
        assert_eq!(count(), 6);
        let error = read_secret(&client, "s", "AWSCURRENT").await.expect_err("denied");
        assert_eq!(error.0, "cannot read secret `s` (AWSCURRENT): AccessDeniedException: from the script");
        assert_eq!(count(), 7, "a refusal is not retried");
    }

    #[tokio::test]
    async fn an_endpoint_that_refuses_connections_is_named_after_the_retries() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let (mut aws, _) = scripted(vec![]).await;
        aws.endpoint_url = Some(format!("http://127.0.0.1:{port}"));
        let error = read_secret(&client(&aws), "s", "AWSCURRENT").await.expect_err("refused");
        assert!(
            error.0.starts_with(&format!("cannot read secret `s` (AWSCURRENT): POST http://127.0.0.1:{port}")),
            "{}",
            error.0
        );
    }

    #[test]
    fn error_codes_come_from_the_header_or_the_body_without_namespace_or_uri() {
        let mut headers = http::HeaderMap::new();
        let code = |headers: &http::HeaderMap, body: &str| match service_error(
            http::StatusCode::BAD_REQUEST,
            headers,
            body.as_bytes(),
        ) {
            CallError::Service { code, message, .. } => (code, message),
            CallError::Exchange(problem) => panic!("{problem}"),
        };
        assert_eq!(
            code(&headers, r#"{"__type":"com.amazonaws.secretsmanager#DecryptionFailure","message":"m"}"#),
            ("DecryptionFailure".to_owned(), Some("m".to_owned()))
        );
        assert_eq!(code(&headers, r#"{"code":"InvalidRequestException"}"#).0, "InvalidRequestException");
        assert_eq!(code(&headers, "not json").0, "status 400 Bad Request");
        headers.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("ThrottlingException:http://internal.amazon.com/coral/"),
        );
        assert_eq!(code(&headers, r#"{"__type":"Other"}"#).0, "ThrottlingException");
    }

    #[test]
    fn the_default_endpoint_is_in_the_region_s_partition() {
        let endpoint = |region: &str| {
            let aws = AwsConfig {
                region: region.to_owned(),
                endpoint_url: None,
                access_key_id: String::new(),
                secret_access_key: Secret::new(Vec::new()),
                session_token: None,
            };
            client(&aws).0.endpoint.clone()
        };
        assert_eq!(endpoint("us-east-1"), "https://secretsmanager.us-east-1.amazonaws.com");
        assert_eq!(endpoint("cn-north-1"), "https://secretsmanager.cn-north-1.amazonaws.com.cn");
        assert_eq!(endpoint("us-gov-west-1"), "https://secretsmanager.us-gov-west-1.amazonaws.com");
        assert_eq!(endpoint("us-iso-east-1"), "https://secretsmanager.us-iso-east-1.c2s.ic.gov");
        assert_eq!(endpoint("us-isob-east-1"), "https://secretsmanager.us-isob-east-1.sc2s.sgov.gov");
    }
}
