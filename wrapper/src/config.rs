//! The configuration contract: every setting, read from a map of variables.

use intercept_settings as settings;
use std::fmt;
use std::sync::Arc;

pub(crate) use crate::auth::AuthConfig;
use crate::canonical::UnsafePaths;
use crate::policy::{Disabled, EffectivePolicy};
use crate::ratelimit::RateLimitConfig;
use crate::telemetry::TelemetryConfig;

/// A setting that is missing or malformed; names the setting and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The variable at fault.
    pub setting: &'static str,
    /// What was wrong and what was expected.
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        ConfigError { setting, problem: problem.into() }
    }

    /// The stable `errorType` reported to Lambda for this error (at init, or for each
    /// invocation when a proxy that cannot build its filters fails closed).
    pub const ERROR_TYPE: &'static str = "Intercept.ConfigError";

    /// [`ConfigError::ERROR_TYPE`]: the stable `errorType` reported to Lambda when init fails on this error.
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        Self::ERROR_TYPE
    }
}

/// Where a typed setting value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The variable of that name.
    Env(&'static str),
    /// The policy file, at this line and column.
    File(crate::policy::Pos),
    /// Stands in for a secret the environment gives at init (`policy check` / `explain`).
    Placeholder,
}

/// A setting's typed value and where it came from: the environment and the policy file fill
/// the same typed values, merged as values (a route's own, else the file's defaults, else the
/// variable's, else Intercept's default).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Given<T> {
    pub(crate) value: T,
    pub(crate) origin: Origin,
}

impl<T> Given<T> {
    /// A value read from `variable`.
    pub(crate) fn env(variable: &'static str, value: T) -> Given<T> {
        Given { value, origin: Origin::Env(variable) }
    }

