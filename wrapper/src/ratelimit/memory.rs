//! The in-memory store: sharded, bounded, shared by every invocation in one environment.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use super::{Decision, Gcra};

const SHARDS: usize = 16;

/// Per-key GCRA state held in this process.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Vec<Mutex<HashMap<String, Duration>>>,
    hasher: RandomState,
    max_keys_per_shard: usize,
}

impl MemoryStore {
    /// A store that keeps at most about `max_keys` keys.
    #[must_use]
    pub fn new(max_keys: usize) -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            max_keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    /// Decides one request for `key` at `now` and records it.
    pub fn check(&self, gcra: &Gcra, key: &str, now: Duration) -> Decision {
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut map = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (decision, tat) = gcra.decide(map.get(key).copied(), now);
        if let Some(tat) = tat {
            if map.len() >= self.max_keys_per_shard && !map.contains_key(key) {
                // Keys whose arrival time has passed hold no state worth keeping; if none has
                // passed yet, the one closest to expiry is the cheapest to forget.
                map.retain(|_, kept| *kept > now);
                if map.len() >= self.max_keys_per_shard
                    && let Some(oldest) =
                        map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
            map.insert(key.to_owned(), tat);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Quota;

    #[test]
    fn keys_are_independent() {
        let store = MemoryStore::new(1000);
        let gcra = Gcra::new(Quota::parse("1/m").expect("valid"));
        let now = Duration::from_secs(5);
        assert!(matches!(
            store.check(&gcra, "a", now),
            Decision::Allow { .. }
        ));
        assert!(matches!(
            store.check(&gcra, "a", now),
            Decision::Deny { .. }
        ));
        assert!(matches!(
            store.check(&gcra, "b", now),
            Decision::Allow { .. }
        ));
    }

    #[test]
    fn stays_bounded() {
        let store = MemoryStore::new(32);
        let gcra = Gcra::new(Quota::parse("1/h").expect("valid"));
        for i in 0..10_000 {
            store.check(&gcra, &format!("key-{i}"), Duration::from_secs(1));
        }
        let total: usize = store
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").len())
            .sum();
        assert!(total <= 32, "{total} keys kept");
    }
}
