//! The limiter: every rule over one store, the strictest decision wins, and the failure policy
//! when the shared store does not answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::redis::{RedisStore, StoreError};
use super::{Decision, Gcra, LimitKey, MemoryStore, OnStoreError, RateLimitConfig, RedisConfig, Rule, StoreConfig};

/// The store counts as answering again once it has not failed for this long: with a cluster,
/// the slots of a dead master keep failing while the others answer, and that is one outage.
const RECOVERED_AFTER: Duration = Duration::from_secs(1);

/// What a fail-closed policy tells a client to wait.
const DENY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The rule that refused a request, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal<'a> {
    pub(crate) rule: &'a Rule,
    pub(crate) retry_after: Duration,
}

/// The rate-limit rules of one environment and where their state lives.
#[derive(Debug)]
pub(crate) struct Limiter {
    rules: Vec<(Rule, Gcra)>,
    memory: Arc<MemoryStore>,
    shared: Option<Shared>,
}

/// The stores of one environment, shared by its limiters: rules of one name count against one
/// budget whichever route's limiter checks them, and one Redis server gets one connection.
#[derive(Debug, Default)]
pub(crate) struct Stores {
    memory: Vec<(usize, Arc<MemoryStore>)>,
    redis: Vec<(RedisConfig, Arc<RedisStore>)>,
}

impl Stores {
    fn memory(&mut self, keys: usize) -> Arc<MemoryStore> {
        if let Some((_, store)) = self.memory.iter().find(|(k, _)| *k == keys) {
            return Arc::clone(store);
        }
        let store = Arc::new(MemoryStore::new(keys));
        self.memory.push((keys, Arc::clone(&store)));
        store
    }

    /// The same server, timeout and prefix share a store; the failure policy is per limiter.
    fn redis(&mut self, config: &RedisConfig) -> Result<Arc<RedisStore>, StoreError> {
        let same = |c: &RedisConfig| c.url == config.url && c.timeout == config.timeout && c.prefix == config.prefix;
        if let Some((_, store)) = self.redis.iter().find(|(c, _)| same(c)) {
            return Ok(Arc::clone(store));
        }
        let store = Arc::new(RedisStore::new(config)?);
        self.redis.push((config.clone(), Arc::clone(&store)));
        Ok(store)
    }
}

#[derive(Debug)]
struct Shared {
    store: Arc<RedisStore>,
    on_error: OnStoreError,
    started: Instant,
    /// Micros since `started` of the last failure (0: the store answers), for the logs.
    failed_at_us: AtomicU64,
}

impl Limiter {
    /// The limiter for a configuration, its stores taken from (or added to) `stores`; a Redis
    /// store connects on first use or [`Limiter::connect`].
    pub(crate) fn with_stores(config: &RateLimitConfig, stores: &mut Stores) -> Result<Limiter, StoreError> {
        let shared = match &config.store {
            StoreConfig::Memory => None,
            StoreConfig::Redis(redis) => Some(Shared {
                store: stores.redis(redis)?,
                on_error: redis.on_error,
                started: Instant::now(),
                failed_at_us: AtomicU64::new(0),
            }),
        };
        Ok(Limiter {
            rules: config.rules.iter().map(|rule| (rule.clone(), Gcra::new(rule.quota))).collect(),
            memory: stores.memory(config.memory_keys),
            shared,
        })
    }

    /// Connects to the shared store, if any, and checks it answers.
    pub(crate) async fn connect(&self) -> Result<(), (String, StoreError)> {
        match &self.shared {
            None => Ok(()),
            Some(shared) => {
                shared.store.connect().await.map_err(|error| (shared.store.redacted_url().to_owned(), error))
            }
        }
    }

    /// Whether any rule runs at this stage (before or after authentication).
    pub(crate) fn has_rules(&self, after_auth: bool) -> bool {
        self.rules.iter().any(|(rule, _)| rule.key.after_auth() == after_auth)
    }

    /// Checks every rule of one stage at `now` (time since the Unix epoch), each on its own:
    /// one that allows still counts the request when another refuses, which only ever errs on
    /// the strict side. The caller decides (the refusal with the longest wait wins) and can
    /// record each rule's decision.
    pub(crate) async fn check_rules(
        &self,
        after_auth: bool,
        key_of: impl Fn(LimitKey) -> String,
        now: Duration,
    ) -> Vec<(&Rule, Decision)> {
        let checks = self.rules.iter().filter(|(rule, _)| rule.key.after_auth() == after_auth).map(|(rule, gcra)| {
            let key = format!("{}:{}", rule.name, key_of(rule.key));
            async move { (rule, self.decide(gcra, &key, now).await) }
        });
        join_all(checks).await
    }

    async fn decide(&self, gcra: &Gcra, key: &str, now: Duration) -> Decision {
        let Some(shared) = &self.shared else {
            return self.memory.check(gcra, key, now);
        };
        // The store backs off a failed server (or cluster shard) itself: `Resting` comes at once.
        match shared.store.decide(gcra, key, now).await {
            Ok(decision) => {
                let failed_at = shared.failed_at_us.load(Ordering::Relaxed);
                let quiet_since = micros(shared.started.elapsed()).saturating_sub(micros(RECOVERED_AFTER));
                if failed_at != 0
                    && failed_at < quiet_since
                    && shared.failed_at_us.compare_exchange(failed_at, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok()
                {
                    tracing::info!(store = shared.store.redacted_url(), "rate-limit store answers again");
                }
                return decision;
            }
            Err(StoreError::Resting) => {}
            Err(error) => {
                let failed_at = micros(shared.started.elapsed()).max(1);
                if shared.failed_at_us.swap(failed_at, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        store = shared.store.redacted_url(),
                        %error,
                        policy = ?shared.on_error,
                        "rate-limit store failed; the store-error policy decides until it answers"
                    );
                }
            }
        }
        match shared.on_error {
            OnStoreError::Allow => Decision::Allow { remaining: 0 },
            OnStoreError::Deny => Decision::Deny { retry_after: DENY_RETRY_AFTER },
            OnStoreError::Local => self.memory.check(gcra, key, now),
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
