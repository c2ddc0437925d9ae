//! Rate limiting with GCRA: quotas, rules, the in-memory and Redis stores, the failure policy.

mod gcra;
mod key;
mod limiter;
mod memory;
mod quota;
mod redis;
mod rule;
mod settings;

pub use gcra::{Decision, Gcra};
pub(crate) use key::bounded as bounded_key;
pub(crate) use limiter::{Limiter, Refusal, Stores};
pub use memory::MemoryStore;
pub use quota::{LimitKey, Quota};
pub(crate) use rule::Rule;
pub use settings::RateLimitConfig;
pub(crate) use settings::RateLimitInputs;
pub(crate) use settings::parse as parse_settings;
pub(crate) use settings::{OnStoreError, RedisConfig, StoreConfig};
