//! The one TLS trust store and HTTPS client builder of the workspace: the core's JWKS and
//! Secrets Manager clients, the extension's OTLP exports and the emulator's layer downloads.
//!
//! rustls on the ring provider, passed explicitly: nothing process-wide is installed, so a
//! plain `reqwest::Client::new()` elsewhere in the process is unaffected. The system store is
//! read by `rustls-native-certs` (`SSL_CERT_FILE`/`SSL_CERT_DIR` when set, else the
//! distribution's bundle, `/etc/pki/tls/certs/ca-bundle.crt` on Lambda's Amazon Linux): the one
//! AWS keeps current in the execution environment and the one an administrator extends.
//!
//! ```no_run
//! use intercept_tls::{ClientOptions, client_config, https_client, root_store};
//!
//! let roots = root_store(true, &[]);
//! let tls = client_config(roots)?;
//! let client = https_client::<http_body_util::Empty<bytes::Bytes>>(tls, ClientOptions::default());
//! # let _ = client;
//! # Ok::<(), rustls::Error>(())
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// The HTTP/1 client [`https_client`] builds: https through rustls, plain http as well.
pub type HttpsClient<B> = Client<hyper_rustls::HttpsConnector<HttpConnector>, B>;

/// Reads every `CERTIFICATE` block of the PEM file at `path` and checks that each can be a
/// trust anchor (a CA file such as `INTERCEPT_JWKS_CA_FILE` or `OTEL_EXPORTER_OTLP_CERTIFICATE`).
///
/// # Errors
/// What is wrong, naming the file: it cannot be read, is not PEM, holds no certificate, or
/// holds one (counted from 1) that is not a valid X.509 certificate.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("`{shown}` is not a PEM file: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("`{shown}` holds no PEM CERTIFICATE block"));
    }
    let mut roots = RootCertStore::empty();
    for (index, certificate) in certificates.iter().enumerate() {
        roots
            .add(certificate.clone())
            .map_err(|e| format!("certificate {} of `{shown}` cannot be trusted: {e}", index + 1))?;
    }
    Ok(certificates)
}

/// The trust anchors: the system's CA store when `system` (read now, which takes a few
/// milliseconds: callers with only http endpoints pass `false`), plus `extra` (as
/// [`read_pem_certificates`] returned them; one that does not parse is left out).
#[must_use]
pub fn root_store(system: bool, extra: &[CertificateDer<'static>]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    if system {
        let started = Instant::now();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!(%error, "reading the system's CA certificates");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, elapsed = ?started.elapsed(), "system CA certificates loaded");
    }
    roots.add_parsable_certificates(extra.iter().cloned());
    roots
}

/// A client configuration trusting `roots`, on the ring provider passed explicitly.
///
/// # Errors
/// When ring offers none of rustls' safe default protocol versions (it always does).
pub fn client_config(roots: RootCertStore) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// How [`https_client`] connects and keeps connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// The bound of a TCP connect (none: the system's).
    pub connect_timeout: Option<Duration>,
    /// How long an idle kept-alive connection stays in the pool (none: hyper-util's default, 90 s).
    pub pool_idle_timeout: Option<Duration>,
    /// `TCP_NODELAY` on every connection (small requests go out at once).
    pub nodelay: bool,
}

/// An HTTP/1 client over `tls` that also speaks plain http (local endpoints, tests).
#[must_use]
pub fn https_client<B>(tls: rustls::ClientConfig, options: ClientOptions) -> HttpsClient<B>
where
    B: http_body_util::BodyExt + Send + 'static,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(options.nodelay);
    http.set_connect_timeout(options.connect_timeout);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let mut builder = Client::builder(hyper_util::rt::TokioExecutor::new());
    if let Some(idle) = options.pool_idle_timeout {
        builder.pool_idle_timeout(idle).pool_timer(hyper_util::rt::TokioTimer::new());
    }
    builder.build(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("intercept-tls-crate-{name}-{}", std::process::id()));
        std::fs::write(&path, contents).expect("write");
        path
    }

    #[test]
    fn missing_empty_garbled_and_non_x509_files_are_named_errors() {
        let missing = read_pem_certificates(Path::new("/nonexistent/ca.pem")).expect_err("missing");
        assert!(missing.starts_with("cannot read `/nonexistent/ca.pem`"), "{missing}");
        let none = scratch("none", b"just text\n");
        let error = read_pem_certificates(&none).expect_err("no block");
        assert!(error.contains("no PEM CERTIFICATE"), "{error}");
        let broken = scratch("broken", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let error = read_pem_certificates(&broken).expect_err("bad base64");
        assert!(error.contains("not a PEM file"), "{error}");
        let not_x509 = scratch("junk", b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n");
        let error = read_pem_certificates(&not_x509).expect_err("not x509");
        assert!(error.contains("certificate 1 of") && error.contains("cannot be trusted"), "{error}");
        for path in [none, broken, not_x509] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_config_builds_on_ring_without_a_process_default() {
        let roots = root_store(false, &[]);
        assert!(roots.is_empty());
        let config = client_config(roots).expect("config");
        assert!(rustls::crypto::CryptoProvider::get_default().is_none(), "nothing installed process-wide");
        assert!(
            config
                .crypto_provider()
                .cipher_suites
                .iter()
                .any(|s| s.version().version == rustls::ProtocolVersion::TLSv1_3)
        );
    }
}

/// An error and its sources, `outer: inner: innermost`, each cause shown once: hyper's own
/// message is only "client error (Connect)", the reason (refused, TLS, DNS) is in its sources.
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod error_chain_tests {
    use std::fmt;

    use super::error_chain;

    /// `outer` caused by `inner`, or a leaf.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|inner| inner as _)
        }
    }

    #[test]
    fn every_cause_once_outermost_first() {
        let refused = Layer("connection refused", None);
        let connect = Layer("client error (Connect)", Some(Box::new(refused)));
        assert_eq!(error_chain(&connect), "client error (Connect): connection refused");
        // A cause whose text the outer message already carries is not repeated.
        let repeated = Layer("tls: bad certificate", Some(Box::new(Layer("bad certificate", None))));
        assert_eq!(error_chain(&repeated), "tls: bad certificate");
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}
