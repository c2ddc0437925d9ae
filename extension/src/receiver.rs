//! The OTLP/HTTP receiver: traces, metrics and logs in protobuf or JSON, gzip or not, queued in
//! the buffer without waiting for a flush. Log records are scrubbed of credentials first.

use std::io::Read as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use prost::Message as _;

use crate::buffer::{Batch, Buffer};
use crate::log_scrub::scrub_logs;
use crate::secrets::LogSecrets;
use crate::signal::{MalformedPayload, Signal, count_logs};

/// The largest OTLP request accepted (after decompression); bigger ones get 413.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Requests being received right now, so SHUTDOWN can wait for the runtime's last export.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Requests whose body is still being read or queued.
    #[must_use]
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

struct Guard(InFlight);

impl Drop for Guard {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Clone)]
struct Shared {
    buffer: Arc<Buffer>,
    in_flight: InFlight,
    log_secrets: Arc<LogSecrets>,
}

/// The OTLP/HTTP receiver's routes: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`. Log records'
/// bodies and attributes are scrubbed with `log_secrets` (every kept invocation's secrets and
/// the redactor's names) before they are queued; traces and metrics are queued as they came.
pub fn otlp_router(buffer: Arc<Buffer>, in_flight: InFlight, log_secrets: Arc<LogSecrets>) -> Router {
    let shared = Shared { buffer, in_flight, log_secrets };
    let route = |signal: Signal| {
        post(move |State(shared): State<Shared>, headers: HeaderMap, body: Bytes| {
            receive(shared, signal, headers, body)
        })
    };
    Router::new()
        .route(Signal::Traces.path(), route(Signal::Traces))
        .route(Signal::Metrics.path(), route(Signal::Metrics))
        .route(Signal::Logs.path(), route(Signal::Logs))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), count_in_flight))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(shared)
}

async fn count_in_flight(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    shared.in_flight.0.fetch_add(1, Ordering::AcqRel);
    let _guard = Guard(shared.in_flight.clone());
    next.run(request).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

fn failure(status: StatusCode, encoding: Encoding, message: String) -> Response {
    tracing::debug!(%status, %message, "refused an OTLP request");
    match encoding {
        // OTLP/HTTP answers errors with a google.rpc.Status; the message alone is enough here.
        Encoding::Json => (status, axum::Json(serde_json::json!({ "message": message }))).into_response(),
        Encoding::Protobuf => (status, message).into_response(),
    }
}

async fn receive(shared: Shared, signal: Signal, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    let encoding = match media {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        _ => {
            return failure(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Encoding::Protobuf,
                format!("content-type `{content_type}` is not application/x-protobuf or application/json"),
            );
        }
    };
    let body = match headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        None | Some("identity") => body,
        Some("gzip") => match gunzip(&body) {
            Ok(body) => body,
            Err(status) => return failure(status, encoding, "bad or oversized gzip body".to_owned()),
        },
        Some(other) => {
            return failure(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                encoding,
                format!("content-encoding `{other}` is not gzip"),
            );
        }
    };
    let batch = match (signal, encoding) {
        (Signal::Logs, _) => scrubbed_logs(&shared.log_secrets, encoding, body).map(|batch| (batch, None)),
        (_, Encoding::Protobuf) => {
            signal.decode_protobuf(&body).map(|(items, decoded)| (Batch { signal, items, bytes: body }, decoded))
        }
        (_, Encoding::Json) => signal
            .decode_json(&body)
            .map(|(bytes, items, decoded)| (Batch { signal, items, bytes: bytes.into() }, decoded)),
    };
    match batch {
        Ok((batch, decoded)) => {
            if batch.items > 0 {
                shared.buffer.push_decoded(batch, decoded);
            }
            match encoding {
                // An empty Export*ServiceResponse: full success.
                Encoding::Protobuf => {
                    ([(header::CONTENT_TYPE, "application/x-protobuf")], Bytes::new()).into_response()
                }
                Encoding::Json => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
            }
        }
        Err(error) => failure(StatusCode::BAD_REQUEST, encoding, error.to_string()),
    }
}

/// A logs export request scrubbed of credentials, as protobuf: the bytes received when it was
/// protobuf and nothing was found.
fn scrubbed_logs(secrets: &LogSecrets, encoding: Encoding, body: Bytes) -> Result<Batch, MalformedPayload> {
    let mut request = Signal::decode_logs(&body, encoding == Encoding::Json)?;
    let items = count_logs(&request);
    let changed = scrub_logs(&mut request, &secrets.scrubber());
    let bytes = if changed || encoding == Encoding::Json { request.encode_to_vec().into() } else { body };
    Ok(Batch { signal: Signal::Logs, items, bytes })
}

fn gunzip(body: &[u8]) -> Result<Bytes, StatusCode> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    if out.len() > MAX_REQUEST_BYTES {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(out.into())
}
