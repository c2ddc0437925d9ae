//! Intercept: authentication, rate limiting and telemetry around AWS Lambda handlers.
//!
//! The core ([`Interceptor`]) runs the filters over a normalized [`Invocation`]; the tower
//! layers ([`InterceptLayer`], [`FlushLayer`]) put it around a `lambda_runtime` handler, and
//! [`run`] does all of it from the environment's configuration.

mod auth;
mod canonical;
mod config;
#[doc(hidden)]
pub mod fuzzing;
mod interceptor;
mod invocation;
mod layer;
mod policy;
mod ratelimit;
mod rejection;
mod runtime;
mod telemetry;

pub use auth::{
    ApiKeyConfig, ApiKeys, AuthConfig, AuthError, Authenticator, AwsConfig, JwtConfig, JwtVerifier, KeySourceConfig,
    Principal, RING_PROVIDER, ScopeRule, SpliceError, TokenLocation, bearer_token, current_principal,
    inject_authorizer, splice_authorizer, splice_event,
};
pub use canonical::{PathProblem, UnsafePaths};
pub use config::{Config, ConfigError, DEFAULT_OTLP_LISTEN, RateLimitConfig, Secret, TelemetryConfig};
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
pub use policy::{
    Disabled, EffectivePolicy, Mode, Policy, PolicyError, PolicyErrors, PolicySource, RoutePolicy, TelemetryPolicy,
    prefetch_policy,
};
pub use ratelimit::{Decision, Gcra, LimitKey, MemoryStore, Quota};
pub use rejection::Rejection;
pub use runtime::{Init, InitError, InitErrorReport, Options, run};
pub use telemetry::{
    Carriers, FunctionInfo, HandlerTrace, OtlpExporter, ParentSource, Propagators, REDACTED, Redactor, RootSampler,
    Sampler, TIMEOUT_MARGIN, TraceContext, logging,
};

#[doc(hidden)]
pub mod __private {
    pub use lambda_runtime;
    pub use tokio;
}
