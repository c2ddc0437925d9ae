//! The Telemetry API (`/2022-07-01/telemetry`, and the older Logs API): subscriptions and
//! batched delivery of platform events to each subscriber's HTTP destination.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use serde::Deserialize;
use serde_json::Value as Json;
use tokio::sync::mpsc;

use super::error_response;
use super::state::Shared;

const SCHEMA_VERSIONS: &[&str] = &["2022-07-01", "2022-12-13", "2025-01-29"];

#[derive(Debug)]
struct Subscriber {
    types: Vec<String>,
    queue: mpsc::UnboundedSender<Json>,
}

/// Every subscription of this environment.
#[derive(Debug, Default)]
pub(crate) struct TelemetryHub {
    subscribers: Mutex<Vec<Subscriber>>,
}

impl TelemetryHub {
    /// Sends an event of `category` (`platform`, `function`, `extension`) to whoever subscribed to it.
    pub(crate) fn emit(&self, category: &str, event_type: &str, record: Json) {
        let event = serde_json::json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "type": event_type,
            "record": record,
        });
        let subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for subscriber in subscribers
            .iter()
            .filter(|s| s.types.iter().any(|t| t == category))
        {
            let _ = subscriber.queue.send(event.clone());
        }
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/2022-07-01/telemetry", put(subscribe))
        .route("/2020-08-15/logs", put(subscribe))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    schema_version: Option<String>,
    types: Vec<String>,
    #[serde(default)]
    buffering: Buffering,
    destination: Destination,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Buffering {
    max_items: u64,
    max_bytes: u64,
    timeout_ms: u64,
}

impl Default for Buffering {
    fn default() -> Self {
        Buffering {
            max_items: 1000,
            max_bytes: 262_144,
            timeout_ms: 1000,
        }
    }
}

#[derive(Deserialize)]
struct Destination {
    protocol: String,
    #[serde(rename = "URI")]
    uri: String,
}

fn invalid(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "ValidationError", message)
}

async fn subscribe(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let id = headers
        .get("lambda-extension-identifier")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !shared.lock().extensions.iter().any(|e| e.id == id) {
        return error_response(
            StatusCode::FORBIDDEN,
            "Extension.InvalidExtensionIdentifier",
            "unknown or missing Lambda-Extension-Identifier",
        );
    }
    let subscription: Subscription = match serde_json::from_slice(&body) {
        Ok(subscription) => subscription,
        Err(error) => return invalid(&format!("subscription body: {error}")),
    };
    if let Some(version) = &subscription.schema_version
        && !SCHEMA_VERSIONS.contains(&version.as_str())
        && version != "2021-03-18"
    {
        return invalid(&format!("unknown schemaVersion {version}"));
    }
    if let Some(bad) = subscription
        .types
        .iter()
        .find(|t| !["platform", "function", "extension"].contains(&t.as_str()))
    {
        return invalid(&format!("unknown type {bad}"));
    }
    let Buffering {
        max_items,
        max_bytes,
        timeout_ms,
    } = subscription.buffering;
    if !(1000..=10_000).contains(&max_items)
        || !(262_144..=1_048_576).contains(&max_bytes)
        || !(25..=30_000).contains(&timeout_ms)
    {
        return invalid(
            "buffering out of bounds: maxItems 1000-10000, maxBytes 262144-1048576, timeoutMs 25-30000",
        );
    }
    if subscription.destination.protocol != "HTTP" {
        return invalid("destination protocol must be HTTP");
    }
    // `sandbox.localdomain` names the execution environment, which is this machine here.
    let uri = subscription
        .destination
        .uri
        .replacen("://sandbox.localdomain", "://127.0.0.1", 1);
    if !uri.starts_with("http://") {
        return invalid("destination URI must be http://");
    }
    let (queue, events) = mpsc::unbounded_channel();
    tokio::spawn(deliver(
        uri,
        events,
        max_items as usize,
        Duration::from_millis(timeout_ms),
    ));
    shared
        .telemetry
        .subscribers
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Subscriber {
            types: subscription.types,
            queue,
        });
    (StatusCode::OK, "OK").into_response()
}

/// Posts batches: whatever arrived within `timeout` of the first event, up to `max_items`.
async fn deliver(
    uri: String,
    mut events: mpsc::UnboundedReceiver<Json>,
    max_items: usize,
    timeout: Duration,
) {
    let client = reqwest::Client::new();
    while let Some(first) = events.recv().await {
        let mut batch = vec![first];
        let window = tokio::time::sleep(timeout);
        tokio::pin!(window);
        while batch.len() < max_items {
            tokio::select! {
                () = &mut window => break,
                next = events.recv() => match next {
                    Some(event) => batch.push(event),
                    None => break,
                },
            }
        }
        let sent = client
            .post(&uri)
            .json(&batch)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if let Err(error) = sent {
            eprintln!("intercept-sam: telemetry delivery to {uri} failed: {error}");
        }
    }
}
