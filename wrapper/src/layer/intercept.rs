//! `InterceptLayer`: wraps a handler so every event passes the filters first.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use tower::Layer;

use super::Intercept;
use crate::interceptor::Interceptor;

/// The event as the Runtime API delivered it: validated JSON, not yet deserialized.
///
/// The interceptor reads what it needs from it, and the handler's own type is deserialized
/// from it only once the invocation is admitted.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct RawEvent(pub Box<RawValue>);

/// Applies Intercept's filters to a `lambda_runtime` handler taking `LambdaEvent<T>`.
///
/// What [`run`](crate::run) assembles, for a runtime built by hand: the filters around the
/// handler, and a [`FlushLayer`](crate::FlushLayer) around the whole invocation so telemetry is
/// sent after the response.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use intercept::{Config, FlushLayer, InterceptLayer, Interceptor};
/// use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
/// use serde_json::Value;
/// use tower::Layer as _;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     let interceptor = Arc::new(Interceptor::connect(&Config::from_env()?).await?);
///     let flush = FlushLayer::new(interceptor.exporter().cloned());
///     let service = InterceptLayer::new(interceptor).layer(service_fn(handler));
///     Runtime::new(service).layer(flush).run().await
/// }
/// ```
#[derive(Debug)]
pub struct InterceptLayer<T> {
    interceptor: Arc<Interceptor>,
    _event: PhantomData<fn(T)>,
}

impl<T> Clone for InterceptLayer<T> {
    fn clone(&self) -> Self {
        InterceptLayer { interceptor: self.interceptor.clone(), _event: PhantomData }
    }
}

impl<T> InterceptLayer<T> {
    /// A layer sharing one interceptor (and so one rate-limit store) across invocations.
    ///
    /// ```no_run
    /// use intercept::{Config, InterceptLayer, Interceptor};
    /// use lambda_runtime::{LambdaEvent, service_fn};
    /// use serde_json::Value;
    /// use tower::Layer as _;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let interceptor = Interceptor::new(&Config::from_env()?)?;
    /// let layer = InterceptLayer::<Value>::new(std::sync::Arc::new(interceptor));
    /// let _service = layer.layer(service_fn(|event: LambdaEvent<Value>| async move {
    ///     Ok::<_, lambda_runtime::Error>(event.payload)
    /// }));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn new(interceptor: Arc<Interceptor>) -> Self {
        InterceptLayer { interceptor, _event: PhantomData }
    }
}

impl<S, T> Layer<S> for InterceptLayer<T> {
    type Service = Intercept<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Intercept::new(inner, self.interceptor.clone())
    }
}
