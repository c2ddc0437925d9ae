//! Keys from a remote source, cached: refreshed in the background before they expire,
//! refetched on an unknown `kid` at most once per cooldown, kept through an outage for a
//! stale-if-error window. Nothing is fetched on the request path except that bounded refetch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
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
}

impl Fetcher {
    async fn fetch(&self) -> Result<Fetched, FetchError> {
        match self {
            Fetcher::SecretsManager(fetcher) => fetcher.fetch().await,
            Fetcher::Jwks(fetcher) => fetcher.fetch().await,
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

/// A cached remote key source.
#[derive(Debug)]
pub(crate) struct RemoteKeys {
    fetcher: Fetcher,
    policy: RefreshPolicy,
    state: RwLock<State>,
    refreshing: AtomicBool,
}

impl RemoteKeys {
    /// Fetches the keys once, as init does.
    pub(crate) async fn load(fetcher: Fetcher, policy: RefreshPolicy, now: Duration) -> Result<Arc<Self>, FetchError> {
        let fetched = fetcher.fetch().await?;
        let expires_at = now + fetched.max_age.unwrap_or(policy.ttl);
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
        let (keys, fetched_at, expires_at) = {
            let state = self.state.read().map_err(|_| AuthError::KeysUnavailable)?;
            (state.keys.clone(), state.fetched_at, state.expires_at)
        };
        let refresh_at = fetched_at + (expires_at.saturating_sub(fetched_at)) * 4 / 5;
        if now >= refresh_at {
            self.refresh_in_background(now);
        }
        if now >= expires_at + self.policy.stale_if_error {
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
            if let Err(error) = this.refresh(now).await {
                tracing::warn!(%error, "refreshing the signing keys failed; the cached keys stay in use");
            }
            this.refreshing.store(false, Ordering::Release);
        });
    }

    async fn refresh(&self, now: Duration) -> Result<(), FetchError> {
        let mut fetched = self.fetcher.fetch().await?;
        let mut state = self.state.write().map_err(|_| FetchError("key cache lock poisoned".to_owned()))?;
        fetched.keys.generation = state.keys.generation + 1;
        state.keys = Arc::new(fetched.keys);
        state.fetched_at = now;
        state.expires_at = now + fetched.max_age.unwrap_or(self.policy.ttl);
        Ok(())
    }

    /// Refetches on the request path (a token named an unknown `kid`, or the keys are past
    /// their stale window), unless such a refetch happened within the cooldown, so a flood of
    /// junk `kid`s cannot hammer the source; returns whether the keys were refetched.
    pub(crate) async fn refetch_now(&self, now: Duration) -> bool {
        {
            let Ok(mut state) = self.state.write() else { return false };
            if state.last_kid_refetch.is_some_and(|last| now < last + self.policy.cooldown) {
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
