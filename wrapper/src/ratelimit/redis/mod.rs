//! The Redis store: one GCRA key per limiter key, one script call per decision.
//!
//! # Clocks
//! The script takes `now` from the caller instead of calling `TIME` (refused inside scripts by
//! ElastiCache Serverless). Every environment reads its clock as the wall clock at start-up
//! plus a monotonic clock since, so its own decisions never see time run backwards, and
//! environments agree as well as their clocks do (Lambda hosts keep NTP time, within about a
//! millisecond). Skew between two environments of `d` has bounded effects:
//! - a clock ahead by `d` sees stored arrival times as `d` older: over any window it can let
//!   through at most `d / interval` requests more, once, not per second (a constant offset does
//!   not change the rate);
//! - a clock behind by `d` sees them `d` newer, and waits up to `d` longer; beyond
//!   [`Gcra::MAX_CLOCK_SKEW`] (1 s) the other clock is taken as broken and its arrival times
//!   are clamped, so it cannot shut a key for longer than an interval plus that allowance.
//!   Clamping small skews instead would hand the behind clock the skew back on every request,
//!   a leak that grows with traffic; waiting keeps the limit exact.
//!
//! Times travel in whole microseconds: exact in a Lua number (a double) for the next 250 years
//! of Unix time, and finer than any network round trip.
//!
//! # Clusters
//! The store asks the server its URL names whether it is a cluster node (`CLUSTER INFO`), as
//! ElastiCache's configuration endpoint, ElastiCache Serverless and Valkey clusters are, and
//! then talks to every master: each decision goes straight to the master of its key's slot
//! (one round trip), following `MOVED`/`ASK` and refreshing the slot map after a failover.
//! Every limiter key is one Redis key, so the script never spans slots.

mod backoff;
mod connection;
mod shards;
mod slot;

use std::fmt;
use std::time::Duration;

use redis::{ErrorKind, RedisError, Script, ServerErrorKind, Value};
use tokio::sync::OnceCell;
use tokio::time::{Instant, timeout_at};

use self::backoff::{Backoff, RETRY_STORE_AFTER};
use self::connection::{CONNECT_TIMEOUT, Connection};
use super::{Decision, Gcra, RedisConfig};

/// Why a call to the store failed; the failure policy decides what the request gets.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// No answer within the call timeout.
    #[error("the rate-limit store did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection or the command failed.
    #[error("the rate-limit store failed: {0}")]
    Redis(#[from] RedisError),
    /// The server refused the URL's user and password, or wants some the URL does not give.
    #[error("the rate-limit store refused the credentials of the URL (AUTH): {0}")]
    Auth(RedisError),
    /// The URL names a cluster node whose cluster cannot serve every slot.
    #[error("the Redis cluster is down (cluster_state:{0}); every hash slot must be served")]
    ClusterDown(String),
    /// The script answered something else than `{allowed, amount}`.
    #[error("the rate-limit store sent an unexpected reply: {0}")]
    Reply(String),
    /// The store failed for this key's server or shard moments ago and is not asked again yet.
    #[error("the rate-limit store failed less than {RETRY_STORE_AFTER:?} ago")]
    Resting,
}

impl StoreError {
    /// A failure to connect, an AUTH refusal told apart.
    fn connect(error: RedisError) -> StoreError {
        if error.kind() == ErrorKind::AuthenticationFailed || matches!(error.code(), Some("WRONGPASS" | "NOAUTH")) {
            StoreError::Auth(error)
        } else {
            StoreError::Redis(error)
        }
    }
}

/// GCRA state in Redis, shared by every environment that points at the same server or cluster.
pub(crate) struct RedisStore {
    client: redis::Client,
    link: OnceCell<Link>,
    /// Backs off connecting, before there is a link.
    unreachable: Backoff,
    script: Script,
    timeout: Duration,
    prefix: String,
    redacted_url: String,
}

