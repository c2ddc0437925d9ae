//! The in-memory store: sharded, bounded by least-recently-used eviction, shared by every
//! invocation in one environment.

use std::fmt;
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lru::LruCache;

use super::{Decision, Gcra};

/// Shards per store: enough that concurrent invocations on different keys rarely meet on a
/// lock, few enough that a small bound still leaves each shard a useful LRU.
const SHARDS: usize = 64;

/// Per-key GCRA state held in this process.
///
/// Each shard is a mutex around an LRU map, held only for one lookup and one update, so the
/// lock is never held across an await or a second key.
pub struct MemoryStore {
    shards: Box<[Mutex<LruCache<String, Duration>>]>,
    hasher: foldhash::fast::RandomState,
    max_keys: usize,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store that keeps at most `max_keys` keys (at least one per shard), forgetting the
    /// least recently used key of a full shard; each key is at most 128 bytes, so it holds at
    /// most about `max_keys` × 250 bytes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use intercept::ratelimit::{Decision, Gcra, MemoryStore, Quota};
    ///
    /// let store = MemoryStore::new(10_000);
    /// let gcra = Gcra::new(Quota::parse("1/m").expect("valid"));
    /// let now = Duration::from_secs(1);
    /// assert!(matches!(store.check(&gcra, "ip:1.2.3.4", now), Decision::Allow { .. }));
    /// assert!(matches!(store.check(&gcra, "ip:1.2.3.4", now), Decision::Deny { .. }));
    /// ```
    #[must_use]
    pub fn new(max_keys: usize) -> MemoryStore {
        let per_shard = NonZeroUsize::new(max_keys.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(LruCache::new(per_shard))).collect(),
            hasher: foldhash::fast::RandomState::default(),
            max_keys: per_shard.get() * SHARDS,
        }
    }

    /// The most keys this store keeps.
    #[must_use]
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Decides one request for `key` at `now` and records it. A key longer than 128 bytes is
    /// held as its first bytes and a digest, so the store's memory is bounded in bytes too.
    pub fn check(&self, gcra: &Gcra, key: &str, now: Duration) -> Decision {
        let key = super::bounded_key(key);
        let key = key.as_ref();
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(key) {
            Some(stored) => {
                let (decision, tat) = gcra.decide(Some(*stored), now);
                if let Some(tat) = tat {
                    *stored = tat;
                }
                decision
            }
            None => {
                let (decision, tat) = gcra.decide(None, now);
                if let Some(tat) = tat {
                    // A full shard drops its least recently used key: the one whose state is most
                    // likely already back to a full bucket.
                    map.push(key.to_owned(), tat);
                }
                decision
            }
        }
    }

    /// How many keys are held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Quota;

    fn allowed(decision: Decision) -> bool {
        matches!(decision, Decision::Allow { .. })
    }

    #[test]
    fn keys_are_independent() {
        let store = MemoryStore::new(1000);
        let gcra = Gcra::new(Quota::parse("1/m").expect("valid"));
        let now = Duration::from_secs(5);
        assert!(allowed(store.check(&gcra, "a", now)));
        assert!(!allowed(store.check(&gcra, "a", now)));
        assert!(allowed(store.check(&gcra, "b", now)));
    }

    #[test]
    fn stays_bounded() {
        let store = MemoryStore::new(128);
        let gcra = Gcra::new(Quota::parse("1/h").expect("valid"));
        for i in 0..10_000 {
            store.check(&gcra, &format!("key-{i}"), Duration::from_secs(1));
        }
        assert!(store.len() <= store.max_keys(), "{} keys kept", store.len());
        assert_eq!(store.max_keys(), 128);
    }

    #[test]
    fn evicts_the_least_recently_used_key() {
        // One key per shard: any second key landing in a shard evicts the first.
        let store = MemoryStore::new(1);
        let gcra = Gcra::new(Quota::parse("1/h").expect("valid"));
        let now = Duration::from_secs(1);
        assert!(allowed(store.check(&gcra, "hot", now)));
        let shard_of = |key: &str| store.hasher.hash_one(key) as usize % SHARDS;
        let rival = (0..)
            .map(|i| format!("cold-{i}"))
            .find(|key| shard_of(key) == shard_of("hot"))
            .expect("some key shares the shard");
        assert!(allowed(store.check(&gcra, &rival, now)));
        // `hot` was evicted, so it starts again from a full bucket; `rival` is remembered.
        assert!(allowed(store.check(&gcra, "hot", now)));
        assert!(!allowed(store.check(&gcra, "hot", now)));
    }

    #[test]
    fn recently_used_keys_survive_eviction() {
        let store = MemoryStore::new(2 * SHARDS);
        let gcra = Gcra::new(Quota::parse("1/h").expect("valid"));
        let now = Duration::from_secs(1);
        let shard_of = |key: &str| store.hasher.hash_one(key) as usize % SHARDS;
        let mut same: Vec<String> = (0..).map(|i| format!("k-{i}")).filter(|key| shard_of(key) == 0).take(3).collect();
        let third = same.pop().expect("three keys");
        let (first, second) = (&same[0], &same[1]);
        store.check(&gcra, first, now);
        store.check(&gcra, second, now);
        store.check(&gcra, first, now); // touch: `second` is now the least recently used
        store.check(&gcra, &third, now);
        assert!(!allowed(store.check(&gcra, first, now)), "first kept");
        assert!(allowed(store.check(&gcra, second, now)), "second evicted");
    }
}
