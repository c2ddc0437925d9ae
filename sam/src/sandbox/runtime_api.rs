//! The Runtime API (`/2018-06-01`): what the function's runtime client talks to.

// Handlers answer refusals with the HTTP response itself; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http_body_util::BodyExt as _;

use super::error_response;
use super::state::{ErrorDocument, Outcome, Shared};
use super::stream::{MAX_STREAMED_RESPONSE_BYTES, StreamEvent, StreamSink};

/// The content type a streamed response has when its runtime names none (the Node.js runtime
/// client's default).
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Lambda's limit for a buffered response.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.update(|state| {
        state.runtime_next_calls += 1;
        // Registration closes once the runtime is initialised, which its first `next` says.
        state.registration_open = false;
    });
    let Some(invoke) = shared.runtime_inbox.lock().await.recv().await else {
        return error_response(StatusCode::GONE, "Runtime.Shutdown", "the environment is shutting down");
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &invoke.request_id);
    set("lambda-runtime-deadline-ms", &invoke.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", &shared.function.arn);
    set("lambda-runtime-trace-id", &invoke.trace_header);
    if let Some(client_context) = &invoke.client_context {
        set("lambda-runtime-client-context", client_context);
    }
    set("content-type", "application/json");
    (StatusCode::OK, headers, invoke.body).into_response()
}

/// Records the outcome for `id`, or answers as Lambda does for unknown ids and second answers.
fn record(shared: &Shared, id: &str, outcome: Outcome) -> Result<(), Response> {
    shared.update(|state| match state.invocations.get_mut(id) {
        None => Err(error_response(StatusCode::BAD_REQUEST, "InvalidRequestID", &format!("Invalid request ID: {id}"))),
        Some(Some(_)) => Err(error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            &format!("invocation {id} has already been answered"),
        )),
        Some(slot) => {
            *slot = Some(outcome);
            // A caller waiting for a stream that never started reads the outcome instead.
            state.streams.remove(id);
            Ok(())
        }
    })
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "status": "OK" }))).into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|mode| mode.eq_ignore_ascii_case("streaming"));
    if streaming && let Some(sink) = shared.update(|state| state.streams.remove(&id)) {
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or(DEFAULT_CONTENT_TYPE);
        let outcome = forward_stream(body, content_type, sink).await;
        return answered(&shared, &id, outcome).await;
    }
    // Buffered, or streamed to a caller that did not ask for a stream: Lambda holds the response
    // and fails it past 6 MB either way.
    let outcome = match read_limited(body, MAX_RESPONSE_BYTES).await {
        // A stream the runtime abandoned half way is a function error, as in Lambda.
        Read::Broken(error) => {
            Outcome::Error(ErrorDocument::new("Runtime.StreamError", format!("the response stream broke: {error}")))
        }
        Read::TooLarge(size) => {
            let message = format!(
                "Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            );
            let outcome = Outcome::Error(ErrorDocument::new("Function.ResponseSizeTooLarge", &message));
            return match record(&shared, &id, outcome) {
                Ok(()) => error_response(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", &message),
                Err(response) => response,
            };
        }
        Read::Whole(body, trailers) if streaming => {
            match trailers.as_ref().and_then(header_trailer).or_else(|| inline_trailer(&body)) {
                Some((error_type, encoded)) => Outcome::Error(stream_error(&error_type, encoded)),
                None => Outcome::Response(body),
            }
        }
        Read::Whole(body, _) => Outcome::Response(body),
    };
    answered(&shared, &id, outcome).await
}

/// A response body read whole, up to a limit.
#[derive(Debug, PartialEq)]
enum Read {
    /// The body, and its HTTP trailers when it had some.
    Whole(Bytes, Option<HeaderMap>),
    /// The body passed the limit: how many bytes it had in all (read and dropped past the limit).
    TooLarge(usize),
    /// The body broke before its end.
    Broken(String),
}

/// Reads `body` whole, holding at most `limit` bytes: past it the rest is only counted, so
/// Lambda's error can name the size (axum's body limit does not apply to a raw `Body`).
async fn read_limited(mut body: Body, limit: usize) -> Read {
    let mut received = bytes::BytesMut::new();
    let mut size = 0usize;
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(_) if size > limit => break,
            Err(error) => return Read::Broken(error.to_string()),
        };
        match frame.into_data() {
            Ok(data) => {
                size = size.saturating_add(data.len());
                if size <= limit {
                    received.extend_from_slice(&data);
                }
            }
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    if size > limit { Read::TooLarge(size) } else { Read::Whole(received.freeze(), trailers) }
}

/// Records the runtime's answer and lets the caller's response go out before the runtime's
/// `202`: on one event loop, the invocation's waiter runs first, so its write to the caller
/// does not queue behind ours (the runtime only needs the `202` for its next `next`).
async fn answered(shared: &Shared, id: &str, outcome: Outcome) -> Response {
    match record(shared, id, outcome) {
        Ok(()) => {
            tokio::task::yield_now().await;
            accepted()
        }
        Err(response) => response,
    }
}

fn error_type(headers: &HeaderMap) -> Option<&str> {
    headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok())
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let document = ErrorDocument::from_runtime(error_type(&headers), &body);
    answered(&shared, &id, Outcome::Error(document)).await
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let document = ErrorDocument::from_runtime(error_type(&headers), &body);
    shared.update(|state| state.init_error = Some(document));
    accepted()
}

