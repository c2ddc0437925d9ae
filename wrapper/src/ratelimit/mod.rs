//! Rate limiting with GCRA: quotas, rules, the in-memory and Redis stores, the failure policy.
//!
//! [`RateLimitConfig`] is what the `INTERCEPT_RATE_LIMIT*` settings describe
//! ([`Config::rate_limit`](crate::Config::rate_limit)): [`Quota`]s counted per a [`LimitKey`].
//! Each request's [`Decision`] is made by the [`Interceptor`](crate::Interceptor) and shown in
//! the `RateLimit` headers of a refusal.
//!
//! ```
//! use std::time::Duration;
//!
//! use intercept::ratelimit::{LimitKey, Quota};
//!
//! # fn main() -> Result<(), intercept::ParseError> {
//! let quota = Quota::parse("6000/m")?.with_burst(50);
//! assert_eq!(quota.emission_interval(), Duration::from_millis(10));
//! assert_eq!(LimitKey::parse("source-ip"), Some(LimitKey::SourceIp));
//! # Ok(()) }
//! ```

// `Gcra` and `MemoryStore` are public only with the `internals` feature (this crate's benches
// and tests); otherwise they are the limiter's own.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub))]
mod gcra;
mod key;
mod limiter;
// Some of its methods (`len`, `max_keys`) are only for the benches and tests.
#[cfg_attr(not(feature = "internals"), allow(unreachable_pub, dead_code))]
mod memory;
mod quota;
mod redis;
mod rule;
mod settings;

pub use gcra::Decision;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use gcra::Gcra;
#[cfg(not(feature = "internals"))]
pub(crate) use gcra::Gcra;
pub(crate) use key::bounded as bounded_key;
pub(crate) use limiter::{Limiter, Refusal, Stores};
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use memory::MemoryStore;
#[cfg(not(feature = "internals"))]
pub(crate) use memory::MemoryStore;
pub use quota::{LimitKey, Quota};
pub(crate) use rule::Rule;
pub use settings::RateLimitConfig;
pub(crate) use settings::RateLimitInputs;
pub(crate) use settings::parse as parse_settings;
pub(crate) use settings::{OnStoreError, RedisConfig, StoreConfig};