/// An open connection, and its backoff: one cell for a server, one per slot for a cluster.
struct Link {
    connection: Connection,
    backoff: Backoff,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.link.get().map(|link| &link.connection) {
            None => "not connected",
            Some(Connection::Node(_)) => "node",
            Some(Connection::Cluster { .. }) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("url", &self.redacted_url)
            .field("mode", &mode)
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store that connects on first use (or on [`RedisStore::connect`]).
    pub(crate) fn new(config: &RedisConfig) -> Result<RedisStore, RedisError> {
        Ok(RedisStore {
            client: redis::Client::open(config.url.as_str())?,
            link: OnceCell::new(),
            unreachable: Backoff::new(1),
            script: Script::new(include_str!("../gcra.lua")),
            timeout: config.timeout,
            prefix: config.prefix.clone(),
            redacted_url: config.redacted_url(),
        })
    }

    /// The URL without credentials.
    pub(crate) fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// Opens the shared connection (to every master, for a cluster) and checks the server, or
    /// every master, answers `PING`.
    pub(crate) async fn connect(&self) -> Result<(), StoreError> {
        let ping = async {
            let link = self.link().await?;
            link.connection.query(&redis::cmd("PING")).await.map(drop).map_err(StoreError::from)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, ping).await.map_err(|_| StoreError::Timeout(CONNECT_TIMEOUT))?
    }

    async fn link(&self) -> Result<&Link, StoreError> {
        self.link
            .get_or_try_init(|| async {
                let connection = Connection::open(&self.client, self.timeout).await?;
                Ok(Link { backoff: Backoff::new(connection.cells()), connection })
            })
            .await
    }

    /// Decides one request for `key` at `now` (time since the Unix epoch) in one round trip:
    /// `EVALSHA`, or `EVAL` when the server does not know the script yet (after a restart or a
    /// failover), which also caches it for the next call. Within the call timeout, always;
    /// [`StoreError::Resting`] at once when the key's server or shard failed moments ago.
    pub(crate) async fn decide(&self, gcra: &Gcra, key: &str, now: Duration) -> Result<Decision, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let timed_out = |_| StoreError::Timeout(self.timeout);
        let link = match self.link.get() {
            Some(link) => link,
            None if self.unreachable.resting(0) => return Err(StoreError::Resting),
            None => match timeout_at(deadline, self.link()).await.map_err(timed_out).and_then(|link| link) {
                Ok(link) => link,
                Err(error) => {
                    self.unreachable.failed(0);
                    return Err(error);
                }
            },
        };
        // Bounded like the memory store's keys: a 30 KB path makes no 30 KB Redis key.
        let key = slot::store_key(&self.prefix, key);
        let cell = link.connection.cell(&key);
        if link.backoff.resting(cell) {
            return Err(StoreError::Resting);
        }
        let decided = timeout_at(deadline, self.evaluate(&link.connection, gcra, &key, now))
            .await
            .map_err(timed_out)
            .and_then(|decided| decided);
        if decided.is_err() {
            link.backoff.failed(cell);
        }
        decided
    }

    async fn evaluate(
        &self,
        connection: &Connection,
        gcra: &Gcra,
        key: &str,
        now: Duration,
    ) -> Result<Decision, StoreError> {
        let now_us = micros(now);
        let interval_us = micros(gcra.interval()).max(1);
        let tolerance_us = micros(gcra.tolerance()).max(interval_us);
        let skew_us = micros(Gcra::MAX_CLOCK_SKEW);
        // EVALSHA first; EVAL with the script's text when the server does not have it yet.
        let call = |command: &str, script: &str| {
            let mut call = redis::cmd(command);
            call.arg(script).arg(1).arg(key).arg(now_us).arg(interval_us).arg(tolerance_us).arg(skew_us);
            call
        };
        let reply = match connection.query(&call("EVALSHA", self.script.get_hash())).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                connection.query(&call("EVAL", include_str!("../gcra.lua"))).await?
            }
            other => other?,
        };
        parse_reply(&reply)
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn parse_reply(reply: &Value) -> Result<Decision, StoreError> {
    let unexpected = || StoreError::Reply(format!("{reply:?}"));
    let Value::Array(items) = reply else {
        return Err(unexpected());
    };
    match items.as_slice() {
        [Value::Int(1), Value::Int(remaining)] => {
            Ok(Decision::Allow { remaining: u32::try_from(*remaining).unwrap_or(0) })
        }
        [Value::Int(0), Value::Int(retry_us)] => {
            Ok(Decision::Deny { retry_after: Duration::from_micros(u64::try_from(*retry_us).unwrap_or(0)) })
        }
        _ => Err(unexpected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_decisions() {
        let allow = Value::Array(vec![Value::Int(1), Value::Int(4)]);
        assert_eq!(parse_reply(&allow).expect("valid"), Decision::Allow { remaining: 4 });
        let deny = Value::Array(vec![Value::Int(0), Value::Int(1_500_000)]);
        assert_eq!(parse_reply(&deny).expect("valid"), Decision::Deny { retry_after: Duration::from_millis(1500) });
        assert!(parse_reply(&Value::Nil).is_err());
        assert!(parse_reply(&Value::Array(vec![Value::Int(2), Value::Int(0)])).is_err());
    }
}
