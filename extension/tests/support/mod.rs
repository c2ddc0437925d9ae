//! Shared helpers for the extension's tests: a real OTLP/HTTP collector that decodes with
//! `opentelemetry-proto`, the fixture function, and environments of the emulator that run the
//! extension from a layer.

#![allow(dead_code, unreachable_pub)]

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use intercept_sam::sandbox::{Environment, FunctionSpec, Invoked, Outcome};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::Value;

/// What the collector has decoded so far.
#[derive(Debug, Default)]
pub struct Received {
    pub spans: Vec<Span>,
    pub metrics: Vec<Metric>,
    pub logs: Vec<LogRecord>,
    /// Each accepted export's path and body (gunzipped), for looking at the bytes themselves.
    pub bodies: Vec<(String, Vec<u8>)>,
    /// Requests that reached the collector (accepted or not).
    pub requests: u64,
}

#[derive(Debug, Default)]
struct CollectorState {
    received: Mutex<Received>,
    /// 0 answers 200; any other value is the status to answer (the data is then not kept).
    status: AtomicU16,
    retry_after: Mutex<Option<String>>,
    delay_ms: AtomicU64,
    /// TLS handshakes that failed (a client that does not trust the certificate).
    handshake_failures: AtomicU64,
}

/// A real OTLP/HTTP receiver on 127.0.0.1: gunzips and decodes every export with the
/// `opentelemetry-proto` definitions. Stops when dropped.
pub struct Collector {
    addr: SocketAddr,
    scheme: &'static str,
    state: Arc<CollectorState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A port that nothing listens on (yet): a collector that is down.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()).and_then(|v| v.value.as_ref())
}

/// A string attribute.
pub fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// An integer attribute.
pub fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key) {
        Some(any_value::Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

async fn receive(
    State(state): State<Arc<CollectorState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = state.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    state.received.lock().expect("lock").requests += 1;
    let status = state.status.load(Ordering::Relaxed);
    if status != 0 {
        let code = StatusCode::from_u16(status).expect("status");
        return match state.retry_after.lock().expect("lock").clone() {
            Some(after) => (code, [("retry-after", after)]).into_response(),
            None => code.into_response(),
        };
    }
    let body = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).is_err() {
            return (StatusCode::BAD_REQUEST, "bad gzip").into_response();
        }
        out
    } else {
        body.to_vec()
    };
    let mut received = state.received.lock().expect("lock");
    let decoded = match uri.path() {
        "/v1/traces" => ExportTraceServiceRequest::decode(&body[..]).map(|r| {
            received.spans.extend(r.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans));
        }),
        "/v1/metrics" => ExportMetricsServiceRequest::decode(&body[..]).map(|r| {
            received
                .metrics
                .extend(r.resource_metrics.into_iter().flat_map(|r| r.scope_metrics).flat_map(|s| s.metrics));
        }),
        "/v1/logs" => ExportLogsServiceRequest::decode(&body[..]).map(|r| {
            received.logs.extend(r.resource_logs.into_iter().flat_map(|r| r.scope_logs).flat_map(|s| s.log_records));
        }),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match decoded {
        Ok(()) => {
            received.bodies.push((uri.path().to_owned(), body));
            StatusCode::OK.into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

impl Collector {
    /// Starts on a free port.
    pub async fn start() -> Collector {
        Collector::start_on(0).await
    }

    /// Starts on `port` (a collector that comes back where it was down).
    pub async fn start_on(port: u16) -> Collector {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("collector binds");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(CollectorState::default());
        let app = collector_app(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Collector { addr, scheme: "http", state, server }
    }

    /// Starts an https collector on a free port, presenting `ca`'s certificate for 127.0.0.1
    /// (rustls on ring, HTTP/1.1).
    pub async fn start_tls(ca: &TestCa) -> Collector {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("collector binds");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(CollectorState::default());
        let app = collector_app(state.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(ca.server_config()));
        let handshakes = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, app, handshakes) = (acceptor.clone(), app.clone(), handshakes.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        handshakes.handshake_failures.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Collector { addr, scheme: "https", state, server }
    }

    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// TLS handshakes that failed so far.
    pub fn handshake_failures(&self) -> u64 {
        self.state.handshake_failures.load(Ordering::Relaxed)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers every request with `status` (0: accept), with `Retry-After` when given.
    pub fn answer(&self, status: u16, retry_after: Option<&str>) {
        self.state.status.store(status, Ordering::Relaxed);
        *self.state.retry_after.lock().expect("lock") = retry_after.map(str::to_owned);
    }

    /// Waits `ms` before answering each request.
    pub fn delay(&self, ms: u64) {
        self.state.delay_ms.store(ms, Ordering::Relaxed);
    }

    pub fn with<T>(&self, f: impl FnOnce(&Received) -> T) -> T {
        f(&self.state.received.lock().expect("lock"))
    }

    /// How many times each `fixture.index` of spans tagged `tag` arrived.
    pub fn fixture_spans(&self, tag: &str) -> std::collections::BTreeMap<i64, usize> {
        self.with(|r| {
            let mut counts = std::collections::BTreeMap::new();
            for span in r.spans.iter().filter(|s| str_attr(&s.attributes, "fixture.tag") == Some(tag)) {
                *counts.entry(int_attr(&span.attributes, "fixture.index").unwrap_or(-1)).or_insert(0) += 1;
            }
            counts
        })
    }

    /// Asserts each of `0..count` spans tagged `tag` arrived exactly once.
    pub fn assert_exactly_once(&self, tag: &str, count: i64) {
        let counts = self.fixture_spans(tag);
        let expected: std::collections::BTreeMap<i64, usize> = (0..count).map(|i| (i, 1)).collect();
        assert_eq!(counts, expected, "spans tagged {tag}: index → times received");
    }
}

fn collector_app(state: Arc<CollectorState>) -> axum::Router {
    axum::Router::new()
        .route("/v1/traces", post(receive))
        .route("/v1/metrics", post(receive))
        .route("/v1/logs", post(receive))
        .with_state(state)
}

/// A test certificate authority (made with rcgen, on ring) and a server certificate for
/// 127.0.0.1 that it signed.
pub struct TestCa {
    ca: rcgen::Certificate,
    server: rcgen::Certificate,
    server_key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("intercept test CA {name}"));
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(params, ca_key);
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &issuer)
            .expect("server certificate");
        TestCa { ca, server, server_key }
    }

    /// The CA certificate as PEM, as OTEL_EXPORTER_OTLP_CERTIFICATE expects it.
    pub fn ca_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.ca.der().to_vec()))
    }

    /// Writes the CA certificate to `path` (under target/: environments have a private /tmp).
    pub fn write_ca_pem(&self, path: &Path) -> String {
        std::fs::write(path, self.ca_pem()).expect("CA file");
        path.display().to_string()
    }

    fn server_config(&self) -> rustls::ServerConfig {
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(self.server_key.serialize_der());
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.server.der().clone(), self.ca.der().clone()], key.into())
            .expect("server certificate and key")
    }
}

