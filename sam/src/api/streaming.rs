//! Function URLs with `InvokeMode: RESPONSE_STREAM`: the body goes to the client as the
//! function writes it, after the HTTP integration prelude (status, headers, cookies) when the
//! function sends one.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use bytes::BytesMut;

use super::payload::{HttpResponse, bad_gateway, http_response, prelude_response};
use crate::pool::FunctionPool;
use crate::sandbox::{
    ErrorDocument, HTTP_INTEGRATION_CONTENT_TYPE, Outcome, Request, ResponseStream, joined, response_stream,
};
use crate::template::ApiKind;

/// The invocation running beside its stream.
type Invocation = tokio::task::JoinHandle<Result<Outcome, ErrorDocument>>;

/// Invokes `function` with `event` and answers with its stream. A function that answers
/// buffered gets today's function URL response; one that fails before it streams gets a 502.
pub(crate) async fn stream_function_url(pool: Arc<FunctionPool>, event: Bytes) -> Response {
    let function = pool.name().to_owned();
    let (sink, mut stream) = response_stream();
    let mut request = Request::new(event);
    request.stream = Some(sink);
    let invocation: Invocation = tokio::spawn(async move { pool.invoke(request).await });
    let Some(content_type) = stream.started().await else {
        return buffered(&function, invocation.await).into_response();
    };
    let (head, first) = if content_type == HTTP_INTEGRATION_CONTENT_TYPE {
        let mut prelude = PreludeReader::default();
        loop {
            let Some(chunk) = stream.next_chunk().await else {
                eprintln!("intercept-sam: {function}: the stream ended before its HTTP integration prelude did");
                return refused(invocation);
            };
            match prelude.push(&chunk) {
                Ok(None) => {}
                Ok(Some((json, rest))) => match prelude_response(&json) {
                    Some(head) => break (head, rest),
                    None => {
                        eprintln!("intercept-sam: {function}: the HTTP integration prelude is not a JSON object");
                        return refused(invocation);
                    }
                },
                Err(PreludeTooLong) => {
                    eprintln!(
                        "intercept-sam: {function}: the HTTP integration prelude has no end within its first \
                         {MAX_PRELUDE_BYTES} bytes"
                    );
                    return refused(invocation);
                }
            }
        }
    } else {
        let header =
            HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let head = HttpResponse {
            status: StatusCode::OK,
            headers: vec![(axum::http::header::CONTENT_TYPE, header)],
            body: Bytes::new(),
        };
        (head, Bytes::new())
    };
    let first = (!first.is_empty()).then_some(first);
    into_response(head, Body::from_stream(body(Streamed { function, first, stream, invocation })))
}

/// The most an HTTP integration prelude (status, headers, cookies as JSON) may take before its
/// eight NUL bytes: generous for any real set of headers, and a bound on what is held while a
/// function streams a body that never delimits its prelude.
const MAX_PRELUDE_BYTES: usize = 64 * 1024;

/// A stream whose prelude has no end within [`MAX_PRELUDE_BYTES`].
#[derive(Debug, PartialEq)]
struct PreludeTooLong;

/// The start of an HTTP integration stream, gathered chunk by chunk until its delimiter.
#[derive(Debug, Default)]
struct PreludeReader {
    received: BytesMut,
}

impl PreludeReader {
    /// Adds a chunk; once the delimiter has come, the prelude's JSON and the body bytes after it.
    fn push(&mut self, chunk: &[u8]) -> Result<Option<(Bytes, Bytes)>, PreludeTooLong> {
        // Only the delimiter's width before the new bytes can hold its start: the rest was searched.
        let searched = self.received.len().saturating_sub(7);
        self.received.extend_from_slice(chunk);
        let found = self.received[searched..].windows(8).position(|window| window == [0; 8]).map(|at| searched + at);
        match found {
            Some(at) if at <= MAX_PRELUDE_BYTES => {
                let mut received = std::mem::take(&mut self.received).freeze();
                let rest = received.split_off(at + 8);
                received.truncate(at);
                Ok(Some((received, rest)))
            }
            Some(_) => Err(PreludeTooLong),
            None if self.received.len() > MAX_PRELUDE_BYTES + 7 => Err(PreludeTooLong),
            None => Ok(None),
        }
    }
}

