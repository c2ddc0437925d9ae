//! Running a handler under Intercept inside `lambda_runtime`'s loop.

use std::fmt;
use std::sync::Arc;

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Diagnostic, LambdaEvent, Runtime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::{Layer as _, Service};

use crate::config::{Config, ConfigError};
use crate::interceptor::{BuildError, Interceptor};
use crate::layer::{FlushLayer, InterceptLayer};

/// Runs `handler` behind Intercept's filters with the configuration from the environment.
///
/// A bad setting is reported to the Runtime API as an init error (as Lambda expects) and
/// returned, so the function stops at init instead of failing every request.
///
/// ```no_run
/// use lambda_runtime::{Error, LambdaEvent, service_fn};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     intercept::run(service_fn(handler)).await
/// }
/// ```
///
/// # Errors
/// The configuration error, or whatever stops `lambda_runtime`'s loop.
pub async fn run<S, T, R>(handler: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<LambdaEvent<T>, Response = R> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Diagnostic> + fmt::Debug,
    T: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    let interceptor = match async {
        let config = Config::from_env()?;
        Interceptor::connect(&config).await.map_err(|error| match error {
            BuildError::Config(error) => InitError::Config(error),
            other => InitError::Build(other.to_string()),
        })
    }
    .await
    {
        Ok(interceptor) => Arc::new(interceptor),
        Err(error) => {
            report_init_error(&error).await;
            return Err(Box::new(error));
        }
    };
    let exporter = interceptor.exporter().cloned();
    let service = InterceptLayer::new(interceptor).layer(handler);
    Runtime::new(service).layer(FlushLayer::new(exporter)).layer(TracingLayer::new()).run().await
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting is missing or malformed.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The filters could not be built.
    #[error("cannot start: {0}")]
    Build(String),
}

/// Tells the Runtime API that init failed, so Lambda reports it as `Runtime.InitError`-like
/// failure with this message rather than a bare process exit.
async fn report_init_error(error: &InitError) {
    eprintln!("intercept: {error}");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let diagnostic = Diagnostic { error_type: "Intercept.ConfigError".to_owned(), error_message: error.to_string() };
    let Ok(body) = serde_json::to_vec(&diagnostic) else {
        return;
    };
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("lambda-runtime-function-error-type", "Intercept.ConfigError")
        .body(body)
        .send()
        .await;
    if let Err(error) = sent {
        eprintln!("intercept: could not report the init error to the Runtime API: {error}");
    }
}
