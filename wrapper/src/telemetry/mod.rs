//! Telemetry: a server span per invocation with child spans for the filters and the handler,
//! parented on the caller's trace, metrics, redaction, and export over OTLP/HTTP.

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
