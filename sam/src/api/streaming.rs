//! Function URLs with `InvokeMode: RESPONSE_STREAM`: the body goes to the client as the
//! function writes it, after the HTTP integration prelude (status, headers, cookies) when the
//! function sends one.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};

use super::payload::{HttpResponse, bad_gateway, http_response, prelude_response};
use crate::pool::FunctionPool;
use crate::sandbox::{
    ErrorDocument, HTTP_INTEGRATION_CONTENT_TYPE, Outcome, Prelude, Request, ResponseStream, joined, response_stream,
    split_prelude,
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
        let mut received = Bytes::new();
        loop {
            if let Prelude::Complete(prelude, rest) = split_prelude(&received) {
                break (prelude_response(&prelude).unwrap_or_else(bad_gateway), rest);
            }
            let Some(chunk) = stream.next_chunk().await else {
                eprintln!("intercept-sam: {function}: the stream ended before its HTTP integration prelude did");
                return into_response(bad_gateway(), Body::empty());
            };
            received = [received, chunk].concat().into();
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
