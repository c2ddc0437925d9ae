//! Where `INTERCEPT_POLICY` points: a file, an AWS AppConfig profile read through the AppConfig
//! Agent extension's local HTTP API, an S3 object or an SSM parameter; and one read of it.
//!
//! The AWS calls (S3 GetObject, SSM GetParameter) are signed here with the function's
//! credentials from the environment, over the same HTTPS stack as Secrets Manager's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use intercept_settings as settings;

use super::Policy;
use crate::auth::{secrets, sigv4, tls};
use crate::config::{ConfigError, Secret};

/// One read's bound (connection, headers and body).
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// The AppConfig Agent's port when `AWS_APPCONFIG_EXTENSION_HTTP_PORT` is not set.
pub(crate) const DEFAULT_APPCONFIG_PORT: u16 = 2772;
/// A policy document larger than this is refused (a policy is a few KiB).
const MAX_POLICY_BYTES: usize = 1 << 20;
/// The most an answer may carry: a policy at its limit, JSON-escaped in an SSM answer.
const MAX_ANSWER_BYTES: usize = 2 * MAX_POLICY_BYTES + 64 * 1024;

/// Where the policy is read from: the forms `INTERCEPT_POLICY` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicySource {
    /// A file path.
    File(PathBuf),
    /// `appconfig://application/environment/profile`, through the AppConfig Agent.
    AppConfig {
        /// The application's name or id.
        application: String,
        /// The environment's name or id.
        environment: String,
        /// The configuration profile's name or id.
        profile: String,
    },
    /// `s3://bucket/key`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object's key.
        key: String,
    },
    /// `ssm://parameter-name` (a name with slashes is a hierarchy: `ssm:///intercept/policy`
    /// or `ssm://intercept/policy` both name `/intercept/policy`).
    Ssm {
        /// The parameter's name.
        name: String,
    },
}

impl PolicySource {
    /// Reads `INTERCEPT_POLICY`'s value.
    ///
    /// ```
    /// use intercept::policy::PolicySource;
    ///
    /// let source = PolicySource::parse("s3://policies/orders.yaml")?;
    /// assert_eq!(source, PolicySource::S3 { bucket: "policies".into(), key: "orders.yaml".into() });
    /// assert!(PolicySource::parse("appconfig://app/prod").is_err());
    /// # Ok::<(), intercept::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// A [`ConfigError`] naming `INTERCEPT_POLICY` for a URL of an unknown scheme or missing
    /// parts.
    pub fn parse(value: &str) -> Result<PolicySource, ConfigError> {
        let value = value.trim();
        let bad = |problem: String| ConfigError::new(settings::POLICY, problem);
        let Some((scheme, rest)) = value.split_once("://") else {
            return Ok(PolicySource::File(PathBuf::from(value)));
        };
        match scheme {
            "appconfig" => {
                let parts: Vec<&str> = rest.split('/').collect();
                match parts.as_slice() {
                    [application, environment, profile]
                        if [application, environment, profile].iter().all(|p| !p.is_empty()) =>
                    {
                        Ok(PolicySource::AppConfig {
                            application: (*application).to_owned(),
                            environment: (*environment).to_owned(),
                            profile: (*profile).to_owned(),
                        })
                    }
                    _ => Err(bad(format!(
                        "`{value}` is not an AppConfig location; expected appconfig://application/environment/profile"
                    ))),
                }
            }
            "s3" => match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(PolicySource::S3 { bucket: bucket.to_owned(), key: key.to_owned() })
                }
                _ => Err(bad(format!("`{value}` is not an S3 object; expected s3://bucket/key"))),
            },
            "ssm" => {
                let name = rest.trim_start_matches('/');
                if name.is_empty() {
                    return Err(bad(format!("`{value}` names no parameter; expected ssm://parameter-name")));
                }
                // A name with a slash is a path: SSM wants its leading slash.
                let name = if name.contains('/') { format!("/{name}") } else { name.to_owned() };
                Ok(PolicySource::Ssm { name })
            }
            "file" => Ok(PolicySource::File(PathBuf::from(rest))),
            other => Err(bad(format!(
                "`{other}://` is not a policy source; expected a file path, appconfig://, s3:// or ssm://"
            ))),
        }
    }

    /// Whether the source is a local file (re-checked by modification time and size between
    /// invocations, besides the poll).
    #[must_use]
    pub fn is_file(&self) -> bool {
        matches!(self, PolicySource::File(_))
    }
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::File(path) => write!(f, "{}", path.display()),
            PolicySource::AppConfig { application, environment, profile } => {
                write!(f, "appconfig://{application}/{environment}/{profile}")
            }
            PolicySource::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            PolicySource::Ssm { name } => write!(f, "ssm://{}", name.trim_start_matches('/')),
        }
    }
}

