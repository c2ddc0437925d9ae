//! intercept-sam: runs SAM templates locally, without Docker, under Intercept.
//!
//! The binary is thin: it parses arguments and calls [`local_invoke`].

mod build;
mod collector;
mod local_invoke;
pub mod sandbox;
pub mod template;

pub use build::{BuildError, CargoProfile, build_rust};
pub use collector::{Collector, ReceivedSpan, render_trees};
pub use local_invoke::{CliError, EventSource, InvokeOptions, local_invoke};
