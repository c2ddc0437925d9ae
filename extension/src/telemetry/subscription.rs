//! The Telemetry API subscription that tells the extension when the runtime is done.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

/// Binds the Telemetry API destination on the address `sandbox.localdomain` names in the
/// execution environment (loopback where it does not resolve), on a free port.
///
/// # Errors
/// When no port can be bound.
pub(crate) async fn bind_listener() -> std::io::Result<TcpListener> {
    let ip = match tokio::net::lookup_host("sandbox.localdomain:0").await {
        Ok(mut addresses) => addresses
            .next()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip()),
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    TcpListener::bind(SocketAddr::new(ip, 0)).await
}

/// Subscribes to platform events, delivered in batches of at most 25 ms.
pub(crate) async fn subscribe(extension_id: &str, port: u16) -> Result<(), String> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set".to_owned())?;
    let body = serde_json::json!({
        "schemaVersion": "2022-12-13",
        "types": ["platform"],
        "buffering": { "maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 25 },
        "destination": { "protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{port}/telemetry") },
    });
    let response = reqwest::Client::new()
        .put(format!("http://{api}/2022-07-01/telemetry"))
        .header("Lambda-Extension-Identifier", extension_id)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the Telemetry API answered {}", response.status()))
    }
}
