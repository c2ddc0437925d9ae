//! The server side of the proxy: accepts the runtime's connections and routes each request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRAILER};
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt as _, Either};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_runtime::Diagnostic;
use serde_json::value::RawValue;
use tokio::net::TcpListener;

use super::Proxy;
use super::next::{bad_gateway, next};
use super::upstream::{ProxyBody, full};

/// Where the exec wrapper asks whether this environment's proxy is the one on the port.
pub const PROBE_PATH: &str = "/_intercept/proxy";
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
/// Buffered answers up to this size are read on the way through, for the span's status code.
const INSPECTED_BYTES: usize = 1024 * 1024;
const STREAMING_TRAILERS: &str = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body";

/// Serves the Runtime API on `listener` through `proxy` until the process ends.
pub async fn serve_proxy(listener: TcpListener, proxy: Arc<Proxy>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors and the like: keep serving once it passes.
                tracing::warn!(%error, "proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        tokio::spawn(async move {
            // The futures are boxed: the core's invocation future nests deeper than the compiler's
            // layout depth limit allows in one unboxed state machine.
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(Box::pin(route(&proxy, request)).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "proxy: runtime connection ended");
            }
        });
    }
}

async fn route(proxy: &Proxy, request: Request<Incoming>) -> Response<ProxyBody> {
    let path = request.uri().path();
    if request.method() == Method::GET && path == NEXT_PATH {
        let (parts, _no_body) = request.into_parts();
        return Box::pin(next(proxy, parts)).await;
    }
    if request.method() == Method::GET && path == PROBE_PATH {
        return identity(proxy);
    }
    let (mut parts, body) = request.into_parts();
    let streaming = parts
        .headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"streaming"));
    if streaming && !parts.headers.contains_key(TRAILER) && !parts.headers.contains_key(CONTENT_LENGTH) {
        // An HTTP/1.1 sender only writes trailers it announced; runtimes that put the error
        // in trailers without announcing them would lose it on the second hop.
        parts.headers.insert(TRAILER, HeaderValue::from_static(STREAMING_TRAILERS));
    }
    let Some((request_id, kind)) = answer_for(&parts) else {
        return match proxy.upstream.send(Request::from_parts(parts, Either::Left(body))).await {
            Ok(response) => response.map(Either::Left),
            Err(error) => bad_gateway(&error),
        };
    };
    // The runtime's answer to an invocation: it goes upstream as it came, and ends the
    // invocation's handler span. A small buffered one is read first, for its status code.
    let small = !streaming
        && parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|length| length <= INSPECTED_BYTES);
    let (body, seen) = if small {
        match body.collect().await {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                (full(bytes.clone()), Some(bytes))
            }
            Err(error) => {
                tracing::debug!(%error, "proxy: the runtime's answer broke off");
                return bad_gateway(&proxy.upstream_error(error));
            }
        }
    } else {
        (Either::Left(body), None)
    };
    let error_type = parts
        .headers
        .get(intercept::InitErrorReport::ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = match proxy.upstream.send(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(error) => return bad_gateway(&error),
    };
    if response.status().is_success() {
        let answer = match kind {
            AnswerKind::Response => {
                let document =
                    seen.and_then(|bytes| serde_json::from_slice::<&RawValue>(&bytes).ok().map(|r| r.to_owned()));
                Ok(document.unwrap_or_else(|| RawValue::NULL.to_owned()))
            }
            AnswerKind::Error => {
                let body = seen.and_then(|bytes| serde_json::from_slice::<ErrorBody>(&bytes).ok()).unwrap_or_default();
                Err(Diagnostic {
                    error_type: error_type.or(body.error_type).unwrap_or_else(|| "Unhandled".to_owned()),
                    error_message: body.error_message.unwrap_or_default(),
                })
            }
        };
        proxy.filters.answered(&request_id, answer);
    }
    response.map(Either::Left)
}

enum AnswerKind {
    Response,
    Error,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    error_type: Option<String>,
    error_message: Option<String>,
}

/// `POST /2018-06-01/runtime/invocation/{id}/response` or `/error`: the request id and which.
fn answer_for(parts: &http::request::Parts) -> Option<(String, AnswerKind)> {
    if parts.method != Method::POST {
        return None;
    }
    let rest = parts.uri.path().strip_prefix("/2018-06-01/runtime/invocation/")?;
    let (id, kind) = rest.split_once('/')?;
    let kind = match kind {
        "response" => AnswerKind::Response,
        "error" => AnswerKind::Error,
        _ => return None,
    };
    Some((id.to_owned(), kind))
}

/// Who this proxy is: the exec wrapper compares it with the Runtime API it was given before it
/// points the runtime here. The first look also starts building the filters, while the
/// runtime initialises.
fn identity(proxy: &Proxy) -> Response<ProxyBody> {
    proxy.warm_up();
    let body = serde_json::json!({
        "upstream": proxy.upstream.authority(),
        "lambdaRuntimeApi": proxy.lambda_runtime_api,
    });
    let mut response = Response::new(full(body.to_string()));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
