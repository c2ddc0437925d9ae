//! JWKS over https: a local TLS server with a certificate from a test CA (rcgen, on ring). The
//! keys are fetched when the CA is trusted through `INTERCEPT_JWKS_CA_FILE`, and init fails,
//! naming the setting, when it is not.

mod auth_support;

use std::path::PathBuf;
use std::sync::Arc;

use auth_support::{bearer, config, sign, vectors, wall_now};
use axum::routing::get;
use intercept::Interceptor;
use jsonwebtoken::Algorithm;
use serde_json::json;

struct Tls {
    ca_pem: String,
    server: rustls::ServerConfig,
}

fn test_ca() -> Tls {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    params.distinguished_name.push(rcgen::DnType::CommonName, "intercept JWKS test CA");
    let ca = params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(params, ca_key);
    let server_key = rcgen::KeyPair::generate().expect("server key");
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone(), ca.der().clone()], key.into())
        .expect("certificate and key");
    Tls { ca_pem: pem::encode(&pem::Pem::new("CERTIFICATE", ca.der().to_vec())), server }
}

/// Serves the test JWKS over TLS on 127.0.0.1:0; returns its URL and the server task.
async fn serve_tls(tls: rustls::ServerConfig) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}/keys", listener.local_addr().expect("addr"));
    let jwks = vectors()["jwks"].to_string();
    let app = axum::Router::new().route("/keys", get(move || async move { jwks }));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else { return };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, task)
}

fn ca_file(name: &str, pem: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-scratch");
    std::fs::create_dir_all(&dir).expect("scratch");
    let path = dir.join(format!("{name}-{}.pem", std::process::id()));
    std::fs::write(&path, pem).expect("CA file");
    path
}

#[tokio::test]
async fn keys_come_over_https_from_a_trusted_ca_only() {
    let tls = test_ca();
    let (url, server) = serve_tls(tls.server.clone()).await;
    let trusted = ca_file("jwks-ca", &tls.ca_pem);
    let settings = |ca: &str| {
        config(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_JWKS_URL", url.as_str()),
            ("INTERCEPT_JWT_ALGORITHMS", "RS256"),
            ("INTERCEPT_JWT_AUDIENCE", "intercept"),
            ("INTERCEPT_JWKS_CA_FILE", ca),
        ])
    };
    let interceptor = Interceptor::connect(&settings(trusted.to_str().expect("utf-8"))).await.expect("keys over https");
    let now = wall_now();
    let token = sign(
        Algorithm::RS256,
        Some("rsa"),
        "rsa_private",
        &json!({"sub": "alice", "aud": "intercept", "exp": now.as_secs() + 600}),
    );
    let admitted = interceptor.admit_at(&bearer(&token), now).await.expect("admitted");
    assert_eq!(admitted.principal.expect("principal").subject, "alice");

    // Another CA's certificate is not trusted: init fails and says where the keys come from.
    let other = test_ca();
    let untrusted = ca_file("jwks-other-ca", &other.ca_pem);
    let error = Interceptor::connect(&settings(untrusted.to_str().expect("utf-8"))).await.expect_err("untrusted");
    let shown = error.to_string();
    assert!(shown.starts_with("INTERCEPT_JWKS_URL: "), "{shown}");
    assert!(shown.to_lowercase().contains("certificate"), "{shown}");

    // A CA file that is not PEM is a configuration error naming its setting.
    let garbage = ca_file("jwks-garbage", "not a certificate");
    let error = Interceptor::connect(&settings(garbage.to_str().expect("utf-8"))).await.expect_err("bad CA file");
    assert!(error.to_string().starts_with("INTERCEPT_JWKS_CA_FILE: "), "{error}");
    for path in [trusted, untrusted, garbage] {
        let _ = std::fs::remove_file(path);
    }
    server.abort();
}
