//! Verified tokens remembered by SHA-256 digest (never the token) until they expire.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use sha2::{Digest, Sha256};

use super::Principal;

/// The digest a token is remembered by.
pub(crate) type TokenDigest = [u8; 32];

/// A bounded map from token digest to the principal it proved, valid until `valid_until` and
/// only while the key set it was verified with (its generation) is the current one, so a key
/// removed from a JWKS or rotated out of Secrets Manager stops vouching for cached tokens.
pub(crate) struct TokenCache {
    entries: Mutex<LruCache<TokenDigest, Entry>>,
}

struct Entry {
    principal: Arc<Principal>,
    valid_until: Duration,
    generation: u64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.entries.lock().map(|entries| entries.len()).unwrap_or(0);
        f.debug_struct("TokenCache").field("entries", &len).finish()
    }
}

impl TokenCache {
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        TokenCache { entries: Mutex::new(LruCache::new(capacity)) }
    }

    pub(crate) fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The principal for a token verified before and still valid at `now`; an expired entry
    /// is dropped, so the token goes through full verification and fails there with its reason.
    pub(crate) fn get(&self, digest: &TokenDigest, now: Duration, generation: u64) -> Option<Arc<Principal>> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(digest) {
            Some(entry) if now < entry.valid_until && entry.generation == generation => Some(entry.principal.clone()),
            Some(_) => {
                entries.pop(digest);
                None
            }
            None => None,
        }
    }

    pub(crate) fn insert(
        &self,
        digest: TokenDigest,
        principal: Arc<Principal>,
        valid_until: Duration,
        generation: u64,
    ) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(digest, Entry { principal, valid_until, generation });
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|entries| entries.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry_and_stays_bounded() {
        let cache = TokenCache::new(NonZeroUsize::new(2).expect("nonzero"));
        let alice = Arc::new(Principal::named("alice"));
        let t = |s| Duration::from_secs(s);
        cache.insert(TokenCache::digest("a.b.c"), alice.clone(), t(100), 7);
        assert_eq!(cache.get(&TokenCache::digest("a.b.c"), t(99), 7), Some(alice.clone()));
        assert_eq!(cache.get(&TokenCache::digest("a.b.c"), t(99), 8), None, "keys changed since");
        cache.insert(TokenCache::digest("a.b.c"), alice.clone(), t(100), 7);
        assert_eq!(cache.get(&TokenCache::digest("a.b.d"), t(99), 7), None);
        assert_eq!(cache.get(&TokenCache::digest("a.b.c"), t(100), 7), None);
        assert_eq!(cache.len(), 0, "expired entries are dropped");
        for token in ["1", "2", "3"] {
            cache.insert(TokenCache::digest(token), alice.clone(), t(100), 0);
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&TokenCache::digest("1"), t(0), 0), None, "least recently used went first");
    }
}
