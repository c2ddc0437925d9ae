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

/// Binds the Telemetry API destination on a free port, without resolving `sandbox.localdomain`
/// (the system resolver would cost a thread and libc's NSS code at every cold start, issue 24):
///
/// - On Lambda: every interface (`0.0.0.0`), as AWS's `lambda-extension` crate binds its logs
///   and telemetry listeners. The network namespace is the microVM's own, so this exposes
///   nothing, and it covers whatever address `sandbox.localdomain` names there.
/// - Under a local emulator (`AWS_SAM_LOCAL` set, as SAM CLI and `intercept-sam` set it):
///   loopback only, so the listener is not on a developer's network interfaces. The emulator
///   delivers from the same machine (`intercept-sam` sends to `127.0.0.1`), so no `/etc/hosts`
///   entry is needed to reach it.
///
/// # Errors
/// When no port can be bound.
pub async fn bind_listener() -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(listen_ip(|name| std::env::var(name).ok()), 0)).await
}

/// The name the Telemetry API delivers to.
const SANDBOX_HOST: &str = "sandbox.localdomain";

/// The address [`bind_listener`] binds, given the environment's variables.
fn listen_ip(var: impl Fn(&str) -> Option<String>) -> IpAddr {
    // Any value but empty, `false` or `0`: on a developer's machine the safe reading wins.
    let emulated = var("AWS_SAM_LOCAL").is_some_and(|value| {
        let value = value.trim();
        !(value.is_empty() || value == "0" || value.eq_ignore_ascii_case("false"))
    });
    IpAddr::V4(if emulated { Ipv4Addr::LOCALHOST } else { Ipv4Addr::UNSPECIFIED })
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

    fn ip_with(sam_local: Option<&str>) -> IpAddr {
        listen_ip(|name| if name == "AWS_SAM_LOCAL" { sam_local.map(str::to_owned) } else { None })
    }

    #[test]
    fn listens_on_every_interface_on_lambda_and_on_loopback_under_an_emulator() {
        let every = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(ip_with(None), every);
        for unset in ["", " ", "0", "false", "FALSE"] {
            assert_eq!(ip_with(Some(unset)), every, "AWS_SAM_LOCAL={unset:?}");
        }
        for set in ["true", "TRUE", " true\n", "1", "yes"] {
            assert_eq!(ip_with(Some(set)), loopback, "AWS_SAM_LOCAL={set:?}");
        }
        // Other variables an emulator or Lambda sets do not change the decision.
        let on_lambda = listen_ip(|name| (name != "AWS_SAM_LOCAL").then(|| "true".to_owned()));
        assert_eq!(on_lambda, every);
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

    #[tokio::test]
    async fn a_refusal_other_than_a_validation_error_is_final() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let app = axum::Router::new().route(
            "/2022-07-01/telemetry",
            axum::routing::put(move |headers: axum::http::HeaderMap| {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let id =
                    headers.get("lambda-extension-identifier").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                async move { (StatusCode::FORBIDDEN, format!("not for {id}")) }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        match subscribe(&addr.to_string(), "ext-1", 1).await {
            Err(SubscribeError::Refused { status, body }) => {
                assert_eq!(status, 403);
                assert_eq!(body, "not for ext-1");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        server.abort();
    }

    #[tokio::test]
    async fn an_api_that_is_not_there_is_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let error = subscribe(&addr.to_string(), "id", 1).await.expect_err("nothing listens");
        assert!(matches!(error, SubscribeError::Unreachable(_)), "{error:?}");
    }
}
