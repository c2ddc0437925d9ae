//! Intercept's settings, each declared once: its variable's name, its default and one line of
//! documentation ([`Setting`], listed in [`ALL`]), and the grammar of the values that are
//! checked both at compile time by `#[intercept::main]` and at init by the core ([`grammar`]).
//!
//! The core reads every variable through these constants, the macro names the variables its
//! arguments stand for through them, and the README's settings tables are checked against
//! [`ALL`] (name and default) by `tests/settings_doc.rs`. This crate has no dependencies so the
//! proc-macro crate can use it.
//!
//! ```
//! use intercept_settings::{ALL, AUTH, setting};
//! assert_eq!(AUTH, "INTERCEPT_AUTH");
//! assert_eq!(setting(AUTH).and_then(|s| s.default), Some("none"));
//! assert!(ALL.iter().all(|s| s.name.starts_with("INTERCEPT_") || s.name.starts_with("OTEL_")));
//! ```

pub mod grammar;

/// One setting: the variable, its default as written in the README's table (`None` when the
/// default is not one value, e.g. "not checked"), and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable.
    pub name: &'static str,
    /// The default value, as the README's table writes it between backquotes.
    pub default: Option<&'static str>,
    /// One line: what the setting does.
    pub doc: &'static str,
}

/// The declaration of `name`, if it is one of Intercept's core settings.
#[must_use]
pub fn setting(name: &str) -> Option<&'static Setting> {
    ALL.iter().find(|s| s.name == name)
}

