//! The client side of the proxy: requests to the upstream Runtime API over kept-alive connections.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// A body the proxy sends on: the other side's, streamed as it comes, or one of its own.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// A body the proxy wrote itself.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Either::Right(Full::new(bytes.into()))
}

/// The upstream could not be reached or broke off.
#[derive(Debug, thiserror::Error)]
#[error("upstream Runtime API {upstream}: {detail}")]
pub struct UpstreamError {
    upstream: String,
    detail: String,
}

impl UpstreamError {
    pub(crate) fn new(upstream: &str, detail: impl std::fmt::Display) -> Self {
        UpstreamError { upstream: upstream.to_owned(), detail: detail.to_string() }
    }
}

/// The Runtime API the proxy forwards to (Lambda's, or the next proxy in a chain).
///
/// Requests go over HTTP/1.1 connections the proxy keeps open: one is taken when it is idle,
/// and another opened when every one is busy (a `next` long poll holds one for as long as
/// the environment waits for an event). There are rarely more than two.
#[derive(Debug, Clone)]
pub struct Upstream {
    authority: Authority,
    host: HeaderValue,
    connections: Arc<Mutex<Vec<SendRequest<ProxyBody>>>>,
}

/// At most this many connections are kept; older ones close once their exchange is over.
const KEPT_CONNECTIONS: usize = 4;

impl Upstream {
    /// A client for the Runtime API at `host_port` (`AWS_LAMBDA_RUNTIME_API`'s form).
    ///
    /// # Errors
    /// An [`UpstreamError`] when `host_port` is not an authority.
    pub fn new(host_port: &str) -> Result<Self, UpstreamError> {
        let authority = host_port.parse::<Authority>().map_err(|error| UpstreamError {
            upstream: host_port.to_owned(),
            detail: format!("not host:port: {error}"),
        })?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|error| UpstreamError {
            upstream: host_port.to_owned(),
            detail: format!("not a Host header value: {error}"),
        })?;
        Ok(Upstream { authority, host, connections: Arc::default() })
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, Vec<SendRequest<ProxyBody>>> {
        self.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle kept-alive connection, or a new one.
    async fn connection(&self) -> Result<SendRequest<ProxyBody>, UpstreamError> {
        {
            let mut connections = self.connections();
            connections.retain(|connection| !connection.is_closed());
            if let Some(index) = connections.iter().position(SendRequest::is_ready) {
                return Ok(connections.swap_remove(index));
            }
        }
        let stream = tokio::net::TcpStream::connect(self.authority.as_str()).await.map_err(|e| self.error(e))?;
        stream.set_nodelay(true).map_err(|e| self.error(e))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| self.error(e))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "proxy: upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// Sends `request` (origin-form URI, `Host` set) on a kept-alive connection. The connection
    /// is kept for later requests: it is ready again once this response's body has been read.
    async fn round_trip(&self, request: Request<ProxyBody>) -> Result<Response<Incoming>, UpstreamError> {
        let mut connection = self.connection().await?;
        let response = connection.send_request(request);
        {
            // Letting go of the oldest ends it once its own exchange is over (one whose
            // response body was never read to the end would otherwise hold a place for good).
            let mut connections = self.connections();
            if connections.len() >= KEPT_CONNECTIONS {
                connections.remove(0);
            }
            connections.push(connection);
        }
        response.await.map_err(|error| self.error(error))
    }

    /// `host:port` of the upstream.
    #[must_use]
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    fn error(&self, detail: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::new(self.authority.as_str(), detail)
    }

    /// Sends a request on as it is (method, path, query, headers, body and trailers), only
    /// pointed at the upstream; the answer comes back streaming.
    ///
    /// # Errors
    /// An [`UpstreamError`] when the upstream cannot be reached or answers no HTTP.
    pub async fn send(&self, request: Request<ProxyBody>) -> Result<Response<Incoming>, UpstreamError> {
        let (mut parts, body) = request.into_parts();
        // An absolute-form request line may name another host; the upstream is still ours.
        let path = parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        parts.uri = Uri::from(path);
        parts.version = http::Version::HTTP_11;
        if !parts.headers.contains_key(HOST) {
            parts.headers.insert(HOST, self.host.clone());
        }
        self.round_trip(Request::from_parts(parts, body)).await
    }

    /// Posts a body the proxy wrote itself (an answer for an event the runtime never saw) and
    /// reads the whole answer.
    ///
    /// # Errors
    /// An [`UpstreamError`] when the upstream cannot be reached or breaks off.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Bytes,
    ) -> Result<(http::StatusCode, Bytes), UpstreamError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(full(body)).map_err(|error| self.error(error))?;
        let response = self.round_trip(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|error| self.error(error))?.to_bytes();
        Ok((status, body))
    }
}
