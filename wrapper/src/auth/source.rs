//! Keys from a remote source, cached: refreshed in the background before they expire,
//! refetched on an unknown `kid` at most once per cooldown, kept through an outage for a
//! stale-if-error window. Nothing is fetched on the request path except that bounded refetch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use super::AuthError;
use super::jwks::JwksFetcher;
use super::keys::KeySet;
use super::secrets::SecretsFetcher;

/// How long fetched keys live and how an outage is ridden out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefreshPolicy {
    /// Lifetime when the source gives none (Secrets Manager, JWKS without `Cache-Control`).
    pub(crate) ttl: Duration,
    /// The least time between two refetches caused by unknown `kid`s.
    pub(crate) cooldown: Duration,
    /// How long expired keys still verify while the source cannot be reached.
    pub(crate) stale_if_error: Duration,
}

/// What a fetch brought back.
pub(crate) struct Fetched {
    pub(crate) keys: KeySet,
    /// The source's own lifetime for them (a JWKS response's `Cache-Control: max-age`).
    pub(crate) max_age: Option<Duration>,
}

/// A fetch failure, described without key material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct FetchError(pub(crate) String);

#[derive(Debug)]
pub(crate) enum Fetcher {
    SecretsManager(SecretsFetcher),
    Jwks(Box<JwksFetcher>),
    /// Answers from a script, so the unit tests can make a fetch fail or panic.
    #[cfg(test)]
    Scripted(tests::Script),
}

impl Fetcher {
    async fn fetch(&self) -> Result<Fetched, FetchError> {
        match self {
            Fetcher::SecretsManager(fetcher) => fetcher.fetch().await,
            Fetcher::Jwks(fetcher) => fetcher.fetch().await,
            #[cfg(test)]
            Fetcher::Scripted(script) => script.next(),
        }
    }
}

#[derive(Debug)]
struct State {
    keys: Arc<KeySet>,
    fetched_at: Duration,
    expires_at: Duration,
    last_kid_refetch: Option<Duration>,
}

impl State {
    /// When the keys' lifetime is 80% gone and a background refresh should start.
    fn refresh_at(&self) -> Duration {
        let lifetime = self.expires_at.saturating_sub(self.fetched_at);
        self.fetched_at.saturating_add(lifetime - lifetime / 5)
    }
}

/// A cached remote key source.
#[derive(Debug)]
pub(crate) struct RemoteKeys {
    fetcher: Fetcher,
    policy: RefreshPolicy,
    state: RwLock<State>,
    refreshing: AtomicBool,
}

/// Clears the "a background refresh is running" flag however the refresh ends: done, failed,
/// panicked, or dropped with its runtime. A flag left set would stop every later refresh.
struct Refreshing<'a>(&'a AtomicBool);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl RemoteKeys {
    /// Fetches the keys once, as init does.
    pub(crate) async fn load(fetcher: Fetcher, policy: RefreshPolicy, now: Duration) -> Result<Arc<Self>, FetchError> {
        let fetched = fetcher.fetch().await?;
        // Saturating: the lifetime may come from the source (a JWKS `max-age`) or a setting.
        let expires_at = now.saturating_add(fetched.max_age.unwrap_or(policy.ttl));
        Ok(Arc::new(RemoteKeys {
            fetcher,
            policy,
            state: RwLock::new(State {
                keys: Arc::new(fetched.keys),
                fetched_at: now,
                expires_at,
                last_kid_refetch: None,
            }),
            refreshing: AtomicBool::new(false),
        }))
    }

