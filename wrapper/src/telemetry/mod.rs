//! Telemetry: a server span per invocation with child spans for the filters and the handler,
//! parented on the caller's trace, metrics, redaction, and export over OTLP/HTTP.
//!
//! [`TelemetryConfig`] is what the `OTEL_*`, `INTERCEPT_OTLP_LISTEN` and `INTERCEPT_REDACT`
//! settings describe ([`Config::telemetry`](crate::Config::telemetry)); the
//! [`Interceptor`](crate::Interceptor) records each invocation and its [`OtlpExporter`] sends
//! the batch. The structured log layer is [`logging`]. What is never recorded is the
//! [`Redactor`]'s to decide, the same for spans and logs:
//!
//! ```
//! use intercept::telemetry::{REDACTED, Redactor};
//!
//! let redactor = Redactor::new(["X-Tenant-Id".to_owned()]);
//! assert_eq!(redactor.value("authorization", "Bearer eyJ..."), REDACTED);
//! assert_eq!(redactor.value("x-tenant-id", "acme"), REDACTED);
//! assert_eq!(redactor.value("accept", "application/json"), "application/json");
//! ```

mod context;
mod export;
mod links;
pub mod logging;
mod metrics;
mod recorder;
mod redact;
mod sampler;
mod settings;
mod span;

pub use context::{Carriers, ParentSource, TraceContext};
pub use export::OtlpExporter;
pub use recorder::{HandlerTrace, TIMEOUT_MARGIN};
pub use redact::{REDACTED, Redactor};
pub use sampler::{Root as RootSampler, Sampler};
pub use settings::{DEFAULT_OTLP_LISTEN, FunctionInfo, Propagators, TelemetryConfig};

pub(crate) use recorder::{FilterTrace, Recorder, Telemetry};
pub(crate) use redact::with_secrets;
pub(crate) use settings::parse as parse_settings;
