//! Telemetry: one server span per invocation, parented on the caller's trace, sent over OTLP/HTTP.

mod context;
mod export;
mod span;

pub use context::TraceContext;
pub use export::OtlpExporter;
pub use span::InvocationSpan;
