//! `FlushLayer`: sends the invocation's telemetry after the response, before the next event.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_runtime::LambdaInvocation;
use tower::{Layer, Service};

use crate::interceptor::Interceptor;
use crate::telemetry::OtlpExporter;

/// Wraps the whole invocation (handler and the response post to the Runtime API), so the
/// flush adds nothing to the response latency and finishes before Lambda can freeze the
/// environment.
#[derive(Debug, Clone)]
pub struct FlushLayer {
    exporter: Option<Arc<OtlpExporter>>,
    policy: Option<Arc<Interceptor>>,
}

impl FlushLayer {
    /// A layer flushing `exporter` after each invocation; `None` makes it a pass-through.
    #[must_use]
    pub fn new(exporter: Option<Arc<OtlpExporter>>) -> Self {
        FlushLayer { exporter, policy: None }
    }

    /// This layer, also re-checking the interceptor's watched policy file after each
    /// invocation ([`Interceptor::check_policy_file`]): off the request path, before the next
    /// event is fetched, so an edited file applies to the next request.
    #[must_use]
    pub fn with_policy_check(mut self, interceptor: Arc<Interceptor>) -> Self {
        self.policy = Some(interceptor);
        self
    }
}

impl<S> Layer<S> for FlushLayer {
    type Service = Flush<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Flush { inner, exporter: self.exporter.clone(), policy: self.policy.clone() }
    }
}

/// The service made by [`FlushLayer`].
#[derive(Debug, Clone)]
pub struct Flush<S> {
    inner: S,
    exporter: Option<Arc<OtlpExporter>>,
    policy: Option<Arc<Interceptor>>,
}

impl<S> Service<LambdaInvocation> for Flush<S>
where
    S: Service<LambdaInvocation, Response = ()>,
    S::Future: 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let invoked = self.inner.call(invocation);
        let exporter = self.exporter.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let result = invoked.await;
            if let Some(exporter) = exporter {
                exporter.flush().await;
            }
            if let Some(interceptor) = policy {
                interceptor.check_policy_file().await;
            }
            result
        })
    }
}