/// The credentials and endpoints a read needs, taken from the environment once.
#[derive(Clone)]
pub(crate) struct Reader {
    source: PolicySource,
    appconfig_port: u16,
    region: Option<String>,
    endpoint: Option<String>,
    credentials: Option<(String, Secret, Option<String>)>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("source", &self.source).field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// How a read failed; the message names the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadError(pub(crate) String);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Reader {
    /// A reader of `source` with what the environment gives (`lookup`).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the variable at fault: a malformed
    /// `AWS_APPCONFIG_EXTENSION_HTTP_PORT`, or a region or credentials missing for S3 and SSM.
    pub(crate) fn new(source: PolicySource, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Reader, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let appconfig_port = match get("AWS_APPCONFIG_EXTENSION_HTTP_PORT") {
            None => DEFAULT_APPCONFIG_PORT,
            Some(text) => text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                ConfigError::new("AWS_APPCONFIG_EXTENSION_HTTP_PORT", format!("`{text}` is not a port (1-65535)"))
            })?,
        };
        let mut reader = Reader { source, appconfig_port, region: None, endpoint: None, credentials: None };
        let service = match &reader.source {
            PolicySource::S3 { .. } => ("S3", "AWS_ENDPOINT_URL_S3"),
            PolicySource::Ssm { .. } => ("SSM", "AWS_ENDPOINT_URL_SSM"),
            _ => return Ok(reader),
        };
        let need = |name: &'static str| {
            get(name).ok_or_else(|| {
                ConfigError::new(name, format!("is not set, and reading the policy from {} needs it", service.0))
            })
        };
        reader.region = Some(get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).ok_or_else(|| {
            ConfigError::new("AWS_REGION", format!("is not set, and reading the policy from {} needs it", service.0))
        })?);
        reader.endpoint =
            get(service.1).or_else(|| get("AWS_ENDPOINT_URL")).map(|e| e.trim_end_matches('/').to_owned());
        reader.credentials = Some((
            need("AWS_ACCESS_KEY_ID")?,
            Secret::new(need("AWS_SECRET_ACCESS_KEY")?.into_bytes()),
            get("AWS_SESSION_TOKEN"),
        ));
        Ok(reader)
    }

    pub(crate) fn source(&self) -> &PolicySource {
        &self.source
    }

    /// Reads the policy's text once.
    ///
    /// # Errors
    /// Why it could not be read, naming the source.
    pub(crate) async fn read(&self) -> Result<String, ReadError> {
        let text = match &self.source {
            PolicySource::File(path) => {
                // At most one byte past the limit is read, so an oversized file is refused below
                // without holding it.
                use tokio::io::AsyncReadExt as _;
                let cannot = |error: std::io::Error| {
                    ReadError(format!("cannot read the policy file {}: {error}", path.display()))
                };
                let file = tokio::fs::File::open(path).await.map_err(cannot)?;
                let mut text = Vec::new();
                file.take(MAX_POLICY_BYTES as u64 + 1).read_to_end(&mut text).await.map_err(cannot)?;
                text
            }
            PolicySource::AppConfig { application, environment, profile } => {
                let url = format!(
                    "http://localhost:{}/applications/{}/environments/{}/configurations/{}",
                    self.appconfig_port,
                    sigv4::encode_segment(application),
                    sigv4::encode_segment(environment),
                    sigv4::encode_segment(profile)
                );
                self.exchange(http::Request::get(&url), Bytes::new(), &url).await?
            }
            PolicySource::S3 { bucket, key } => self.get_object(bucket, key).await?,
            PolicySource::Ssm { name } => self.get_parameter(name).await?,
        };
        if text.len() > MAX_POLICY_BYTES {
            return Err(ReadError(format!(
                "{} is over {MAX_POLICY_BYTES} bytes, the most a policy may be",
                self.source
            )));
        }
        String::from_utf8(text).map_err(|_| ReadError(format!("{} is not UTF-8 text", self.source)))
    }

    fn signing(&self) -> (sigv4::Credentials<'_>, &str) {
        let (id, secret, token) = self.credentials.as_ref().expect("S3 and SSM readers have credentials");
        let credentials = sigv4::Credentials {
            access_key_id: id,
            secret_access_key: secret.expose(),
            session_token: token.as_deref(),
        };
        (credentials, self.region.as_deref().unwrap_or_default())
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, ReadError> {
        let (credentials, region) = self.signing();
        let key = key.split('/').map(sigv4::encode_segment).collect::<Vec<_>>().join("/");
        let url = match &self.endpoint {
            // A local endpoint (moto, LocalStack) is addressed path-style.
            Some(endpoint) => format!("{endpoint}/{bucket}/{key}"),
            // A bucket named with dots cannot be a virtual host under S3's wildcard certificate:
            // path-style, as the AWS SDKs address it.
            None if bucket.contains('.') => {
                format!("https://s3.{region}.{}/{bucket}/{key}", secrets::dns_suffix(region))
            }
            None => format!("https://{bucket}.s3.{region}.{}/{key}", secrets::dns_suffix(region)),
        };
        let uri: http::Uri = url.parse().map_err(|error| ReadError(format!("S3 URL `{url}`: {error}")))?;
        let host = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let hash = sigv4::payload_hash(b"");
        let headers = [("host", host.as_str()), ("x-amz-content-sha256", hash.as_str())];
        let unsigned = sigv4::Request { method: "GET", path: uri.path(), headers: &headers, payload: b"" };
        let signed = sigv4::sign_s3(&unsigned, &credentials, region, SystemTime::now());
        let mut request = http::Request::get(uri);
        for (name, value) in headers.iter().copied().chain(signed.iter().map(|(n, v)| (*n, v.as_str()))) {
            request = request.header(name, value);
        }
        self.exchange(request, Bytes::new(), &format!("s3://{bucket}/{key}")).await
    }

    async fn get_parameter(&self, name: &str) -> Result<Vec<u8>, ReadError> {
        let (credentials, region) = self.signing();
        let url = match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/"),
            None => format!("https://ssm.{region}.{}/", secrets::dns_suffix(region)),
        };
        let uri: http::Uri = url.parse().map_err(|error| ReadError(format!("SSM URL `{url}`: {error}")))?;
        let host = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let body = serde_json::json!({"Name": name, "WithDecryption": true}).to_string();
        let headers = [
            ("host", host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.GetParameter"),
        ];
        let unsigned = sigv4::Request { method: "POST", path: uri.path(), headers: &headers, payload: body.as_bytes() };
        let signed = sigv4::sign(&unsigned, &credentials, region, "ssm", SystemTime::now());
        let mut request = http::Request::post(uri);
        for (name, value) in headers.iter().copied().chain(signed.iter().map(|(n, v)| (*n, v.as_str()))) {
            request = request.header(name, value);
        }
        let what = format!("ssm://{}", name.trim_start_matches('/'));
        let answer = self.exchange(request, Bytes::from(body), &what).await?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Output {
            parameter: Parameter,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Parameter {
            value: String,
        }
        let output: Output = serde_json::from_slice(&answer)
            .map_err(|error| ReadError(format!("{what}: GetParameter answered something unreadable: {error}")))?;
        Ok(output.parameter.value.into_bytes())
    }

    /// Sends `request` with `body`; the answer's body when its status is 2xx.
    async fn exchange(&self, request: http::request::Builder, body: Bytes, what: &str) -> Result<Vec<u8>, ReadError> {
        let client = http_client().map_err(|problem| ReadError(format!("{what}: TLS setup: {problem}")))?;
        let request = request
            .body(Full::new(body))
            .map_err(|error| ReadError(format!("{what}: a header cannot be sent: {error}")))?;
        let exchange = async {
            let response = client.request(request).await.map_err(|error| intercept_tls::error_chain(&error))?;
            let (parts, body) = response.into_parts();
            // Bounded while it is read: an answer far over a policy's size is not held in memory.
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|error| match error.downcast_ref::<http_body_util::LengthLimitError>() {
                    Some(_) => format!("the answer is over {MAX_ANSWER_BYTES} bytes, more than a policy may be"),
                    None => intercept_tls::error_chain(&*error),
                })?
                .to_bytes();
            Ok::<_, String>((parts.status, body))
        };
        let (status, body) = tokio::time::timeout(READ_TIMEOUT, exchange)
            .await
            .map_err(|_| ReadError(format!("{what}: no answer within {READ_TIMEOUT:?}")))?
            .map_err(|problem| ReadError(format!("{what}: {problem}")))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let detail: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Err(ReadError(format!("{what}: status {status}: {}", detail.trim())))
    }
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// One client for every read of the process (its connection pool is reused by each poll).
fn http_client() -> Result<&'static HttpsClient, String> {
    static CLIENT: OnceLock<Result<HttpsClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| tls::client_config(None).map(|config| tls::https_client(config, READ_TIMEOUT)))
        .as_ref()
        .map_err(Clone::clone)
}

