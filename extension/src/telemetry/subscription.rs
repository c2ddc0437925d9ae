//! The Telemetry API subscription: platform events and function logs, newest schema first.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

/// Schema versions tried in order: the newest where the API offers it, older otherwise.
pub const SCHEMA_VERSIONS: [&str; 3] = ["2025-01-29", "2022-12-13", "2022-07-01"];

/// The Telemetry API refused every schema version, or could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The request did not get an answer.
    #[error("telemetry api unreachable: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// The API answered with an error for the last schema tried.
    #[error("telemetry api refused the subscription ({status}): {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's error document.
        body: String,
    },
}

/// Binds the Telemetry API destination on the address `sandbox.localdomain` names in the
/// execution environment (loopback where it does not resolve), on a free port.
///
/// # Errors
/// When no port can be bound.
pub async fn bind_listener() -> std::io::Result<TcpListener> {
    // /etc/hosts first, read here: no resolver thread and no DNS round trip where it names the
    // host; the system resolver (DNS) only where it does not.
    let named = std::fs::read_to_string("/etc/hosts").ok().and_then(|hosts| host_in_hosts(&hosts, SANDBOX_HOST));
    let ip = match named {
        Some(ip) => ip,
        None => match tokio::net::lookup_host((SANDBOX_HOST, 0)).await {
            Ok(mut addresses) => addresses.next().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip()),
            Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        },
    };
    TcpListener::bind(SocketAddr::new(ip, 0)).await
}

/// The name the Telemetry API delivers to.
const SANDBOX_HOST: &str = "sandbox.localdomain";

/// The first address an /etc/hosts text gives `host` (names compare case-insensitively).
fn host_in_hosts(hosts: &str, host: &str) -> Option<IpAddr> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let ip: IpAddr = fields.next()?.parse().ok()?;
        fields.any(|name| name.eq_ignore_ascii_case(host)).then_some(ip)
    })
}

/// Subscribes to platform events and function logs at `runtime_api` (`host:port`), delivered
/// to `port` in batches of at most 25 ms; returns the schema version the API accepted.
///
/// # Errors
/// [`SubscribeError`] when the API cannot be reached or refuses every schema version.
pub async fn subscribe(runtime_api: &str, extension_id: &str, port: u16) -> Result<&'static str, SubscribeError> {
    let client = reqwest::Client::new();
    let mut refused = None;
    for version in SCHEMA_VERSIONS {
        let body = serde_json::json!({
            "schemaVersion": version,
            "types": ["platform", "function"],
            "buffering": { "maxItems": 1000, "maxBytes": 262_144, "timeoutMs": 25 },
            "destination": { "protocol": "HTTP", "URI": format!("http://{SANDBOX_HOST}:{port}/telemetry") },
        });
        let response = client
            .put(format!("http://{runtime_api}/2022-07-01/telemetry"))
            .header("Lambda-Extension-Identifier", extension_id)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(version);
        }
        let body = response.text().await.unwrap_or_default();
        // Only a validation error (an unknown schema version) is worth trying older ones for.
        let retry_older = status == reqwest::StatusCode::BAD_REQUEST;
        refused = Some(SubscribeError::Refused { status: status.as_u16(), body });
        if !retry_older {
            break;
        }
    }
    Err(refused.unwrap_or(SubscribeError::Refused { status: 0, body: String::new() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn the_sandbox_host_is_read_from_an_etc_hosts_text() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 sandbox.localdomain\n::1 ip6-localhost\n\
                     169.254.79.129\tSandbox.LocalDomain sandbox # the execution environment\n";
        assert_eq!(host_in_hosts(hosts, SANDBOX_HOST), Some("169.254.79.129".parse().expect("ip")));
        assert_eq!(host_in_hosts("127.0.0.1 localhost\nnot-an-ip sandbox.localdomain\n", SANDBOX_HOST), None);
        assert_eq!(host_in_hosts("127.0.0.1 sandbox.localdomain.example\n", SANDBOX_HOST), None);
    }

    #[tokio::test]
    async fn falls_back_to_an_older_schema_when_the_newest_is_refused() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let recorded = seen.clone();
        let app = axum::Router::new().route(
            "/2022-07-01/telemetry",
            axum::routing::put(move |body: String| {
                let version = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["schemaVersion"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                recorded.lock().expect("lock").push(version.clone());
                async move { if version == "2025-01-29" { StatusCode::BAD_REQUEST } else { StatusCode::OK } }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let version = subscribe(&addr.to_string(), "id", 1).await.expect("subscribed");
        assert_eq!(version, "2022-12-13");
        assert_eq!(*seen.lock().expect("lock"), ["2025-01-29", "2022-12-13"]);
        server.abort();
    }
}
