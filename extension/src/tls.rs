//! TLS for `https://` exports: the workspace's one trust store and client builder
//! (`intercept-tls`, shared with the core and the emulator), trusting the system's CA store
//! plus the CA file of `OTEL_EXPORTER_OTLP_CERTIFICATE`.
//!
//! The system store is the one AWS keeps current in the execution environment and the one an
//! administrator extends; a compiled-in list would go stale with the binary. It is read only
//! when an endpoint is https.

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;

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
        let certificates =
            intercept_tls::read_pem_certificates(path).map_err(|problem| ConfigError { setting, problem })?;
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
    let roots = intercept_tls::root_store(system_roots, extra.map_or(&[], |extra| &extra.certificates));
    if system_roots && roots.is_empty() {
        tracing::warn!("no trusted CA certificate: https exports will fail (see OTEL_EXPORTER_OTLP_CERTIFICATE)");
    }
    Ok(intercept_tls::client_config(roots)?)
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
