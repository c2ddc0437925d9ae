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

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script, ServerErrorKind, Value};
use tokio::sync::OnceCell;

use super::{Decision, Gcra, RedisConfig};

/// The longest a first connection (TCP, TLS, AUTH) may take at init.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call to the store failed; the failure policy decides what the request gets.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// No answer within the call timeout.
    #[error("the rate-limit store did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection or the command failed.
    #[error("the rate-limit store failed: {0}")]
    Redis(#[from] RedisError),
    /// The script answered something else than `{allowed, amount}`.
    #[error("the rate-limit store sent an unexpected reply: {0}")]
    Reply(String),
}

/// GCRA state in Redis, shared by every environment that points at the same server.
pub(crate) struct RedisStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: Script,
    timeout: Duration,
    prefix: String,
    redacted_url: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.redacted_url)
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
            connection: OnceCell::new(),
            script: Script::new(include_str!("gcra.lua")),
            timeout: config.timeout,
            prefix: config.prefix.clone(),
            redacted_url: config.redacted_url(),
        })
    }

    /// The URL without credentials.
    pub(crate) fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// Opens the shared connection and checks the server answers `PING`.
    pub(crate) async fn connect(&self) -> Result<(), StoreError> {
        let ping = async {
            let mut connection = self.connection().await?.clone();
            redis::cmd("PING").query_async::<()>(&mut connection).await.map_err(StoreError::from)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, ping).await.map_err(|_| StoreError::Timeout(CONNECT_TIMEOUT))?
    }

    async fn connection(&self) -> Result<&ConnectionManager, RedisError> {
        self.connection
            .get_or_try_init(|| {
                // The manager multiplexes every concurrent invocation over one connection and
                // reconnects in the background after a failure; each call is bounded by our own
                // timeout, so its retries never hold up a request.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await
    }

    /// Decides one request for `key` at `now` (time since the Unix epoch) in one round trip:
    /// `EVALSHA`, or `EVAL` when the server does not know the script yet (after a restart or a
    /// failover), which also caches it for the next call.
    pub(crate) async fn decide(&self, gcra: &Gcra, key: &str, now: Duration) -> Result<Decision, StoreError> {
        let call = async {
            let mut connection = self.connection().await?.clone();
            // Bounded like the memory store's keys: a 30 KB path makes no 30 KB Redis key.
            let key = format!("{}{}", self.prefix, super::bounded_key(key));
            let now_us = micros(now);
            let interval_us = micros(gcra.interval()).max(1);
            let tolerance_us = micros(gcra.tolerance()).max(interval_us);
            let skew_us = micros(Gcra::MAX_CLOCK_SKEW);
            // EVALSHA first; EVAL with the script's text when the server does not have it yet.
            let call = |command: &str, script: &str| {
                let mut call = redis::cmd(command);
                call.arg(script).arg(1).arg(&key).arg(now_us).arg(interval_us).arg(tolerance_us).arg(skew_us);
                call
            };
            let reply = match call("EVALSHA", self.script.get_hash()).query_async::<Value>(&mut connection).await {
                Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                    call("EVAL", include_str!("gcra.lua")).query_async::<Value>(&mut connection).await?
                }
                other => other?,
            };
            parse_reply(&reply)
        };
        tokio::time::timeout(self.timeout, call).await.map_err(|_| StoreError::Timeout(self.timeout))?
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
