//! `InvokeWithResponseStream` (`POST /2021-11-15/functions/{name}/response-streaming-invocations`):
//! the function's response as event-stream `PayloadChunk` events, sent as the function writes
//! them, then an `InvokeComplete` event, as the AWS SDKs read it.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use crate::eventstream;
use crate::invoke_api::{Call, InvocationTypes, Pools, run_reserved, throttled};
use crate::sandbox::{ErrorDocument, Outcome, ResponseStream, joined, response_stream};

/// The route, for the Invoke API's router.
pub(crate) fn routes() -> Router<Pools> {
    Router::new()
        .route("/2021-11-15/functions/{name}/response-streaming-invocations", post(invoke_with_response_stream))
}

/// How an invocation ended, with its log tail when `X-Amz-Log-Type: Tail` asked for it.
type Ended = Result<(Outcome, Option<String>), ErrorDocument>;

/// `InvokeWithResponseStream`'s invocation types: no `Event`.
pub(crate) struct InvokeStream;

impl InvocationTypes for InvokeStream {
    const ALLOWED: &'static [&'static str] = &["RequestResponse", "DryRun"];
}

async fn invoke_with_response_stream(call: Call<InvokeStream>) -> Response {
    let Call { target, mut request, invocation_type, tail, .. } = call;
    if invocation_type == "DryRun" {
        return StatusCode::NO_CONTENT.into_response();
    }
    let Some(reservation) = target.pool.try_reserve() else {
        return throttled();
    };
    let (sink, mut stream) = response_stream();
    request.stream = Some(sink);
    let pool = target.pool.clone();
    let invocation = tokio::spawn(async move { run_reserved(&pool, request, reservation, tail).await });
    let started = stream.started().await;
    let content_type = started.clone().unwrap_or_else(|| "application/json".to_owned());
    let events = match started {
        // A function that did not stream: its whole response in one chunk, as Lambda sends it.
        None => {
            let ended = joined(invocation.await);
            let mut frames = Vec::new();
            if let Ok((Outcome::Response(body), _)) = &ended {
                frames.push(payload_chunk(body));
            }
            frames.push(invoke_complete(&ended));
            Body::from(frames.concat())
        }
        Some(_) => Body::from_stream(streamed_events(stream, invocation)),
    };
    let mut response = (StatusCode::OK, events).into_response();
    let response_headers = response.headers_mut();
    for (name, value) in [("content-type", content_type.as_str()), ("x-amz-executed-version", &target.executed_version)]
    {
        if let Ok(value) = HeaderValue::from_str(value) {
            response_headers.insert(name, value);
        }
    }
    response
}

/// One `PayloadChunk` event per chunk as the function writes it, then `InvokeComplete`.
fn streamed_events(
    stream: ResponseStream,
    invocation: tokio::task::JoinHandle<Ended>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures_util::stream::unfold(Some((stream, invocation)), |state| async move {
        let (mut stream, invocation) = state?;
        if let Some(chunk) = stream.next_chunk().await {
            return Some((Ok(payload_chunk(&chunk)), Some((stream, invocation))));
        }
        let ended = joined(invocation.await);
        Some((Ok(invoke_complete(&ended)), None))
    })
}

fn payload_chunk(bytes: &[u8]) -> Bytes {
    eventstream::event("PayloadChunk", "application/octet-stream", bytes)
}

/// `InvokeComplete`: `ErrorCode` (the error's type) and `ErrorDetails` (its message) when the
/// function failed, `LogResult` (the base64 log tail) when asked for.
fn invoke_complete(ended: &Ended) -> Bytes {
    let mut complete = serde_json::Map::new();
    let error = match ended {
        Ok((Outcome::Error(error), _)) | Err(error) => Some(error),
        Ok((Outcome::Response(_), _)) => None,
    };
    if let Some(error) = error {
        complete.insert("ErrorCode".to_owned(), json!(error.error_type));
        complete.insert("ErrorDetails".to_owned(), json!(error.error_message));
    }
    if let Ok((_, Some(log))) = ended {
        let tail = &log.as_bytes()[log.len().saturating_sub(4096)..];
        complete.insert("LogResult".to_owned(), json!(base64::engine::general_purpose::STANDARD.encode(tail)));
    }
    eventstream::event("InvokeComplete", "application/json", serde_json::Value::Object(complete).to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_complete_names_the_error_and_carries_the_log_tail() {
        let failed: Ended = Ok((Outcome::Error(ErrorDocument::new("Runtime.StreamError", "boom")), Some("END".into())));
        let frame = invoke_complete(&failed);
        let payload = &frame[frame.len() - 4 - payload_len(&frame)..frame.len() - 4];
        let json: serde_json::Value = serde_json::from_slice(payload).expect("JSON");
        assert_eq!(json, json!({ "ErrorCode": "Runtime.StreamError", "ErrorDetails": "boom", "LogResult": "RU5E" }));
        let fine: Ended = Ok((Outcome::Response(Bytes::new()), None));
        let frame = invoke_complete(&fine);
        assert!(frame.ends_with(&[&b"{}"[..], &crc(&frame)].concat()), "an empty InvokeComplete");
    }

    fn payload_len(frame: &[u8]) -> usize {
        let word = |at: usize| u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]) as usize;
        word(0) - word(4) - 16
    }

    fn crc(frame: &[u8]) -> [u8; 4] {
        frame[frame.len() - 4..].try_into().expect("four bytes")
    }
}
