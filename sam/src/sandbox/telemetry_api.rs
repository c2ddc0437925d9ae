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
#[derive(Debug)]
pub(crate) struct TelemetryHub {
    subscribers: Mutex<Vec<Subscriber>>,
    /// Events of the init phase, replayed to extensions that subscribe during init.
    init_backlog: Mutex<Option<Vec<(String, Json)>>>,
    /// False while the environment is frozen: nothing is delivered until it thaws.
    thawed: tokio::sync::watch::Sender<bool>,
    /// Deliveries under way; the environment is frozen only once they are done.
    in_flight: tokio::sync::watch::Sender<usize>,
    /// Events queued for subscribers and not yet delivered (or given up on).
    pending: tokio::sync::watch::Sender<usize>,
    /// Set when the environment shuts down: every subscriber sends what it holds at once.
    drain: tokio::sync::watch::Sender<bool>,
}

impl Default for TelemetryHub {
    fn default() -> Self {
        TelemetryHub {
            subscribers: Mutex::new(Vec::new()),
            init_backlog: Mutex::new(Some(Vec::new())),
            thawed: tokio::sync::watch::channel(true).0,
            in_flight: tokio::sync::watch::channel(0).0,
            pending: tokio::sync::watch::channel(0).0,
            drain: tokio::sync::watch::channel(false).0,
        }
    }
}

impl TelemetryHub {
    /// Freezes or thaws delivery along with the environment's processes.
    pub(crate) fn set_thawed(&self, thawed: bool) {
        self.thawed.send_replace(thawed);
    }

    /// Waits (at most `limit`) for deliveries under way to finish, so that freezing the
    /// environment never cuts one in half.
    pub(crate) async fn settle(&self, limit: Duration) {
        let mut in_flight = self.in_flight.subscribe();
        let _ = tokio::time::timeout(limit, in_flight.wait_for(|n| *n == 0)).await;
    }

    /// Delivers everything queued now (at most `limit`), as Lambda does before SHUTDOWN.
    pub(crate) async fn drain(&self, limit: Duration) {
        self.drain.send_replace(true);
        let mut pending = self.pending.subscribe();
        let _ = tokio::time::timeout(limit, pending.wait_for(|n| *n == 0)).await;
    }

