//! The rate-limit settings: rules, store, failure policy, read from `INTERCEPT_RATE_LIMIT*`.

use std::fmt;
use std::time::Duration;

use super::rule::parse_burst;
use super::{LimitKey, Rule};
use crate::config::ConfigError;

/// Keys the in-memory store keeps by default before it forgets the least recently used.
pub(crate) const DEFAULT_MEMORY_KEYS: usize = 100_000;
/// The default limit on one call to the Redis store.
pub(crate) const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(50);

/// The rate-limit rules and where their state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Every rule; each request is checked against all that apply, the strictest decides.
    pub(crate) rules: Vec<Rule>,
    /// Where the state lives.
    pub(crate) store: StoreConfig,
    /// Keys the in-memory store (or the `local` fallback) keeps (`INTERCEPT_RATE_LIMIT_MEMORY_KEYS`).
    pub(crate) memory_keys: usize,
}

/// Where rate-limit state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreConfig {
    /// In this execution environment only.
    Memory,
    /// In Redis, shared by every environment.
    Redis(RedisConfig),
}

/// A Redis store: where it is, how long a call may take, what to do when it fails.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisConfig {
    /// The `redis://` or `rediss://` URL, which may hold a password; never printed whole.
    pub(crate) url: String,
    /// The limit on every call (`INTERCEPT_RATE_LIMIT_TIMEOUT_MS`).
    pub(crate) timeout: Duration,
    /// What a failed call decides (`INTERCEPT_RATE_LIMIT_ON_STORE_ERROR`).
    pub(crate) on_error: OnStoreError,
    /// Prepended to every Redis key (`INTERCEPT_RATE_LIMIT_PREFIX`).
    pub(crate) prefix: String,
}

impl RedisConfig {
    /// The URL with any user and password left out, safe to log.
    #[must_use]
    pub(crate) fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("timeout", &self.timeout)
            .field("on_error", &self.on_error)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// What a rate-limit decision does when the shared store fails or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnStoreError {
    /// Let the request through (fail open).
    Allow,
    /// Refuse it with a 429 (fail closed).
    Deny,
    /// Decide with this environment's in-memory limiter, same rules, until the store answers.
    Local,
}

/// `scheme://host:port/db` of a Redis URL, without credentials or query.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    format!("{scheme}://{rest}")
}

/// Reads the rate-limit settings; `None` when `INTERCEPT_RATE_LIMIT` is not set.
pub(crate) fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Option<RateLimitConfig>, ConfigError> {
    let Some(list) = get("INTERCEPT_RATE_LIMIT") else {
        for dependent in [
            "INTERCEPT_RATE_LIMIT_BURST",
            "INTERCEPT_RATE_LIMIT_KEY",
            "INTERCEPT_RATE_LIMIT_STORE",
            "INTERCEPT_RATE_LIMIT_ON_STORE_ERROR",
        ] {
            if get(dependent).is_some() {
                return Err(ConfigError::new(dependent, "is set but INTERCEPT_RATE_LIMIT is not"));
            }
        }
        return Ok(None);
    };
    let burst = get("INTERCEPT_RATE_LIMIT_BURST")
        .map(|b| parse_burst(&b).map_err(|p| ConfigError::new("INTERCEPT_RATE_LIMIT_BURST", p)))
        .transpose()?;
    let key = match get("INTERCEPT_RATE_LIMIT_KEY") {
        None => LimitKey::SourceIp,
        Some(key) => LimitKey::parse(&key).ok_or_else(|| {
            ConfigError::new(
                "INTERCEPT_RATE_LIMIT_KEY",
                format!("`{key}` is not a key; expected source-ip, principal, api-key, route or global"),
            )
        })?,
    };
    let mut rules: Vec<Rule> = Vec::new();
    for entry in list.split(',') {
        let rule =
            Rule::parse(entry, key, burst).map_err(|problem| ConfigError::new("INTERCEPT_RATE_LIMIT", problem))?;
        if rules.iter().any(|other| other.name == rule.name) {
            return Err(ConfigError::new(
                "INTERCEPT_RATE_LIMIT",
                format!("two rules are named `{}`; give one a `name=` attribute", rule.name),
            ));
        }
        rules.push(rule);
    }
    let memory_keys = match get("INTERCEPT_RATE_LIMIT_MEMORY_KEYS") {
        None => DEFAULT_MEMORY_KEYS,
        Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            ConfigError::new("INTERCEPT_RATE_LIMIT_MEMORY_KEYS", format!("`{v}` is not a whole number above 0"))
        })?,
    };
    let store = parse_store(get)?;
    Ok(Some(RateLimitConfig { rules, store, memory_keys }))
}

fn parse_store(get: &impl Fn(&str) -> Option<String>) -> Result<StoreConfig, ConfigError> {
    const STORE: &str = "INTERCEPT_RATE_LIMIT_STORE";
    let on_error = match get("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR").as_deref() {
        None | Some("local") => OnStoreError::Local,
        Some("allow") => OnStoreError::Allow,
        Some("deny") => OnStoreError::Deny,
        Some(other) => {
            return Err(ConfigError::new(
                "INTERCEPT_RATE_LIMIT_ON_STORE_ERROR",
                format!("`{other}` is not a policy; expected allow, deny or local"),
            ));
        }
    };
    let timeout = match get("INTERCEPT_RATE_LIMIT_TIMEOUT_MS") {
        None => DEFAULT_STORE_TIMEOUT,
        Some(v) => Duration::from_millis(v.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
            ConfigError::new(
                "INTERCEPT_RATE_LIMIT_TIMEOUT_MS",
                format!("`{v}` is not a whole number of milliseconds above 0"),
            )
        })?),
    };
    let url = match get(STORE) {
        None => return Ok(StoreConfig::Memory),
        Some(store) if store == "memory" => return Ok(StoreConfig::Memory),
        Some(url) => url,
    };
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("redis" | "rediss")) {
        // Only the scheme is shown: the rest may hold a password.
        return Err(ConfigError::new(
            STORE,
            format!(
                "the scheme `{}` is not supported; expected `memory` or a redis:// or rediss:// URL",
                scheme.unwrap_or("")
            ),
        ));
    }
    if redis::Client::open(url.as_str()).is_err() {
        return Err(ConfigError::new(
            STORE,
            format!(
                "`{}` is not a valid Redis URL; expected redis[s]://[user[:password]@]host[:port][/db]",
                redact(&url)
            ),
        ));
    }
    let prefix = get("INTERCEPT_RATE_LIMIT_PREFIX").unwrap_or_else(|| "intercept:".to_owned());
    Ok(StoreConfig::Redis(RedisConfig { url, timeout, on_error, prefix }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials() {
        assert_eq!(redact("rediss://app:s3cr3t@cache.example:6380/2?protocol=resp3"), "rediss://cache.example:6380/2");
        assert_eq!(redact("redis://:pa@ss@h:1"), "redis://h:1");
        assert_eq!(redact("redis://h"), "redis://h");
    }
}
