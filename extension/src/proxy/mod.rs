//! The Runtime API proxy: Intercept for any managed runtime (Python, Node, Java, ...).
//!
//! The layer's exec wrapper (`AWS_LAMBDA_EXEC_WRAPPER=/opt/intercept-wrapper`) points the
//! runtime's `AWS_LAMBDA_RUNTIME_API` at this proxy on `127.0.0.1:INTERCEPT_PROXY_PORT`. Every
//! Runtime API call is forwarded upstream as it is (headers, streamed bodies, trailers); on
//! `next`, the `intercept` core runs over the event first: an admitted event reaches the
//! runtime (byte for byte, but for the principal spliced in as API Gateway's JWT authorizer
//! adds it), a rejected one
//! is answered upstream by the proxy itself and the proxy fetches the next event, so the
//! handler never sees it.

mod filters;
mod next;
mod probe;
mod server;
mod settings;
mod upstream;

use std::sync::Arc;

use crate::LogSecrets;

pub use filters::ProxyCounts;
pub use probe::{ProbeError, probe};
pub use server::{PROBE_PATH, serve_proxy};
pub use settings::{DEFAULT_PROXY_PORT, FailMode, ProxyConfig};
pub use upstream::{ProxyBody, Upstream, UpstreamError};

/// One environment's proxy: its upstream and its filters.
#[derive(Debug)]
pub struct Proxy {
    upstream: Upstream,
    lambda_runtime_api: String,
    filters: Arc<filters::Filters>,
    /// The init error, reported once when the filters cannot run and the proxy fails closed.
    init_error: intercept::InitErrorReport,
    log_secrets: Option<Arc<LogSecrets>>,
}

impl Proxy {
    /// A proxy forwarding as `config` says, with filters built (on first use) from `filters`,
    /// the same configuration the in-process placement reads.
    ///
    /// ```no_run
    /// use intercept_extension::proxy::{Proxy, ProxyConfig, serve_proxy};
    ///
    /// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = ProxyConfig::from_env()?;
    /// let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    /// let proxy = Proxy::new(&config, intercept::Config::from_env())?;
    /// tokio::spawn(serve_proxy(listener, std::sync::Arc::new(proxy)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// An [`UpstreamError`] when the upstream is not `host:port`.
    pub fn new(
        config: &ProxyConfig,
        filters: Result<intercept::Config, intercept::ConfigError>,
    ) -> Result<Self, UpstreamError> {
        Ok(Proxy {
            upstream: Upstream::new(&config.upstream)?,
            lambda_runtime_api: config.lambda_runtime_api.clone(),
            filters: Arc::new(filters::Filters::new(filters, config.fail)),
            init_error: intercept::InitErrorReport::new(),
            log_secrets: None,
        })
    }

    /// This proxy, recording in `log_secrets` the credentials of every event it hands the
    /// runtime, so the extension scrubs them from the function's log lines.
    #[must_use]
    pub fn with_log_secrets(mut self, log_secrets: Arc<LogSecrets>) -> Self {
        self.log_secrets = Some(log_secrets);
        self
    }

    /// What the proxy did with the events so far.
    #[must_use]
    pub fn counts(&self) -> &ProxyCounts {
        &self.filters.counts
    }

    /// Starts building the filters in the background (fetching keys, connecting the store), so
    /// the first event does not wait for it.
    pub fn warm_up(&self) {
        let filters = self.filters.clone();
        tokio::spawn(async move {
            let _ = filters.ready().await;
        });
    }

    fn upstream_error(&self, error: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::new(self.upstream.authority(), error)
    }
}