    /// A value the policy file sets at `at`.
    pub(crate) fn file(at: crate::policy::Pos, value: T) -> Given<T> {
        Given { value, origin: Origin::File(at) }
    }
}

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    #[must_use]
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    /// The secret's bytes.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// Every Intercept setting, validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Telemetry, or `None` when switched off with `INTERCEPT_DISABLE=telemetry`.
    pub telemetry: Option<TelemetryConfig>,
    /// What every request is judged by: the policy file (`INTERCEPT_POLICY`) resolved with the
    /// environment (each route's authentication, rate limits, modes and telemetry options), or,
    /// without a file, the environment alone as the policy's defaults. One path through the
    /// filters either way.
    pub policy: Arc<EffectivePolicy>,
    /// Filters switched off with `INTERCEPT_DISABLE` (the kill switch).
    pub disabled: Disabled,
    /// Whether a path that cannot be normalized safely is refused (`INTERCEPT_UNSAFE_PATHS`).
    pub unsafe_paths: UnsafePaths,
    /// The audit line logged at init; `None` when the environment alone cannot be summed up.
    pub(crate) audit: Option<String>,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that is missing or malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from any lookup of variables (a map in tests).
    ///
    /// With `INTERCEPT_POLICY`, authentication and rate limits come from the file combined with
    /// the variables (docs/policy.md); the variables are then read as the file's short form, so
    /// one that only makes sense next to the file (a store without rules) is not an error.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that is missing or malformed; for the file,
    /// `INTERCEPT_POLICY` with every error's `file:line:col`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let disabled = crate::policy::parse_disabled(get(settings::DISABLE))?;
        let policy = if get(settings::POLICY).is_some() {
            EffectivePolicy::from_lookup(&lookup)?
        } else {
            // Without a file the variables are the whole configuration, so each is checked on its
            // own first, strictly (the resolver lets pass what only makes sense beside a file, such
            // as a store without rules); they are then the defaults of an empty file.
            if !disabled.auth {
                crate::auth::parse_auth(&get)?;
            }
            if !disabled.ratelimit {
                crate::ratelimit::parse_settings(&get)?;
            }
            crate::policy::Policy::empty().resolve(&lookup)?
        };
        // The same summary with or without a file: digest and where each setting came from.
        let audit = Some(policy.audit());
        let policy = Arc::new(policy);
        let telemetry = if disabled.telemetry { None } else { Some(crate::telemetry::parse_settings(&get)?) };
        let unsafe_paths = UnsafePaths::parse(get(settings::UNSAFE_PATHS).as_deref())?;
        Ok(Config { telemetry, policy, disabled, unsafe_paths, audit })
    }

    /// The authentication of requests no route of the policy matches (all requests without a
    /// policy file).
    #[must_use]
    pub fn auth(&self) -> &AuthConfig {
        &self.policy.defaults().auth
    }

    /// The enforced rate-limit rules of requests no route matches, if any.
    #[must_use]
    pub fn rate_limit(&self) -> Option<&RateLimitConfig> {
        self.policy.defaults().rate_limit.as_ref()
    }

    /// The audit line to log at init: which policy runs (digests) and where each setting came
    /// from; see docs/policy.md.
    #[must_use]
    pub fn audit(&self) -> Option<&str> {
        self.audit.as_deref()
    }

    /// The loud warning to log at init when `INTERCEPT_DISABLE` switches filters off.
    #[must_use]
    pub fn kill_switch_warning(&self) -> Option<String> {
        self.disabled.warning()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::telemetry::DEFAULT_OTLP_LISTEN;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_open_and_traced() {
        let config = config(&[]).expect("empty config is valid");
        assert!(!config.auth().is_enabled());
        assert!(config.rate_limit().is_none());
        let telemetry = config.telemetry.expect("telemetry on by default");
        assert_eq!(telemetry.otlp_listen.to_string(), DEFAULT_OTLP_LISTEN);
    }

    #[test]
    fn jwt_without_secret_names_the_setting() {
        let error = config(&[("INTERCEPT_AUTH", "jwt")]).expect_err("must fail");
        assert_eq!(error.setting, "INTERCEPT_JWT_SECRET");
        assert!(error.to_string().contains("exactly one key source"), "{error}");
    }

    #[test]
    fn bad_values_name_their_setting() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("INTERCEPT_AUTH", "saml")], "INTERCEPT_AUTH"),
            (
                &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s"), ("INTERCEPT_JWT_ALGORITHMS", "RS256")],
                "INTERCEPT_JWT_ALGORITHMS",
            ),
            (
                &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s"), ("INTERCEPT_JWT_ALGORITHMS", "none")],
                "INTERCEPT_JWT_ALGORITHMS",
            ),
            (
                &[
                    ("INTERCEPT_AUTH", "jwt"),
                    ("INTERCEPT_JWT_SECRET", "s"),
                    ("INTERCEPT_JWKS_URL", "http://127.0.0.1:1/jwks"),
                ],
                "INTERCEPT_JWT_SECRET",
            ),
            (&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWKS_URL", "file:///etc/jwks")], "INTERCEPT_JWKS_URL"),
            (&[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET_ID", "jwt-key")], "AWS_REGION"),
            (
                &[
                    ("INTERCEPT_AUTH", "jwt"),
                    ("INTERCEPT_JWT_SECRET", "s"),
                    ("INTERCEPT_JWT_REQUIRED_SCOPES", "GET /orders"),
                ],
                "INTERCEPT_JWT_REQUIRED_SCOPES",
            ),
            (
                &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s"), ("INTERCEPT_JWT_MAX_AGE_SECONDS", "0")],
                "INTERCEPT_JWT_MAX_AGE_SECONDS",
            ),
            (&[("INTERCEPT_AUTH", "api-key")], "INTERCEPT_API_KEYS"),
            (&[("INTERCEPT_AUTH", "api-key"), ("INTERCEPT_API_KEYS", "ci=sha256:12")], "INTERCEPT_API_KEYS"),
            (
                &[("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s"), ("INTERCEPT_JWT_LEEWAY_SECONDS", "-1")],
                "INTERCEPT_JWT_LEEWAY_SECONDS",
            ),
            (&[("INTERCEPT_RATE_LIMIT", "fast")], "INTERCEPT_RATE_LIMIT"),
            (&[("INTERCEPT_RATE_LIMIT", "0/s")], "INTERCEPT_RATE_LIMIT"),
            (&[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_BURST", "0")], "INTERCEPT_RATE_LIMIT_BURST"),
            (&[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_KEY", "user")], "INTERCEPT_RATE_LIMIT_KEY"),
            (&[("INTERCEPT_RATE_LIMIT_KEY", "global")], "INTERCEPT_RATE_LIMIT_KEY"),
            (
                &[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_STORE", "memcached://x")],
                "INTERCEPT_RATE_LIMIT_STORE",
            ),
            (&[("INTERCEPT_RATE_LIMIT", "-5/s")], "INTERCEPT_RATE_LIMIT"),
            (&[("INTERCEPT_RATE_LIMIT", "5/s, 6/s")], "INTERCEPT_RATE_LIMIT"),
            (
                &[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_STORE", "redis://[::1")],
                "INTERCEPT_RATE_LIMIT_STORE",
            ),
            (
                &[
                    ("INTERCEPT_RATE_LIMIT", "5/s"),
                    ("INTERCEPT_RATE_LIMIT_STORE", "redis://h"),
                    ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "retry"),
                ],
                "INTERCEPT_RATE_LIMIT_ON_STORE_ERROR",
            ),
            (
                &[
                    ("INTERCEPT_RATE_LIMIT", "5/s"),
                    ("INTERCEPT_RATE_LIMIT_STORE", "redis://h"),
                    ("INTERCEPT_RATE_LIMIT_TIMEOUT_MS", "0"),
                ],
                "INTERCEPT_RATE_LIMIT_TIMEOUT_MS",
            ),
            (
                &[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_MEMORY_KEYS", "lots")],
                "INTERCEPT_RATE_LIMIT_MEMORY_KEYS",
            ),
            (&[("INTERCEPT_RATE_LIMIT_STORE", "redis://h")], "INTERCEPT_RATE_LIMIT_STORE"),
            (&[("INTERCEPT_DISABLE", "auth,logging")], "INTERCEPT_DISABLE"),
            (&[("INTERCEPT_OTLP_LISTEN", "localhost")], "INTERCEPT_OTLP_LISTEN"),
        ];
        for (pairs, setting) in cases {
            let error = config(pairs).expect_err(setting);
            assert_eq!(error.setting, *setting, "{pairs:?} gave {error}");
        }
    }

    #[test]
    fn kill_switch_turns_filters_off() {
        let config = config(&[
            ("INTERCEPT_AUTH", "jwt"),
            ("INTERCEPT_RATE_LIMIT", "5/s"),
            ("INTERCEPT_DISABLE", "auth, ratelimit,telemetry"),
        ])
        .expect("valid");
        assert!(!config.auth().is_enabled());
        assert!(config.rate_limit().is_none());
        assert!(config.telemetry.is_none());
    }

    #[test]
    fn several_rules_and_a_redis_store() {
        let config = config(&[
            ("INTERCEPT_RATE_LIMIT", "100/m, 20/s key=principal burst=40, 1000/h name=hourly"),
            ("INTERCEPT_RATE_LIMIT_BURST", "10"),
            ("INTERCEPT_RATE_LIMIT_STORE", "rediss://app:hunter2@cache.internal:6380/0"),
            ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
        ])
        .expect("valid");
        let rate_limit = config.rate_limit().expect("rules");
        let rules: Vec<(&str, u32, u32)> =
            rate_limit.rules.iter().map(|r| (r.name.as_str(), r.quota.count, r.quota.burst)).collect();
        assert_eq!(rules, [("source-ip", 100, 10), ("principal", 20, 40), ("hourly", 1000, 10)]);
        let crate::ratelimit::StoreConfig::Redis(redis) = &rate_limit.store else {
            panic!("not redis: {:?}", rate_limit.store)
        };
        assert_eq!(redis.on_error, crate::ratelimit::OnStoreError::Deny);
        assert_eq!(redis.timeout, Duration::from_millis(50));
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("app:"), "{shown}");
        assert!(shown.contains("rediss://cache.internal:6380/0"), "{shown}");
    }

    #[test]
    fn malformed_store_url_is_not_echoed_with_its_password() {
        let error =
            config(&[("INTERCEPT_RATE_LIMIT", "5/s"), ("INTERCEPT_RATE_LIMIT_STORE", "redis://u:hunter2@[::1")])
                .expect_err("malformed");
        assert_eq!(error.setting, "INTERCEPT_RATE_LIMIT_STORE");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let config = config(&[
            ("INTERCEPT_JWT_SECRET", "hunter2hunter2"),
            ("INTERCEPT_AUTH", "jwt,api-key"),
            ("INTERCEPT_API_KEYS", "ci=hunter2key"),
            ("INTERCEPT_JWT_SECRET_ID", ""),
        ])
        .expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn variables_that_complete_the_policy_file_are_not_errors_of_their_own() {
        let path = std::env::temp_dir().join(format!("intercept-config-policy-{}.yaml", std::process::id()));
        std::fs::write(&path, "defaults:\n  rate_limit:\n    - rate: 5/s\n").expect("write");
        let file = path.to_str().expect("utf-8").to_owned();
        // Alone, a store without rules is an error; next to a file with rules it is the rules' store.
        let alone = config(&[("INTERCEPT_RATE_LIMIT_STORE", "memory")]).expect_err("no rules");
        assert_eq!(alone.setting, "INTERCEPT_RATE_LIMIT_STORE");
        let with_file = config(&[("INTERCEPT_RATE_LIMIT_STORE", "memory"), ("INTERCEPT_POLICY", &file)]);
        let _ = std::fs::remove_file(&path);
        let with_file = with_file.expect("the file's rules use the store");
        assert_eq!(with_file.rate_limit().expect("the defaults' rules").rules[0].quota.count, 5);
        let audit = with_file.audit().expect("an audit line");
        assert!(audit.contains(&format!("source={file}")) && audit.contains("defaults.rate_limit.rules="), "{audit}");
        assert!(with_file.kill_switch_warning().is_none());
    }
}
