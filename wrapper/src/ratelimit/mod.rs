//! Rate limiting with GCRA: quotas, keys and the in-memory store.

mod gcra;
mod memory;
mod quota;

pub use gcra::{Decision, Gcra};
pub use memory::MemoryStore;
pub use quota::{LimitKey, Quota};
