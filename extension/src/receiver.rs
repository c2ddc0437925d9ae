//! The local HTTP endpoints: the OTLP/HTTP receiver and the Telemetry API destination.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use serde::Deserialize;
use tokio::sync::watch;

use crate::buffer::Buffer;

/// The largest OTLP request accepted; bigger ones get 413.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct Shared {
    buffer: Arc<Buffer>,
}

/// The OTLP/HTTP receiver: `POST /v1/traces` in protobuf, queued in `buffer`.
pub fn otlp_router(buffer: Arc<Buffer>) -> Router {
    Router::new()
        .route("/v1/traces", post(receive_traces))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(Shared { buffer })
}

async fn receive_traces(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-protobuf") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected content-type application/x-protobuf",
        );
    }
    shared.buffer.push(body);
    (StatusCode::OK, "")
}

/// One Telemetry API event; only what the flush schedule needs is read.
#[derive(Debug, Deserialize)]
struct TelemetryEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    record: serde_json::Value,
}

/// The Telemetry API destination: reports each `platform.runtimeDone` request id on `done`.
pub fn telemetry_router(done: watch::Sender<String>) -> Router {
    Router::new().route(
        "/telemetry",
        post(move |body: Bytes| {
            let done = done.clone();
            async move {
                let Ok(events) = serde_json::from_slice::<Vec<TelemetryEvent>>(&body) else {
                    tracing::warn!(
                        bytes = body.len(),
                        "ignoring a Telemetry API batch that is not a JSON array of events"
                    );
                    return StatusCode::BAD_REQUEST;
                };
                for event in events {
                    if event.kind == "platform.runtimeDone"
                        && let Some(request_id) = event.record["requestId"].as_str()
                    {
                        done.send_replace(request_id.to_owned());
                    }
                }
                StatusCode::OK
            }
        }),
    )
}