/// Texts of remote sources read at init, for [`load_at_init`]: `Config::from_lookup` is not
/// async, so the async start-up ([`crate::Options::run`], the extension, [`prefetch`]) reads
/// the source first and leaves the text here.
fn prefetched() -> std::sync::MutexGuard<'static, HashMap<String, String>> {
    static TEXTS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    TEXTS.get_or_init(Mutex::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads a remote `INTERCEPT_POLICY` (AppConfig, S3, SSM) once, so that
/// [`crate::Config::from_lookup`] can build on it; a file needs no prefetch.
///
/// # Errors
/// A [`ConfigError`] naming `INTERCEPT_POLICY` (and the source) when it cannot be read, or
/// the variable the reader needs.
pub async fn prefetch(lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let Some(value) = lookup(settings::POLICY).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let source = PolicySource::parse(&value)?;
    if source.is_file() {
        return Ok(());
    }
    let reader = Reader::new(source, &lookup)?;
    let text = reader
        .read()
        .await
        .map_err(|error| ConfigError::new(settings::POLICY, format!("the policy cannot be read at init: {error}")))?;
    prefetched().insert(reader.source().to_string(), text);
    Ok(())
}

/// The policy `INTERCEPT_POLICY` names, for init: a file is read now; a remote source must have
/// been read by [`prefetch`].
pub(crate) fn load_at_init(value: &str) -> Result<Policy, ConfigError> {
    let source = PolicySource::parse(value)?;
    let parsed = match &source {
        PolicySource::File(path) => Policy::load(path),
        remote => {
            let name = remote.to_string();
            let text = prefetched().get(&name).cloned().ok_or_else(|| {
                ConfigError::new(
                    settings::POLICY,
                    format!(
                        "`{name}` is read over the network at init: intercept::run and the extension read it; \
                         a program building its own Config calls intercept::policy::prefetch first"
                    ),
                )
            })?;
            Policy::parse(&name, &text)
        }
    };
    parsed.map_err(|errors| ConfigError::new(settings::POLICY, format!("the policy file has errors:\n{errors}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_intercept_policy_is_read() {
        let parse = |text: &str| PolicySource::parse(text);
        assert_eq!(parse("/var/task/policy.yaml"), Ok(PolicySource::File("/var/task/policy.yaml".into())));
        assert_eq!(
            parse("appconfig://orders/prod/intercept"),
            Ok(PolicySource::AppConfig {
                application: "orders".into(),
                environment: "prod".into(),
                profile: "intercept".into()
            })
        );
        assert_eq!(parse("s3://b/dir/p.yaml"), Ok(PolicySource::S3 { bucket: "b".into(), key: "dir/p.yaml".into() }));
        assert_eq!(parse("ssm://intercept-policy"), Ok(PolicySource::Ssm { name: "intercept-policy".into() }));
        assert_eq!(parse("ssm:///app/policy"), Ok(PolicySource::Ssm { name: "/app/policy".into() }));
        assert_eq!(parse("ssm://app/policy").map(|s| s.to_string()), Ok("ssm://app/policy".to_owned()));
        for bad in ["appconfig://a/b", "appconfig://a//c", "s3://bucket", "s3:///key", "ssm://", "https://x/y"] {
            let error = parse(bad).expect_err(bad);
            assert_eq!(error.setting, "INTERCEPT_POLICY", "{bad}");
            assert!(error.problem.contains(bad.split("://").next().unwrap_or_default()), "{error}");
        }
    }

    #[test]
    fn remote_sources_name_what_they_miss() {
        let source = PolicySource::parse("s3://b/k").expect("valid");
        let error = Reader::new(source.clone(), &|_| None).expect_err("no region");
        assert_eq!(error.setting, "AWS_REGION");
        let error =
            Reader::new(source, &|k| (k == "AWS_REGION").then(|| "eu-west-1".to_owned())).expect_err("no credentials");
        assert_eq!(error.setting, "AWS_ACCESS_KEY_ID");
        let appconfig = PolicySource::parse("appconfig://a/b/c").expect("valid");
        let error = Reader::new(appconfig, &|k| (k == "AWS_APPCONFIG_EXTENSION_HTTP_PORT").then(|| "x".to_owned()))
            .expect_err("bad port");
        assert_eq!(error.setting, "AWS_APPCONFIG_EXTENSION_HTTP_PORT");
    }

    /// The AppConfig Agent is a Lambda extension that cannot run here: a small HTTP server
    /// answers its local API's path instead (the emulator's `--appconfig` is tested end to end).
    #[tokio::test]
    async fn appconfig_is_read_from_the_agent_port_and_remote_texts_are_prefetched_for_init() {
        use axum::routing::get;
        let app = axum::Router::new().route(
            "/applications/{app}/environments/{env}/configurations/{profile}",
            get(|axum::extract::Path((app, env, profile)): axum::extract::Path<(String, String, String)>| async move {
                if (app.as_str(), env.as_str(), profile.as_str()) == ("orders", "prod", "policy") {
                    Ok("routes:\n  GET /health:\n    auth: none\n".to_owned())
                } else if profile == "huge" {
                    // Far past the limit: refused while it is read, not after.
                    Ok(format!("# {}\n", "x".repeat(8 * MAX_POLICY_BYTES)))
                } else {
                    Err(axum::http::StatusCode::NOT_FOUND)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let env = move |policy: &'static str| {
            let port = port.clone();
            move |name: &str| match name {
                "INTERCEPT_POLICY" => Some(policy.to_owned()),
                "AWS_APPCONFIG_EXTENSION_HTTP_PORT" => Some(port.clone()),
                "INTERCEPT_DISABLE" => Some("telemetry".to_owned()),
                _ => None,
            }
        };
        let good = env("appconfig://orders/prod/policy");
        prefetch(&good).await.expect("read");
        let config = crate::Config::from_lookup(&good).expect("built on the prefetched text");
        assert_eq!(config.policy.routes().len(), 1);
        assert!(config.audit().expect("audit").contains("source=appconfig://orders/prod/policy"));
        let missing = env("appconfig://orders/prod/other");
        let error = prefetch(&missing).await.expect_err("404");
        assert_eq!(error.setting, "INTERCEPT_POLICY");
        assert!(error.problem.contains("appconfig://orders/prod/other") || error.problem.contains("404"), "{error}");
        let error = crate::Config::from_lookup(env("s3://never/read")).expect_err("not prefetched");
        assert!(error.problem.contains("intercept::policy::prefetch"), "{error}");
        let huge = env("appconfig://orders/prod/huge");
        let error = prefetch(&huge).await.expect_err("over the limit");
        assert!(error.problem.contains(&format!("over {MAX_ANSWER_BYTES} bytes")), "{error}");
    }

    #[tokio::test]
    async fn a_policy_file_over_the_limit_is_refused_naming_the_limit() {
        let path = std::env::temp_dir().join(format!("intercept-huge-policy-{}.yaml", std::process::id()));
        std::fs::write(&path, format!("# {}\n", "x".repeat(MAX_POLICY_BYTES))).expect("write");
        let reader = Reader::new(PolicySource::File(path.clone()), &|_| None).expect("a file needs nothing");
        let read = reader.read().await;
        let _ = std::fs::remove_file(&path);
        let error = read.expect_err("over the limit");
        assert!(error.0.contains(&format!("over {MAX_POLICY_BYTES} bytes")), "{}", error.0);
    }
}
