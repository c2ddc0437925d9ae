//! Shared helpers for the authentication tests: configs from maps, events, tokens, servers.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::Duration;

use intercept::{Config, Invocation};
use serde_json::value::RawValue;

pub mod idp;

/// A configuration from pairs, telemetry off.
pub fn config(pairs: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    map.insert("INTERCEPT_DISABLE".into(), "telemetry".into());
    Config::from_lookup(|name| map.get(name).cloned()).expect("valid config")
}

/// An HTTP API (v2) event with these headers.
pub fn event(method: &str, path: &str, headers: &[(&str, &str)]) -> Invocation {
    let headers: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
    let json = serde_json::json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path,
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "10.0.0.1"}}
    });
    Invocation::from_raw(&RawValue::from_string(json.to_string()).expect("json"))
}

/// An event carrying `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> Invocation {
    event("GET", "/orders", &[("authorization", &format!("Bearer {token}"))])
}

/// The vectors minted by PyJWT and jwcrypto (see vectors/make_vectors.py).
pub fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../vectors/interop.json")).expect("vectors")
}

pub fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/vectors/{name}.pem", env!("CARGO_MANIFEST_DIR"))).expect("pem")
}

/// A fixed "now" for injected-clock tests: 2027-01-15.
pub const NOW: Duration = Duration::from_secs(1_800_000_000);

/// Signs claims with a key from the vectors folder (`hmac:<secret>` for HMAC).
pub fn sign(alg: jsonwebtoken::Algorithm, kid: Option<&str>, key: &str, claims: &serde_json::Value) -> String {
    use jsonwebtoken::{EncodingKey, Header};
    let key = match key.strip_prefix("hmac:") {
        Some(secret) => EncodingKey::from_secret(secret.as_bytes()),
        None => {
            let pem = pem(key);
            match alg.family() {
                jsonwebtoken::AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(pem.as_bytes()),
                jsonwebtoken::AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem.as_bytes()),
                _ => EncodingKey::from_ed_pem(pem.as_bytes()),
            }
            .expect("private key")
        }
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// Standard claims valid at [`NOW`] for a subject.
pub fn claims(subject: &str) -> serde_json::Value {
    serde_json::json!({"sub": subject, "exp": NOW.as_secs() + 600, "iat": NOW.as_secs() - 10})
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// moto's Secrets Manager on a free port, killed on drop.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
    /// moto's request recording (its `MOTO_ENABLE_RECORDING`), one JSON line per request.
    recording: std::path::PathBuf,
}

impl Moto {
    /// Starts `target/venv/bin/moto_server`; fails with how to install it when it is missing.
    pub async fn start() -> Moto {
        let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/moto_server");
        assert!(
            binary.exists(),
            "moto is not installed: run scripts/test.sh, or `python3 -m venv target/venv && \
             target/venv/bin/pip install \"moto[server]\"` (looked for {})",
            binary.display()
        );
        let port = free_port();
        let recording = std::env::temp_dir().join(format!("intercept-moto-{}-{port}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&recording);
        let child = std::process::Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "1")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}"), recording };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not listen on {port} within 10 s");
    }

    /// The settings that point Intercept at this server.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ]
    }

    /// A Secrets Manager client for the test's own create, rotate and delete calls.
    pub fn client(&self) -> aws_sdk_secretsmanager::Client {
        use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }
}

impl Moto {
    /// How many `GetSecretValue` calls reached this server so far, as moto's own request
    /// recording lists them (the tests' SDK client never makes that call, so each is
    /// Intercept's: a fetch at init or a refresh).
    pub fn get_secret_value_calls(&self) -> usize {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| {
                entry["headers"].as_object().is_some_and(|headers| {
                    headers.iter().any(|(name, value)| {
                        name.eq_ignore_ascii_case("x-amz-target") && value == "secretsmanager.GetSecretValue"
                    })
                })
            })
            .count()
    }

    /// Waits (5 s at most) until more than `before` `GetSecretValue` calls were recorded,
    /// for a refresh that runs in the background.
    pub async fn await_calls_beyond(&self, before: usize, what: &str) {
        for _ in 0..100 {
            if self.get_secret_value_calls() > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: still {} GetSecretValue calls after 5 s", self.get_secret_value_calls());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
    }
}

/// A configuration from owned pairs plus borrowed ones.
pub fn config_with(owned: &[(&'static str, String)], pairs: &[(&str, &str)]) -> Config {
    let mut all: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(pairs);
    config(&all)
}

/// Seconds since the Unix epoch, now.
pub fn wall_now() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock")
}

/// The Python with PyJWT, jwcrypto and cryptography: `INTERCEPT_SAM_PYTHON` when set (as
/// scripts/test.sh sets it), else `target/venv/bin/python`; fails with how to install it.
pub fn python() -> std::path::PathBuf {
    let python = std::env::var_os("INTERCEPT_SAM_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/venv/bin/python"));
    assert!(
        python.exists(),
        "no Python with PyJWT: run scripts/test.sh, or `python3 -m venv target/venv && \
         target/venv/bin/pip install pyjwt jwcrypto cryptography` (looked for {})",
        python.display()
    );
    python
}

/// Tokens signed by PyJWT with a fresh RSA key (tests/vectors/mint.py), one per claims object
/// in `claims`, under `kid`; returns the JWKS holding the public key and the tokens in order.
pub fn mint_with_pyjwt(kid: &str, claims: &[serde_json::Value]) -> (serde_json::Value, Vec<String>) {
    use std::io::Write as _;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/mint.py");
    let mut child = std::process::Command::new(python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python");
    let request = serde_json::json!({"kid": kid, "claims": claims});
    child.stdin.take().expect("stdin").write_all(request.to_string().as_bytes()).expect("write claims");
    let output = child.wait_with_output().expect("python ran");
    assert!(output.status.success(), "mint.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let minted: serde_json::Value = serde_json::from_slice(&output.stdout).expect("mint.py prints JSON");
    let tokens = minted["tokens"].as_array().expect("tokens");
    (minted["jwks"].clone(), tokens.iter().map(|t| t.as_str().expect("token").to_owned()).collect())
}
