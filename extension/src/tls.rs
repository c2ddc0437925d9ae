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

    // What the PEM reader refuses and the ring configuration are tested in intercept-tls.
    #[test]
    fn a_bad_ca_file_is_an_error_of_its_setting() {
        let setting = "OTEL_EXPORTER_OTLP_CERTIFICATE";
        let error = TrustedCertificates::read_pem(setting, Path::new("/nonexistent/ca.pem")).expect_err("missing");
        assert_eq!(error.setting, setting);
        assert!(error.problem.starts_with("cannot read `/nonexistent/ca.pem`"), "{error}");
        assert!(client_config(None, false).is_ok(), "no roots at all still builds (exports over http)");
    }
}
