//! TLS for https JWKS and discovery documents and the Secrets Manager client: the workspace's
//! one trust store and client builder (`intercept-tls`, shared with the extension and the
//! emulator), trusting the system's CA store and `INTERCEPT_JWKS_CA_FILE`.

use std::path::Path;

/// The client configuration; an error says what is wrong with the CA file.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let extra = match ca_file {
        Some(path) => intercept_tls::read_pem_certificates(path)?,
        None => Vec::new(),
    };
    intercept_tls::client_config(intercept_tls::root_store(true, &extra)).map_err(|e| e.to_string())
}

/// An HTTP/1 client over `tls` that also speaks plain http (local endpoints, tests), with a
/// connect timeout: what the JWKS fetch and the Secrets Manager client both use.
pub(crate) fn https_client<B>(
    tls: rustls::ClientConfig,
    connect_timeout: std::time::Duration,
) -> intercept_tls::HttpsClient<B>
where
    B: http_body_util::BodyExt + Send + 'static,
    B::Data: Send,
{
    let options = intercept_tls::ClientOptions { connect_timeout: Some(connect_timeout), ..Default::default() };
    intercept_tls::https_client(tls, options)
}
