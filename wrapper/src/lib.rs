//! Intercept: authentication, rate limiting and telemetry around AWS Lambda handlers.
//!
//! Start from one of three places:
//!
//! - [`main`] (`#[intercept::main]`) or [`run`]: the whole of it around a handler, configured
//!   from the environment (and the policy file, `INTERCEPT_POLICY`);
//! - [`InterceptLayer`] and [`FlushLayer`]: the tower layers, for a `lambda_runtime` service
//!   you assemble yourself;
//! - [`Interceptor`]: the filters alone, run over a normalized [`Invocation`].
//!
//! Each filter and its settings have a module, as tower arranges its middleware: [`auth`],
//! [`ratelimit`], [`telemetry`] (with [`telemetry::logging`]), [`policy`] (the policy file),
//! and [`canonical`] (the one spelling of a request path every decision judges).
#![warn(missing_docs)]

pub mod auth;
pub mod canonical;
mod config;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod interceptor;
mod invocation;
mod layer;
pub mod policy;
pub mod ratelimit;
mod rejection;
mod runtime;
pub mod telemetry;

pub use config::{Config, ConfigError};
pub use error::ParseError;
/// A handler with state built once by `init` and settings given in the code:
///
/// ```no_run
/// use lambda_runtime::{Error, LambdaEvent};
/// use serde_json::{Value, json};
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// async fn init() -> Result<Greeter, Error> {
///     Ok(Greeter { greeting: "hello".to_owned() })
/// }
///
/// #[intercept::main(init = init, auth = "jwt", rate_limit = "100/m", rate_limit_key = "principal")]
/// async fn handler(event: LambdaEvent<Value>, greeter: &Greeter) -> Result<Value, Error> {
///     Ok(json!({ "statusCode": 200, "body": format!("{} {}", greeter.greeting, event.context.request_id) }))
/// }
/// ```
pub use intercept_macros::main;
pub use interceptor::{Admitted, BuildError, Interceptor, Outcome};
pub use invocation::{Invocation, InvocationMeta, TriggerKind};
pub use layer::{Flush, FlushLayer, Intercept, InterceptLayer, RawEvent};
pub use rejection::Rejection;
pub use runtime::{Init, InitError, InitErrorReport, Options, run};

#[doc(hidden)]
pub mod __private {
    pub use lambda_runtime;
    pub use tokio;
}
