//! intercept-sam: runs SAM templates locally, without Docker, under Intercept.
//!
//! The binary is thin: it parses arguments and calls [`local_invoke`] or [`serve_start_lambda`].

pub mod api;
pub mod appconfig;
pub mod aws_profile;
mod build;
mod collector;
mod eventstream;
mod functions;
#[doc(hidden)]
pub mod fuzzing;
mod interpreters;
mod invoke_api;
mod invoke_stream;
mod layers_arn;
mod local_invoke;
pub mod policy;
mod pool;
pub mod samconfig;
pub mod sandbox;
mod start_lambda;
pub mod template;
mod watch;

pub use build::{BuildError, CargoProfile, build_rust, build_rust_cached};
pub use collector::{Collector, ReceivedSpan, render_trees};
pub use functions::{SpecOptions, TelemetryTargets, function_spec};
pub use invoke_api::{Pools, router as invoke_api_router};
pub use local_invoke::{CliError, EventSource, InvokeOptions, local_invoke};
pub use pool::{Completed, FunctionPool, InvokeConfig, ReportSink, Reservation};
pub use start_lambda::{StartLambdaOptions, prepare, prepare_pools, prewarm, serve as serve_start_lambda, serve_api};
pub use watch::watch;
