//! TLS for https JWKS and discovery documents: rustls on the ring provider, passed explicitly
//! (nothing process-wide), trusting the system's CA store and `INTERCEPT_JWKS_CA_FILE`.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// The client configuration; an error says what is wrong with the CA file.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "reading the system's CA certificates");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let shown = path.display();
        let text = std::fs::read(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        let certificates = CertificateDer::pem_slice_iter(&text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("`{shown}` is not a PEM file: {e}"))?;
        if certificates.is_empty() {
            return Err(format!("`{shown}` holds no PEM CERTIFICATE block"));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|e| format!("a certificate of `{shown}` cannot be trusted: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An HTTP/1 client over `tls` that also speaks plain http (local endpoints, tests), with a
/// connect timeout: what the JWKS fetch and the Secrets Manager client both use.
pub(crate) fn https_client<B>(
    tls: rustls::ClientConfig,
    connect_timeout: std::time::Duration,
) -> hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    B,
>
where
    B: http_body_util::BodyExt + Send + 'static,
    B::Data: Send,
{
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector)
}
