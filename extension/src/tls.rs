//! TLS for `https://` exports: rustls on the ring provider, trusting the system's CA store
//! plus the CA file of `OTEL_EXPORTER_OTLP_CERTIFICATE`.
//!
//! The system store (read by `rustls-native-certs`: `SSL_CERT_FILE`/`SSL_CERT_DIR` when set, else
//! the distribution's bundle, `/etc/pki/tls/certs/ca-bundle.crt` on Lambda's Amazon Linux) is the
//! one AWS keeps current in the execution environment and the one an administrator extends; a
//! compiled-in list would go stale with the binary. It is read only when an endpoint is https.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::config::ConfigError;

/// The CA certificates of `OTEL_EXPORTER_OTLP_CERTIFICATE`, trusted in addition to the system's.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedCertificates {
    path: PathBuf,
    certificates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for TrustedCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedCertificates")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl TrustedCertificates {
    /// Reads every `CERTIFICATE` block of the PEM file at `path` and checks each can be a trust
    /// anchor.
    ///
    /// # Errors
    /// A [`ConfigError`] for `setting` when the file cannot be read, is not PEM, holds no
    /// certificate or holds one that is not a valid X.509 certificate.
    pub fn read_pem(setting: &'static str, path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display();
        let bad = |problem: String| ConfigError { setting, problem };
        let text = std::fs::read(path).map_err(|e| bad(format!("cannot read `{shown}`: {e}")))?;
        let certificates = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("`{shown}` is not a PEM file: {e}")))?;
        if certificates.is_empty() {
            return Err(bad(format!("`{shown}` holds no PEM CERTIFICATE block")));
        }
        let mut roots = RootCertStore::empty();
        for (index, certificate) in certificates.iter().enumerate() {
            roots
                .add(certificate.clone())
                .map_err(|e| bad(format!("certificate {} of `{shown}` cannot be trusted: {e}", index + 1)))?;
        }
        Ok(TrustedCertificates { path: path.to_owned(), certificates })
    }

    /// The file the certificates came from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many certificates the file holds.
    #[must_use]
    pub fn count(&self) -> usize {
        self.certificates.len()
    }
}

/// The TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot configure TLS for the exports: {0}")]
pub struct TlsError(#[from] rustls::Error);

/// A client configuration on the ring provider, passed explicitly: nothing process-wide is
/// installed. With `system_roots`, the system's CA store is trusted too.
pub(crate) fn client_config(
    extra: Option<&TrustedCertificates>,
    system_roots: bool,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    if system_roots {
        let started = Instant::now();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::warn!(%error, "reading the system's CA certificates");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, elapsed = ?started.elapsed(), "system CA certificates loaded");
    }
    if let Some(extra) = extra {
        // Checked when read: every one of them parses.
        roots.add_parsable_certificates(extra.certificates.iter().cloned());
    }
    if system_roots && roots.is_empty() {
        tracing::warn!("no trusted CA certificate: https exports will fail (see OTEL_EXPORTER_OTLP_CERTIFICATE)");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, contents: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("intercept-tls-{name}-{}", std::process::id()));
        std::fs::write(&path, contents).expect("write");
        path
    }

    #[test]
    fn missing_empty_and_garbled_files_are_named_errors() {
        let missing = TrustedCertificates::read_pem("S", Path::new("/nonexistent/ca.pem")).expect_err("missing");
        assert!(missing.setting == "S" && missing.problem.contains("cannot read"), "{missing}");
        let none = scratch("none", b"just text\n");
        let error = TrustedCertificates::read_pem("S", &none).expect_err("no block");
        assert!(error.problem.contains("no PEM CERTIFICATE"), "{error}");
        let broken = scratch("broken", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let error = TrustedCertificates::read_pem("S", &broken).expect_err("bad base64");
        assert!(error.problem.contains("not a PEM file"), "{error}");
        let not_x509 = scratch("junk", b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n");
        let error = TrustedCertificates::read_pem("S", &not_x509).expect_err("not x509");
        assert!(error.problem.contains("cannot be trusted"), "{error}");
        for path in [none, broken, not_x509] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn a_config_builds_on_ring_without_a_process_default() {
        let config = client_config(None, false).expect("config");
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
