//! The client side of the proxy: requests to the upstream Runtime API over kept-alive connections.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

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
#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client<HttpConnector, ProxyBody>,
    authority: Authority,
}

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
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // Header names keep the case the runtime wrote them in, both ways.
        let client = Client::builder(TokioExecutor::new()).http1_preserve_header_case(true).build(connector);
        Ok(Upstream { client, authority })
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
        let path = parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        // An absolute-form request line may name another host; the upstream is still ours.
        let uri = Uri::builder().scheme(Scheme::HTTP).authority(self.authority.clone()).path_and_query(path);
        parts.uri = uri.build().map_err(|error| self.error(error))?;
        if !parts.headers.contains_key(HOST) {
            parts.headers.insert(HOST, HeaderValue::from_str(self.authority.as_str()).map_err(|e| self.error(e))?);
        }
        self.client.request(Request::from_parts(parts, body)).await.map_err(|error| self.error(error))
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
            .uri(format!("http://{}{path}", self.authority))
            .header(HOST, self.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(full(body)).map_err(|error| self.error(error))?;
        let response = self.client.request(request).await.map_err(|error| self.error(error))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|error| self.error(error))?.to_bytes();
        Ok((status, body))
    }
}
