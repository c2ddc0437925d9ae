//! Shared helpers for the authentication tests: configs from maps, events, tokens, servers.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::Duration;

use intercept::{Config, Invocation};
use serde_json::value::RawValue;

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