/// The error a stream's trailer reports: its body is base64 (JSON, or plain text from
/// lambda_runtime).
fn stream_error(error_type: &str, encoded: Vec<u8>) -> ErrorDocument {
    let decoded = base64::engine::general_purpose::STANDARD.decode(&encoded).unwrap_or(encoded);
    ErrorDocument::from_runtime(Some(error_type), &decoded)
}

/// The error trailer's type and body, from HTTP trailers.
fn header_trailer(trailers: &HeaderMap) -> Option<(String, Vec<u8>)> {
    let error_type = trailers.get("lambda-runtime-function-error-type")?;
    let error_body = trailers.get("lambda-runtime-function-error-body").map(|v| v.as_bytes().to_vec());
    Some((String::from_utf8_lossy(error_type.as_bytes()).into_owned(), error_body.unwrap_or_default()))
}

/// Passes a streamed response to its caller frame by frame, as the runtime writes it, and
/// returns how it ended: an error from its trailers, a broken or over-long stream, or a
/// response (whose bytes went to the caller, so the outcome's body is empty).
async fn forward_stream(mut body: Body, content_type: &str, StreamSink(sink): StreamSink) -> Outcome {
    // A caller that has gone away stops reading; the function's writes are still taken (and
    // dropped) so that it runs to its end, as in Lambda.
    let mut caller = Some(sink);
    let send = async |caller: &mut Option<tokio::sync::mpsc::Sender<StreamEvent>>, event| {
        if let Some(sink) = caller.as_ref()
            && sink.send(event).await.is_err()
        {
            *caller = None;
        }
    };
    send(&mut caller, StreamEvent::Started(content_type.to_owned())).await;
    let mut written = 0usize;
    loop {
        let frame = match body.frame().await {
            None => return Outcome::Response(Bytes::new()),
            Some(Err(error)) => {
                let message = format!("the response stream broke: {error}");
                return Outcome::Error(ErrorDocument::new("Runtime.StreamError", message));
            }
            Some(Ok(frame)) => frame,
        };
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => match frame.trailers_ref().and_then(header_trailer) {
                Some((error_type, encoded)) => return Outcome::Error(stream_error(&error_type, encoded)),
                None => continue,
            },
        };
        let (data, trailer) = split_chunk(frame);
        written += data.len();
        if written > MAX_STREAMED_RESPONSE_BYTES {
            return Outcome::Error(ErrorDocument::new(
                "Function.ResponseSizeTooLarge",
                format!(
                    "Response payload size exceeded maximum allowed payload size ({MAX_STREAMED_RESPONSE_BYTES} bytes)."
                ),
            ));
        }
        if !data.is_empty() {
            send(&mut caller, StreamEvent::Chunk(data)).await;
        }
        if let Some((error_type, encoded)) = trailer {
            return Outcome::Error(stream_error(&error_type, encoded));
        }
    }
}

/// Splits a chunk of a streamed body into the bytes to pass on and lambda_runtime's inline error
/// trailer, which it writes as the stream's last chunk. A chunk without a trailer that parses
/// passes on whole.
fn split_chunk(chunk: Bytes) -> (Bytes, Option<(String, Vec<u8>)>) {
    if let Some(at) = inline_trailer_at(&chunk)
        && let Some(trailer) = inline_trailer(&chunk[at..])
    {
        return (chunk.slice(..at), Some(trailer));
    }
    (chunk, None)
}

