//! The server side of the proxy: accepts the runtime's connections and routes each request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRAILER};
use http::{HeaderValue, Method, Request, Response};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Proxy;
use super::next::{bad_gateway, next};
use super::upstream::{ProxyBody, full};

/// Where the exec wrapper asks whether this environment's proxy is the one on the port.
pub const PROBE_PATH: &str = "/_intercept/proxy";
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
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
            let service = service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(route(&proxy, request).await) }
            });
            let connection =
                http1::Builder::new().preserve_header_case(true).serve_connection(TokioIo::new(stream), service);
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
        return next(proxy, parts).await;
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
    match proxy.upstream.send(Request::from_parts(parts, Either::Left(body))).await {
        Ok(response) => response.map(Either::Left),
        Err(error) => bad_gateway(&error),
    }
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