    /// The keys to verify with at `now`. Past 80% of their lifetime a background refresh
    /// starts (one at a time); past expiry plus the stale-if-error window they are refused.
    pub(crate) fn current(self: &Arc<Self>, now: Duration) -> Result<Arc<KeySet>, AuthError> {
        let (keys, refresh_at, expires_at) = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            (state.keys.clone(), state.refresh_at(), state.expires_at)
        };
        if now >= refresh_at {
            self.refresh_in_background(now);
        }
        if now >= expires_at.saturating_add(self.policy.stale_if_error) {
            return Err(AuthError::KeysUnavailable);
        }
        Ok(keys)
    }

    fn refresh_in_background(self: &Arc<Self>, now: Duration) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let this = self.clone();
        runtime.spawn(async move {
            let _refreshing = Refreshing(&this.refreshing);
            if let Err(error) = this.refresh(now).await {
                tracing::warn!(%error, "refreshing the signing keys failed; the cached keys stay in use");
            }
        });
    }

    async fn refresh(&self, now: Duration) -> Result<(), FetchError> {
        let mut fetched = self.fetcher.fetch().await?;
        let expires_at = now.saturating_add(fetched.max_age.unwrap_or(self.policy.ttl));
        // Every field is written whole below, so a lock poisoned elsewhere holds a usable state.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        fetched.keys.generation = state.keys.generation.wrapping_add(1);
        state.keys = Arc::new(fetched.keys);
        state.fetched_at = now;
        state.expires_at = expires_at;
        Ok(())
    }

    /// Refetches on the request path (a token named an unknown `kid`, or the keys are past
    /// their stale window), unless such a refetch happened within the cooldown, so a flood of
    /// junk `kid`s cannot hammer the source; returns whether the keys were refetched.
    pub(crate) async fn refetch_now(&self, now: Duration) -> bool {
        {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            if state.last_kid_refetch.is_some_and(|last| now < last.saturating_add(self.policy.cooldown)) {
                return false;
            }
            state.last_kid_refetch = Some(now);
        }
        match self.refresh(now).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "refetching the signing keys for an unknown kid failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// One scripted fetch: keys with this lifetime, a failure, or a panic.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum Step {
        Keys(Option<Duration>),
        Fail,
        Panic,
    }

    /// A fetcher that plays its steps in order (then keeps answering with keys) and counts
    /// the fetches: a fault injected where no real source can be made to panic.
    #[derive(Debug)]
    pub(crate) struct Script {
        steps: Mutex<VecDeque<Step>>,
        fetches: Arc<AtomicUsize>,
    }

    impl Script {
        pub(crate) fn next(&self) -> Result<Fetched, FetchError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let step = self.steps.lock().expect("script").pop_front().unwrap_or(Step::Keys(None));
            match step {
                Step::Keys(max_age) => Ok(Fetched { keys: KeySet { keys: Vec::new(), generation: 0 }, max_age }),
                Step::Fail => Err(FetchError("scripted failure".to_owned())),
                Step::Panic => panic!("scripted panic in a key fetch"),
            }
        }
    }

    const T0: Duration = Duration::from_secs(1_800_000_000);

    fn policy(ttl: Duration) -> RefreshPolicy {
        RefreshPolicy { ttl, cooldown: Duration::from_secs(30), stale_if_error: Duration::from_secs(3600) }
    }

    async fn load(steps: &[Step], policy: RefreshPolicy) -> (Arc<RemoteKeys>, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let script = Script { steps: Mutex::new(steps.iter().copied().collect()), fetches: fetches.clone() };
        let keys = RemoteKeys::load(Fetcher::Scripted(script), policy, T0).await.expect("loaded");
        (keys, fetches)
    }

    /// Lets the background refresh run until `fetches` fetches happened and it is over.
    async fn settle(keys: &RemoteKeys, fetches: &AtomicUsize, expected: usize) {
        for _ in 0..10_000 {
            if fetches.load(Ordering::SeqCst) >= expected && !keys.refreshing.load(Ordering::Acquire) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("{} fetches, expected {expected}", fetches.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panicking_or_failing_refresh_does_not_stop_the_next_one() {
        let (keys, fetches) =
            load(&[Step::Keys(None), Step::Panic, Step::Fail], policy(Duration::from_secs(100))).await;
        let past_refresh_point = T0 + Duration::from_secs(90);
        assert_eq!(keys.current(past_refresh_point).expect("keys").generation, 0);
        settle(&keys, &fetches, 2).await;
        assert_eq!(keys.current(past_refresh_point).expect("keys").generation, 0, "after the panic");
        settle(&keys, &fetches, 3).await;
        assert_eq!(keys.current(past_refresh_point).expect("keys").generation, 0, "after the failure");
        settle(&keys, &fetches, 4).await;
        assert_eq!(keys.current(past_refresh_point).expect("keys").generation, 1, "refreshed after both");
        assert_eq!(fetches.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn lifetimes_near_the_largest_duration_saturate() {
        let huge = [Duration::MAX, Duration::from_secs(u64::MAX), Duration::from_secs(u64::MAX - 1)];
        for max_age in huge {
            let policy = RefreshPolicy { ttl: max_age, cooldown: max_age, stale_if_error: max_age };
            for lifetime in [Some(max_age), None] {
                let (keys, fetches) = load(&[Step::Keys(lifetime), Step::Keys(lifetime)], policy).await;
                let end_of_time = Duration::MAX - Duration::from_secs(1);
                for now in [T0, T0 + Duration::from_secs(10 * 365 * 86_400), end_of_time] {
                    assert!(keys.current(now).is_ok(), "{max_age:?} at {now:?}");
                }
                assert!(keys.refetch_now(T0).await, "the first refetch");
                assert!(!keys.refetch_now(end_of_time).await, "within an endless cooldown");
                assert!(keys.current(T0).is_ok());
                settle(&keys, &fetches, 2).await;
            }
        }
    }
}