macro_rules! settings {
    ($($(#[doc = $doc:literal])+ $ident:ident = $name:literal, default $default:expr;)+) => {
        $(
            $(#[doc = $doc])+
            pub const $ident: &str = $name;
        )+
        /// Every core setting, in the README's order.
        pub const ALL: &[Setting] = &[$(Setting { name: $ident, default: $default, doc: concat!($($doc),+) }),+];
    };
}

settings! {
    /// Path (or `s3://`, `ssm://`, `appconfig://` source) of the policy file.
    POLICY = "INTERCEPT_POLICY", default None;
    /// Seconds between two reads of a remote or watched policy (0: never).
    POLICY_POLL_SECONDS = "INTERCEPT_POLICY_POLL_SECONDS", default Some("30");
    /// The authentication schemes: `jwt`, `api-key`, `jwt,api-key` or `none`.
    AUTH = "INTERCEPT_AUTH", default Some("none");
    /// JWT key source: an HMAC secret or a PEM public key.
    JWT_SECRET = "INTERCEPT_JWT_SECRET", default None;
    /// JWT key source: a Secrets Manager secret holding a secret or PEM key.
    JWT_SECRET_ID = "INTERCEPT_JWT_SECRET_ID", default None;
    /// JWT key source: a JWKS URL.
    JWKS_URL = "INTERCEPT_JWKS_URL", default None;
    /// JWT key source: an OIDC issuer (its discovery document's `jwks_uri`).
    JWT_OIDC_ISSUER = "INTERCEPT_JWT_OIDC_ISSUER", default None;
    /// The accepted JWT algorithms.
    JWT_ALGORITHMS = "INTERCEPT_JWT_ALGORITHMS", default Some("HS256");
    /// The required `iss`.
    JWT_ISSUER = "INTERCEPT_JWT_ISSUER", default None;
    /// The accepted audiences (`*`: any).
    JWT_AUDIENCE = "INTERCEPT_JWT_AUDIENCE", default None;
    /// The accepted values of Cognito's `token_use` claim.
    JWT_TOKEN_USE = "INTERCEPT_JWT_TOKEN_USE", default Some("access,id");
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
    JWT_LEEWAY_SECONDS = "INTERCEPT_JWT_LEEWAY_SECONDS", default Some("0");
    /// The oldest `iat` accepted, in seconds before now (tokens without `iat` are refused).
    JWT_MAX_AGE_SECONDS = "INTERCEPT_JWT_MAX_AGE_SECONDS", default None;
    /// Scopes required per route: `METHOD /path=scope1 scope2; ...`.
    JWT_REQUIRED_SCOPES = "INTERCEPT_JWT_REQUIRED_SCOPES", default None;
    /// A header the token may also be in.
    JWT_HEADER = "INTERCEPT_JWT_HEADER", default None;
    /// A cookie the token may also be in.
    JWT_COOKIE = "INTERCEPT_JWT_COOKIE", default None;
    /// Longer tokens are refused before any parsing.
    JWT_MAX_BYTES = "INTERCEPT_JWT_MAX_BYTES", default Some("8192");
    /// Verified tokens remembered (0: off).
    JWT_CACHE_SIZE = "INTERCEPT_JWT_CACHE_SIZE", default Some("10000");
    /// Lifetime of fetched keys when the source gives none, in seconds.
    JWT_KEYS_TTL_SECONDS = "INTERCEPT_JWT_KEYS_TTL_SECONDS", default Some("300");
    /// How long the previous secret version verifies after a rotation, in seconds.
    JWT_SECRET_OVERLAP_SECONDS = "INTERCEPT_JWT_SECRET_OVERLAP_SECONDS", default Some("3600");
    /// Least time between refetches on the request path, in seconds.
    JWKS_COOLDOWN_SECONDS = "INTERCEPT_JWKS_COOLDOWN_SECONDS", default Some("30");
    /// How long expired keys keep verifying while their source fails, in seconds.
    JWKS_STALE_IF_ERROR_SECONDS = "INTERCEPT_JWKS_STALE_IF_ERROR_SECONDS", default Some("3600");
    /// Bound of one JWKS or discovery request, in milliseconds.
    JWKS_TIMEOUT_MS = "INTERCEPT_JWKS_TIMEOUT_MS", default Some("2000");
    /// PEM CA certificates trusted for https JWKS and discovery.
    JWKS_CA_FILE = "INTERCEPT_JWKS_CA_FILE", default None;
    /// API keys, `name=key` or `name=sha256:<hex>`, comma separated.
    API_KEYS = "INTERCEPT_API_KEYS", default None;
    /// API keys from a Secrets Manager secret.
    API_KEYS_SECRET_ID = "INTERCEPT_API_KEYS_SECRET_ID", default None;
    /// The API key's header.
    API_KEY_HEADER = "INTERCEPT_API_KEY_HEADER", default Some("x-api-key");
    /// Rate-limit rules, e.g. `100/m, 20/s key=principal burst=40`.
    RATE_LIMIT = "INTERCEPT_RATE_LIMIT", default None;
    /// The burst of rules without `burst=`.
    RATE_LIMIT_BURST = "INTERCEPT_RATE_LIMIT_BURST", default None;
    /// The key of rules without `key=`.
    RATE_LIMIT_KEY = "INTERCEPT_RATE_LIMIT_KEY", default Some("source-ip");
    /// `memory` or a `redis://` / `rediss://` URL.
    RATE_LIMIT_STORE = "INTERCEPT_RATE_LIMIT_STORE", default Some("memory");
    /// What a failed store call decides: `allow`, `deny` or `local`.
    RATE_LIMIT_ON_STORE_ERROR = "INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", default Some("local");
    /// Limit on every Redis call, in milliseconds.
    RATE_LIMIT_TIMEOUT_MS = "INTERCEPT_RATE_LIMIT_TIMEOUT_MS", default Some("50");
    /// Keys the in-memory store keeps.
    RATE_LIMIT_MEMORY_KEYS = "INTERCEPT_RATE_LIMIT_MEMORY_KEYS", default Some("100000");
    /// Prefix of every Redis key.
    RATE_LIMIT_PREFIX = "INTERCEPT_RATE_LIMIT_PREFIX", default Some("intercept:");
    /// A path read in more than one way: `refuse` or `decode`.
    UNSAFE_PATHS = "INTERCEPT_UNSAFE_PATHS", default Some("refuse");
    /// Kill switch: comma list of `auth`, `ratelimit`, `telemetry`.
    DISABLE = "INTERCEPT_DISABLE", default None;
    /// The extension's OTLP/HTTP receiver.
    OTLP_LISTEN = "INTERCEPT_OTLP_LISTEN", default Some("127.0.0.1:4318");
    /// `service.name` of the telemetry.
    OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME", default None;
    /// Extra resource attributes, `key=value,...`.
    OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES", default None;
    /// Incoming context formats read.
    OTEL_PROPAGATORS = "OTEL_PROPAGATORS", default Some("tracecontext,baggage,xray");
    /// The trace sampler.
    OTEL_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER", default Some("parentbased_always_on");
    /// The sampler's argument (a ratio from 0 to 1).
    OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG", default None;
    /// More header or field names whose values are never recorded.
    REDACT = "INTERCEPT_REDACT", default None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_declared_once() {
        for (index, setting) in ALL.iter().enumerate() {
            assert!(
                ALL.iter().skip(index + 1).all(|other| other.name != setting.name),
                "{} is declared twice",
                setting.name
            );
            assert!(!setting.doc.trim().is_empty(), "{} has no documentation", setting.name);
        }
    }
}
