//! The policy file as written: every field optional, each with the position it came from.

use super::effective::Disabled;
use super::pattern::RoutePattern;
use super::yaml::Pos;
use crate::ratelimit::{LimitKey, Quota};

/// A value and where the file says it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) at: Pos,
}

/// Whether a rule refuses requests or only records that it would have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// The rule refuses requests (the default).
    #[default]
    Enforce,
    /// The rule runs and its decision is recorded, but the request goes through.
    Detect,
}

impl Mode {
    /// `enforce` or `detect`, as the file writes it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Detect => "detect",
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    /// The top-level `mode`, the default of every rule's.
    pub(crate) mode: Option<Spanned<Mode>>,
    /// The top-level `disable`: filters switched off for every route, as `INTERCEPT_DISABLE`
    /// does (either one switches a filter off).
    pub(crate) disable: Option<Spanned<Disabled>>,
    pub(crate) defaults: Section,
    pub(crate) routes: Vec<RouteEntry>,
}

/// One entry of `routes`.
#[derive(Debug, Clone)]
pub(crate) struct RouteEntry {
    pub(crate) pattern: RoutePattern,
    pub(crate) at: Pos,
    pub(crate) section: Section,
}

/// What `defaults` and each route may set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    pub(crate) auth: Option<AuthSection>,
    pub(crate) rate_limit: Option<RateLimitSection>,
    pub(crate) telemetry: Option<TelemetrySection>,
}

/// The schemes `auth.type` names, as `INTERCEPT_AUTH` writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schemes {
    None,
    Jwt,
    ApiKey,
    JwtOrApiKey,
}

impl Schemes {
    pub(crate) fn parse(text: &str) -> Option<Schemes> {
        let mut words: Vec<&str> = text.split(',').map(str::trim).collect();
        words.sort_unstable();
        match words.as_slice() {
            ["none"] => Some(Schemes::None),
            ["jwt"] => Some(Schemes::Jwt),
            ["api-key"] => Some(Schemes::ApiKey),
            ["api-key", "jwt"] => Some(Schemes::JwtOrApiKey),
            _ => None,
        }
    }

    /// The `INTERCEPT_AUTH` value.
    pub(crate) fn as_env(self) -> &'static str {
        match self {
            Schemes::None => "none",
            Schemes::Jwt => "jwt",
            Schemes::ApiKey => "api-key",
            Schemes::JwtOrApiKey => "jwt,api-key",
        }
    }

    pub(crate) fn has_jwt(self) -> bool {
        matches!(self, Schemes::Jwt | Schemes::JwtOrApiKey)
    }
}

/// Where JWT keys come from, when the file says (literal secrets only come from the environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    JwksUrl(String),
    OidcIssuer(String),
    SecretId(String),
}

impl KeySource {
    /// The variable that is this source's short form, and its value.
    pub(crate) fn as_env(&self) -> (&'static str, &str) {
        match self {
            KeySource::JwksUrl(url) => ("INTERCEPT_JWKS_URL", url),
            KeySource::OidcIssuer(url) => ("INTERCEPT_JWT_OIDC_ISSUER", url),
            KeySource::SecretId(id) => ("INTERCEPT_JWT_SECRET_ID", id),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct AuthSection {
    pub(crate) at: Pos,
    pub(crate) schemes: Option<Spanned<Schemes>>,
    pub(crate) keys: Option<Spanned<KeySource>>,
    pub(crate) issuer: Option<Spanned<String>>,
    pub(crate) audience: Option<Spanned<Vec<String>>>,
    pub(crate) algorithms: Option<Spanned<Vec<String>>>,
    pub(crate) leeway_seconds: Option<Spanned<u64>>,
    pub(crate) max_age_seconds: Option<Spanned<u64>>,
    pub(crate) scopes: Option<Spanned<Vec<String>>>,
    pub(crate) api_key_header: Option<Spanned<String>>,
    pub(crate) mode: Option<Spanned<Mode>>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RateLimitSection {
    pub(crate) at: Pos,
    pub(crate) rules: Option<Spanned<Vec<RuleEntry>>>,
    pub(crate) store: Option<Spanned<String>>,
    pub(crate) on_store_error: Option<Spanned<String>>,
}

/// One rate-limit rule as written; `quota` is already parsed from `rate` (and `burst`).
#[derive(Debug, Clone)]
pub(crate) struct RuleEntry {
    pub(crate) at: Pos,
    pub(crate) quota: Quota,
    pub(crate) burst: Option<Spanned<u32>>,
    pub(crate) key: Option<Spanned<LimitKey>>,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) mode: Option<Spanned<Mode>>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TelemetrySection {
    pub(crate) at: Pos,
    pub(crate) sampling: Option<Spanned<f64>>,
    pub(crate) redact: Option<Spanned<Vec<String>>>,
}