    /// Ends the init phase: later subscribers get no replay.
    pub(crate) fn end_init(&self) {
        *self.init_backlog.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Starts the init phase again (after one that timed out): the old subscribers are gone.
    pub(crate) fn restart_init(&self) {
        lock(&self.subscribers).clear();
        *lock(&self.init_backlog) = Some(Vec::new());
    }

    /// Sends an event of `category` (`platform`, `function`, `extension`) to whoever subscribed to it.
    pub(crate) fn emit(&self, category: &str, event_type: &str, record: Json) {
        let mut backlog = lock(&self.init_backlog);
        let subscribers = lock(&self.subscribers);
        if backlog.is_none() && !subscribers.iter().any(|s| s.types.iter().any(|t| t == category)) {
            return;
        }
        let event = serde_json::json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "type": event_type,
            "record": record,
        });
        if let Some(backlog) = backlog.as_mut() {
            backlog.push((category.to_owned(), event.clone()));
        }
        for subscriber in subscribers.iter().filter(|s| s.types.iter().any(|t| t == category)) {
            self.enqueue(&subscriber.queue, event.clone());
        }
    }

    fn enqueue(&self, queue: &mpsc::UnboundedSender<Json>, event: Json) {
        if queue.send(event).is_ok() {
            self.pending.send_modify(|n| *n += 1);
        }
    }

    /// Adds a subscriber; during init it first gets the init phase's events so far.
    fn subscribe(&self, types: Vec<String>, queue: mpsc::UnboundedSender<Json>) {
        let backlog = lock(&self.init_backlog);
        for (category, event) in backlog.iter().flatten() {
            if types.iter().any(|t| t == category) {
                self.enqueue(&queue, event.clone());
            }
        }
        lock(&self.subscribers).push(Subscriber { types, queue });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/2022-07-01/telemetry", put(subscribe)).route("/2020-08-15/logs", put(subscribe))
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
        Buffering { max_items: 1000, max_bytes: 262_144, timeout_ms: 1000 }
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
    let id = headers.get("lambda-extension-identifier").and_then(|v| v.to_str().ok()).unwrap_or_default();
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
    if let Some(bad) = subscription.types.iter().find(|t| !["platform", "function", "extension"].contains(&t.as_str()))
    {
        return invalid(&format!("unknown type {bad}"));
    }
    let Buffering { max_items, max_bytes, timeout_ms } = subscription.buffering;
    if !(1000..=10_000).contains(&max_items)
        || !(262_144..=1_048_576).contains(&max_bytes)
        || !(25..=30_000).contains(&timeout_ms)
    {
        return invalid("buffering out of bounds: maxItems 1000-10000, maxBytes 262144-1048576, timeoutMs 25-30000");
    }
    if subscription.destination.protocol != "HTTP" {
        return invalid("destination protocol must be HTTP");
    }
    // `sandbox.localdomain` names the execution environment, which is this machine here.
    let uri = subscription.destination.uri.replacen("://sandbox.localdomain", "://127.0.0.1", 1);
    if !uri.starts_with("http://") {
        return invalid("destination URI must be http://");
    }
    let (queue, events) = mpsc::unbounded_channel();
    tokio::spawn(deliver(shared.clone(), uri, events, max_items as usize, Duration::from_millis(timeout_ms)));
    let name = shared.lock().extensions.iter().find(|e| e.id == id).map(|e| e.name.clone()).unwrap_or_default();
    let record = serde_json::json!({ "name": name, "state": "Subscribed", "types": subscription.types });
    shared.telemetry.emit("platform", "platform.telemetrySubscription", record);
    shared.telemetry.subscribe(subscription.types, queue);
    (StatusCode::OK, "OK").into_response()
}

/// Posts batches: whatever arrived within `timeout` of the first event, up to `max_items`.
/// Nothing is sent while the environment is frozen; a batch that cannot be delivered is tried
/// again a few times (a listener may be between two connections) before it is reported lost.
async fn deliver(
    shared: Arc<Shared>,
    uri: String,
    mut events: mpsc::UnboundedReceiver<Json>,
    max_items: usize,
    timeout: Duration,
) {
    let client = reqwest::Client::new();
    let hub = &shared.telemetry;
    let mut thawed = hub.thawed.subscribe();
    let mut drain = hub.drain.subscribe();
    while let Some(first) = events.recv().await {
        let mut batch = vec![first];
        let window = tokio::time::sleep(timeout);
        tokio::pin!(window);
        while batch.len() < max_items {
            tokio::select! {
                () = &mut window => break,
                _ = drain.wait_for(|draining| *draining) => {
                    while let Ok(event) = events.try_recv() {
                        batch.push(event);
                    }
                    break;
                }
                next = events.recv() => match next {
                    Some(event) => batch.push(event),
                    None => break,
                },
            }
        }
        let mut last_error = None;
        for attempt in 0..5u32 {
            if thawed.wait_for(|t| *t).await.is_err() {
                return;
            }
            hub.in_flight.send_modify(|n| *n += 1);
            let sent = client.post(&uri).json(&batch).timeout(Duration::from_secs(2)).send().await;
            hub.in_flight.send_modify(|n| *n -= 1);
            match sent {
                Ok(response) => {
                    if !response.status().is_success() {
                        eprintln!("intercept-sam: telemetry destination {uri} answered {}", response.status());
                    }
                    last_error = None;
                    break;
                }
                Err(error) => {
                    last_error = Some(error);
                    tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                }
            }
        }
        if let Some(error) = last_error {
            eprintln!("intercept-sam: telemetry delivery to {uri} failed, {} events lost: {error}", batch.len());
        }
        hub.pending.send_modify(|n| *n = n.saturating_sub(batch.len()));
    }
}
