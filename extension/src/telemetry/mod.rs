//! The Telemetry API side: the subscription, and the destination that turns platform events
//! and function logs into OTLP in the buffer.

mod events;
mod otlp;
mod subscription;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use prost::Message as _;
use tokio::sync::watch;

use crate::buffer::{Batch, Buffer};
use crate::secrets::LogSecrets;
use crate::signal::{Decoded, Signal, count_logs, count_metrics, count_traces};

pub(crate) use otlp::{counter, metrics, resource, string_attribute};
pub use subscription::{SCHEMA_VERSIONS, SubscribeError, bind_listener, subscribe};

/// The Telemetry API destination: converts each batch to OTLP into `buffer`, then reports each
/// `platform.runtimeDone` request id on `done` (so a flush that waits for it finds its spans).
/// Function log lines are scrubbed with `log_secrets` first.
pub fn telemetry_router(
    buffer: Arc<Buffer>,
    done: watch::Sender<String>,
    service_name: &str,
    function_name: &str,
    log_secrets: Arc<LogSecrets>,
) -> Router {
    let resource = otlp::resource(service_name, function_name);
    let converter = Arc::new(Mutex::new(events::Converter::new(resource, log_secrets)));
    Router::new().route(
        "/telemetry",
        post(move |body: Bytes| {
            let status = receive(&buffer, &converter, &done, &body);
            async move { status }
        }),
    )
}

fn receive(
    buffer: &Buffer,
    converter: &Mutex<events::Converter>,
    done: &watch::Sender<String>,
    body: &[u8],
) -> StatusCode {
    let events = match serde_json::from_slice::<Vec<events::Event>>(body) {
        Ok(events) => events,
        Err(error) => {
            tracing::warn!(bytes = body.len(), %error, "ignoring a Telemetry API batch that is not a JSON array of events");
            return StatusCode::BAD_REQUEST;
        }
    };
    let mut converter = converter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let converted = converter.convert(events);
    let resource = &converter.resource;
    if !converted.spans.is_empty() {
        let request = otlp::traces(resource, converted.spans);
        let batch =
            Batch { signal: Signal::Traces, items: count_traces(&request), bytes: request.encode_to_vec().into() };
        buffer.push_decoded(batch, Some(Decoded::Traces(request)));
    }
    if !converted.metrics.is_empty() {
        let request = otlp::metrics(resource, converted.metrics);
        let batch =
            Batch { signal: Signal::Metrics, items: count_metrics(&request), bytes: request.encode_to_vec().into() };
        buffer.push_decoded(batch, Some(Decoded::Metrics(request)));
    }
    if !converted.logs.is_empty() {
        let request = otlp::logs(resource, converted.logs);
        push(buffer, Signal::Logs, count_logs(&request), request.encode_to_vec());
    }
    for request_id in converted.runtime_done {
        done.send_replace(request_id);
    }
    StatusCode::OK
}

fn push(buffer: &Buffer, signal: Signal, items: u64, bytes: Vec<u8>) {
    buffer.push(Batch { signal, items, bytes: bytes.into() });
}