/// The 502 for a stream whose prelude could not be read; the function runs on to its end, as in
/// Lambda, with nobody reading what it writes.
fn refused(invocation: Invocation) -> Response {
    drop(invocation);
    let response = bad_gateway();
    let body = Body::from(response.body.clone());
    into_response(response, body)
}

/// What a function that did not stream answered.
fn buffered(function: &str, invoked: Result<Result<Outcome, ErrorDocument>, tokio::task::JoinError>) -> Response {
    match joined(invoked) {
        Ok(Outcome::Response(output)) => {
            let response = http_response(ApiKind::Http, &output);
            let body = Body::from(response.body.clone());
            into_response(response, body)
        }
        Ok(Outcome::Error(error)) | Err(error) => {
            eprintln!("intercept-sam: {function} failed: {}: {}", error.error_type, error.error_message);
            let response = bad_gateway();
            let body = Body::from(response.body.clone());
            into_response(response, body)
        }
    }
}

fn into_response(head: HttpResponse, body: Body) -> Response {
    let mut response = (head.status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in head.headers {
        headers.append(name, value);
    }
    response
}

/// A streamed response past its head: what followed the prelude, and the rest to come.
struct Streamed {
    function: String,
    first: Option<Bytes>,
    stream: ResponseStream,
    invocation: Invocation,
}

/// The body's chunks: what followed the prelude, then each chunk as the function writes it.
/// A stream that ends in a function error is cut short, so the client sees a broken response
/// rather than a complete one, and the error is logged.
fn body(streamed: Streamed) -> impl futures_util::Stream<Item = Result<Bytes, ErrorDocumentError>> {
    futures_util::stream::unfold(Some(streamed), |state| async move {
        let mut streamed = state?;
        if let Some(first) = streamed.first.take() {
            return Some((Ok(first), Some(streamed)));
        }
        if let Some(chunk) = streamed.stream.next_chunk().await {
            return Some((Ok(chunk), Some(streamed)));
        }
        match joined(streamed.invocation.await) {
            Ok(Outcome::Response(_)) => None,
            Ok(Outcome::Error(error)) | Err(error) => {
                let function = streamed.function;
                eprintln!("intercept-sam: {function} failed mid-stream: {}: {}", error.error_type, error.error_message);
                Some((Err(ErrorDocumentError(error)), None))
            }
        }
    })
}

/// A function error that cut a stream short.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", .0.error_type, .0.error_message)]
struct ErrorDocumentError(ErrorDocument);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prelude_split_across_chunks_ends_at_its_delimiter() {
        let mut reader = PreludeReader::default();
        assert_eq!(reader.push(b"{\"statusCode\":201}\0\0\0"), Ok(None));
        assert_eq!(reader.push(b"\0\0"), Ok(None));
        let (json, rest) = reader.push(b"\0\0\0first").expect("in bounds").expect("complete");
        assert_eq!((&json[..], &rest[..]), (&b"{\"statusCode\":201}"[..], &b"first"[..]));
    }

    #[test]
    fn a_prelude_without_an_end_is_refused_past_its_limit() {
        let mut reader = PreludeReader::default();
        let chunk = [b'a'; 1024];
        for _ in 0..MAX_PRELUDE_BYTES / chunk.len() {
            assert_eq!(reader.push(&chunk), Ok(None));
        }
        assert_eq!(reader.push(&chunk), Err(PreludeTooLong), "64 KiB and more without a delimiter");
        assert!(reader.received.len() <= MAX_PRELUDE_BYTES + chunk.len(), "nothing past the limit is held");

        let mut reader = PreludeReader::default();
        let long = [&[b' '; MAX_PRELUDE_BYTES + 1][..], &[0; 8], b"body"].concat();
        assert_eq!(reader.push(&long), Err(PreludeTooLong), "a delimiter past the limit is too late");
    }

    #[test]
    fn a_prelude_that_is_not_json_has_no_head() {
        let mut reader = PreludeReader::default();
        let (json, _) = reader.push(b"statusCode: 200\0\0\0\0\0\0\0\0body").expect("in bounds").expect("complete");
        assert!(prelude_response(&json).is_none(), "the caller answers 502 for it");
        assert_eq!(bad_gateway().status, StatusCode::BAD_GATEWAY);
    }
}