/// Checks what the stream forwarding promises for one chunk (`data`): the bytes passed on are
/// the chunk's, up to an inline trailer when one parses, and all of them otherwise.
///
/// # Panics
/// When bytes are lost or changed: that is the finding.
pub(crate) fn fuzz_stream_chunk(data: &[u8]) {
    let (passed, trailer) = split_chunk(Bytes::copy_from_slice(data));
    assert_eq!(&data[..passed.len()], &passed[..], "the bytes passed on are the chunk's own");
    match trailer {
        None => assert_eq!(passed.len(), data.len(), "a chunk without a trailer passes on whole"),
        Some(_) => assert!(data[passed.len()..].starts_with(b"Lambda-Runtime-Function-Error-Type: ")),
    }
}

/// Where lambda_runtime's inline error trailer starts in a chunk, if it has one.
fn inline_trailer_at(chunk: &[u8]) -> Option<usize> {
    const TYPE: &[u8] = b"Lambda-Runtime-Function-Error-Type: ";
    chunk.windows(TYPE.len()).rposition(|w| w == TYPE)
}

/// `lambda_runtime` writes a mid-stream error as trailer lines at the end of the chunked body
/// (`Lambda-Runtime-Function-Error-Type: …\r\nLambda-Runtime-Function-Error-Body: …\r\n`)
/// rather than as HTTP trailers; Lambda reads both.
fn inline_trailer(body: &[u8]) -> Option<(String, Vec<u8>)> {
    const BODY: &[u8] = b"Lambda-Runtime-Function-Error-Body: ";
    let start = inline_trailer_at(body)?;
    let text = std::str::from_utf8(&body[start..]).ok()?;
    let mut lines = text.split("\r\n");
    let error_type = lines.next()?.strip_prefix("Lambda-Runtime-Function-Error-Type: ")?.to_owned();
    let error_body = lines.next().and_then(|l| l.as_bytes().strip_prefix(BODY)).unwrap_or_default().to_vec();
    Some((error_type, error_body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(sizes: &[usize]) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            sizes.iter().map(|&n| Ok(Bytes::from(vec![b'x'; n]))).collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn a_response_is_read_whole_up_to_its_limit_and_only_counted_past_it() {
        assert_eq!(read_limited(chunks(&[4, 6]), 10).await, Read::Whole(Bytes::from(vec![b'x'; 10]), None));
        assert_eq!(read_limited(chunks(&[4, 6, 1, 5]), 10).await, Read::TooLarge(16), "the whole size is named");
        let at_limit = read_limited(Body::from(vec![0u8; MAX_RESPONSE_BYTES]), MAX_RESPONSE_BYTES).await;
        assert!(matches!(at_limit, Read::Whole(body, None) if body.len() == MAX_RESPONSE_BYTES));
        let over = read_limited(Body::from(vec![0u8; MAX_RESPONSE_BYTES + 1]), MAX_RESPONSE_BYTES).await;
        assert_eq!(over, Read::TooLarge(MAX_RESPONSE_BYTES + 1));
    }

    #[test]
    fn reads_lambda_runtimes_inline_error_trailer() {
        let body = b"{}\0\0\0\0\0\0\0\0one twoLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: Ym9vbQ==\r\n";
        let (error_type, error_body) = inline_trailer(body).expect("a trailer");
        assert_eq!(error_type, "Runtime.StreamError");
        assert_eq!(error_body, b"Ym9vbQ==");
        assert_eq!(inline_trailer(b"plain streamed data"), None);
    }

    #[test]
    fn a_chunk_passes_on_up_to_a_trailer_that_parses_and_whole_otherwise() {
        let chunk = Bytes::from_static(b"last wordsLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n");
        let (passed, trailer) = split_chunk(chunk);
        assert_eq!((passed.as_ref(), trailer.map(|t| t.0)), (&b"last words"[..], Some("Runtime.StreamError".into())));
        let odd = Bytes::from_static(b"dataLambda-Runtime-Function-Error-Type: \xff\xfe");
        assert_eq!(split_chunk(odd.clone()), (odd, None), "bytes that only look like a trailer are data");
    }
}
