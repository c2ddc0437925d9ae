//! The rate-limit settings: rules, store, failure policy, read from `INTERCEPT_RATE_LIMIT*`.

use intercept_settings as settings;
use std::fmt;
use std::time::Duration;

use super::rule::parse_burst;
use super::{LimitKey, Rule};
use crate::config::{ConfigError, Given, Origin};

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

/// The rate-limit settings a policy file may also give, as typed values with where each came
/// from: read once from the environment, overlaid by the file's values, then built.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateLimitInputs {
    /// The rules, with their keys and bursts filled in.
    pub(crate) rules: Option<Given<Vec<Rule>>>,
    /// `INTERCEPT_RATE_LIMIT_KEY`: the key of the variable's rules that set none.
    pub(crate) key: Option<Given<LimitKey>>,
    /// `INTERCEPT_RATE_LIMIT_BURST`: the burst of the variable's rules that set none.
    pub(crate) burst: Option<Given<u32>>,
    /// `memory` or a Redis URL (which may hold a password).
    pub(crate) store: Option<Given<String>>,
    pub(crate) on_store_error: Option<Given<String>>,
}

impl RateLimitInputs {
    /// Reads and parses each variable once.
    pub(crate) fn from_env(get: &impl Fn(&str) -> Option<String>) -> Result<RateLimitInputs, ConfigError> {
        let burst = get(settings::RATE_LIMIT_BURST)
            .map(|b| parse_burst(&b).map_err(|p| ConfigError::new(settings::RATE_LIMIT_BURST, p)))
            .transpose()?;
        let key = get(settings::RATE_LIMIT_KEY)
            .map(|key| {
                LimitKey::parse(&key).ok_or_else(|| {
                    ConfigError::new(
                        settings::RATE_LIMIT_KEY,
                        format!("`{key}` is not a key; expected source-ip, principal, api-key, route or global"),
                    )
                })
            })
            .transpose()?;
        let rules = match get(settings::RATE_LIMIT) {
            None => None,
            Some(list) => {
                let mut rules: Vec<Rule> = Vec::new();
                for entry in list.split(',') {
                    let rule = Rule::parse(entry, key.unwrap_or(LimitKey::SourceIp), burst)
                        .map_err(|problem| ConfigError::new(settings::RATE_LIMIT, problem))?;
                    rules.push(rule);
                }
                Some(Given::env(settings::RATE_LIMIT, rules))
            }
        };
        Ok(RateLimitInputs {
            rules,
            key: key.map(|k| Given::env(settings::RATE_LIMIT_KEY, k)),
            burst: burst.map(|b| Given::env(settings::RATE_LIMIT_BURST, b)),
            store: get(settings::RATE_LIMIT_STORE).map(|s| Given::env(settings::RATE_LIMIT_STORE, s)),
            on_store_error: get(settings::RATE_LIMIT_ON_STORE_ERROR)
                .map(|s| Given::env(settings::RATE_LIMIT_ON_STORE_ERROR, s)),
        })
    }

    /// Where the value of `variable` came from, `None` when nothing gives it.
    pub(crate) fn origin(&self, variable: &str) -> Option<Origin> {
        match variable {
            settings::RATE_LIMIT => self.rules.as_ref().map(|g| g.origin),
            settings::RATE_LIMIT_KEY => self.key.as_ref().map(|g| g.origin),
            settings::RATE_LIMIT_BURST => self.burst.as_ref().map(|g| g.origin),
            settings::RATE_LIMIT_STORE => self.store.as_ref().map(|g| g.origin),
            settings::RATE_LIMIT_ON_STORE_ERROR => self.on_store_error.as_ref().map(|g| g.origin),
            _ => None,
        }
    }

    /// The rate limits these values describe, `None` without rules; `get` gives the settings
    /// only the environment holds (memory size, timeout, key prefix).
    pub(crate) fn build(&self, get: &impl Fn(&str) -> Option<String>) -> Result<Option<RateLimitConfig>, ConfigError> {
        let Some(given) = &self.rules else { return Ok(None) };
        let mut rules: Vec<Rule> = Vec::new();
        for rule in &given.value {
            if rules.iter().any(|other| other.name == rule.name) {
                return Err(ConfigError::new(
                    settings::RATE_LIMIT,
                    format!("two rules are named `{}`; give one a `name=` attribute", rule.name),
                ));
            }
            rules.push(rule.clone());
        }
        let memory_keys = match get(settings::RATE_LIMIT_MEMORY_KEYS) {
            None => DEFAULT_MEMORY_KEYS,
            Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError::new(settings::RATE_LIMIT_MEMORY_KEYS, format!("`{v}` is not a whole number above 0"))
            })?,
        };
        let store = parse_store(
            self.store.as_ref().map(|s| s.value.as_str()),
            self.on_store_error.as_ref().map(|s| s.value.as_str()),
            get,
        )?;
        Ok(Some(RateLimitConfig { rules, store, memory_keys }))
    }
}

/// Reads the rate-limit settings from the environment alone; `None` when
/// `INTERCEPT_RATE_LIMIT` is not set (and then a variable that only qualifies its rules is an
/// error).
pub(crate) fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Option<RateLimitConfig>, ConfigError> {
    if get(settings::RATE_LIMIT).is_none() {
        for dependent in [
            settings::RATE_LIMIT_BURST,
            settings::RATE_LIMIT_KEY,
            settings::RATE_LIMIT_STORE,
            settings::RATE_LIMIT_ON_STORE_ERROR,
        ] {
            if get(dependent).is_some() {
                return Err(ConfigError::new(dependent, "is set but INTERCEPT_RATE_LIMIT is not"));
            }
        }
        return Ok(None);
    }
    RateLimitInputs::from_env(get)?.build(get)
}

fn parse_store(
    store: Option<&str>,
    on_error: Option<&str>,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<StoreConfig, ConfigError> {
    const STORE: &str = settings::RATE_LIMIT_STORE;
    let on_error = match on_error {
        None | Some("local") => OnStoreError::Local,
        Some("allow") => OnStoreError::Allow,
        Some("deny") => OnStoreError::Deny,
        Some(other) => {
            return Err(ConfigError::new(
                settings::RATE_LIMIT_ON_STORE_ERROR,
                format!("`{other}` is not a policy; expected allow, deny or local"),
            ));
        }
    };
    let timeout = match get(settings::RATE_LIMIT_TIMEOUT_MS) {
        None => DEFAULT_STORE_TIMEOUT,
        Some(v) => Duration::from_millis(v.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
            ConfigError::new(
                settings::RATE_LIMIT_TIMEOUT_MS,
                format!("`{v}` is not a whole number of milliseconds above 0"),
            )
        })?),
    };
    let url = match store {
        None | Some("memory") => return Ok(StoreConfig::Memory),
        Some(url) => url.to_owned(),
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
    let prefix = get(settings::RATE_LIMIT_PREFIX).unwrap_or_else(|| "intercept:".to_owned());
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
