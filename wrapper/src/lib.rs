//! Intercept: authentication, rate limiting and telemetry around AWS Lambda handlers.
//!
//! The core ([`Interceptor`]) runs the filters over a normalized [`Invocation`]; the tower
//! layers ([`InterceptLayer`], [`FlushLayer`]) put it around a `lambda_runtime` handler, and
//! [`run`] does all of it from the environment's configuration.

mod auth;
mod config;
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
    Principal, ScopeRule, TokenLocation, bearer_token, current_principal, inject_authorizer,
};
pub use config::{Config, ConfigError, DEFAULT_OTLP_LISTEN, RateLimitConfig, Secret, TelemetryConfig};
pub use intercept_macros::main;
pub use interceptor::{Admitted, BuildError, Interceptor};
pub use invocation::{Invocation, TriggerKind};
pub use layer::{Flush, FlushLayer, Intercept, InterceptLayer, RawEvent};
pub use policy::{Disabled, EffectivePolicy, Mode, Policy, PolicyError, PolicyErrors, RoutePolicy, TelemetryPolicy};
pub use ratelimit::{Decision, Gcra, LimitKey, MemoryStore, Quota};
pub use rejection::Rejection;
pub use runtime::{Init, InitError, Options, run};
pub use telemetry::{
    Carriers, FunctionInfo, InvocationMeta, OtlpExporter, Outcome, ParentSource, Propagators, REDACTED, Redactor,
    RootSampler, Sampler, TraceContext, logging,
};

#[doc(hidden)]
pub mod __private {
    pub use lambda_runtime;
    pub use tokio;
}
