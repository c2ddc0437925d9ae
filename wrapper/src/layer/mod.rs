//! The tower middleware for `lambda_runtime`: interception around the handler, flush around the
//! whole invocation.

mod flush;
mod intercept;
mod service;

pub use flush::{Flush, FlushLayer};
pub use intercept::{InterceptLayer, RawEvent};
pub use service::Intercept;