/// The workspace's target folder (tests' files live there: environments have a private /tmp).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from)
}

/// The fixture function (`examples/otlp_function.rs`), built once per test run.
pub fn function_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "intercept-extension", "--example", "otlp_function"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the fixture function failed");
        target_dir().join("debug/examples/otlp_function")
    })
}

/// A folder under `target/` removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = target_dir().join("extension-tests").join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("code")).expect("scratch folder");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fixture function with the extension in its layer, sending to `endpoint`.
pub struct Fixture {
    pub scratch: Scratch,
    pub spec: FunctionSpec,
}

impl Fixture {
    pub fn new(name: &str, endpoint: &str, flush: &str) -> Fixture {
        let scratch = Scratch::new(name);
        let extension = PathBuf::from(env!("CARGO_BIN_EXE_intercept-extension"));
        let layer = intercept_layer::assemble(&scratch.path().join("layer"), &[extension]).expect("layer");
        let mut spec = FunctionSpec::new(
            "Traced",
            "provided.al2023",
            function_binary().to_path_buf(),
            scratch.path().join("code"),
        );
        spec.layer_dirs = vec![layer];
        spec.timeout = Duration::from_secs(5);
        let vars = [
            ("INTERCEPT_OTLP_LISTEN", format!("127.0.0.1:{}", free_port())),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
            ("INTERCEPT_FLUSH", flush.to_owned()),
            ("INTERCEPT_EXTENSION_LOG", "info".to_owned()),
            ("INTERCEPT_EXTENSION_LOG_FILE", scratch.path().join("extension.log").display().to_string()),
        ];
        for (key, value) in vars {
            spec.environment.insert(key.to_owned(), value);
        }
        Fixture { scratch, spec }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.spec.environment.insert(key.to_owned(), value.to_owned());
    }

    pub async fn start(&self) -> Environment {
        Environment::start(self.spec.clone()).await.unwrap_or_else(|e| panic!("init failed: {e:?}"))
    }

    /// The extension's log lines.
    pub fn extension_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.scratch.path().join("extension.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

pub async fn invoke(env: &mut Environment, event: Value) -> Invoked {
    env.invoke(Bytes::from(event.to_string())).await
}

/// The function's JSON answer.
pub fn response(invoked: &Invoked) -> Value {
    match &invoked.outcome {
        Outcome::Response(body) => serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}")),
        Outcome::Error(error) => panic!("expected a response, got {error:?}"),
    }
}

/// Waits (bounded) until `check` holds; returns whether it did.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let steps = (limit.as_millis() / 20).max(1);
    for _ in 0..steps {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
