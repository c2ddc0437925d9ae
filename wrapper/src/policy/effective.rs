//! The effective policy: per-route settings built from the file and the environment, and the
//! lookup of a request's route.

use intercept_settings as settings;
use std::sync::Arc;

use super::model::Mode;
use super::pattern::RoutePattern;
use super::yaml::Pos;
use crate::auth::AuthConfig;
use crate::invocation::Invocation;
use crate::ratelimit::RateLimitConfig;

/// Telemetry options of one route.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TelemetryPolicy {
    /// The share of invocations traced, from 0 to 1.
    pub sampling: f64,
    /// Extra fields (headers, query parameters, body fields) redacted from spans and logs,
    /// besides those Intercept always redacts.
    pub redact: Vec<String>,
}

/// What applies to the requests of one route (or to every request no route matches).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoutePolicy {
    /// `METHOD /path` as written in the file; `None` for the defaults.
    pub route: Option<String>,
    /// Authentication, ready for [`crate::auth::Authenticator`]; routes whose settings are identical
    /// share one `Arc` (build one authenticator per distinct `Arc`, keyed by pointer).
    /// Required scopes are in `required_scopes` as one rule matching every path.
    pub auth: Arc<AuthConfig>,
    /// Whether an authentication failure refuses the request or is only recorded.
    pub auth_mode: Mode,
    /// The rules that refuse requests, with their store; `None` when there are none.
    pub rate_limit: Option<RateLimitConfig>,
    /// The rules in detect mode (same store): they run, their refusals are only recorded.
    pub rate_limit_detect: Option<RateLimitConfig>,
    /// Telemetry options; `None` when telemetry is switched off (`INTERCEPT_DISABLE`).
    pub telemetry: Option<TelemetryPolicy>,
    pub(crate) pattern: Option<RoutePattern>,
    pub(crate) at: Option<Pos>,
}

/// Filters switched off with `INTERCEPT_DISABLE`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Disabled {
    /// Authentication is off for every route.
    pub auth: bool,
    /// Rate limiting is off for every route.
    pub ratelimit: bool,
    /// Telemetry is off.
    pub telemetry: bool,
}

impl Disabled {
    /// The loud warning to log at init when filters are switched off, `None` when none is.
    #[must_use]
    pub fn warning(self) -> Option<String> {
        let names = self.names();
        if names.is_empty() {
            return None;
        }
        let what: Vec<&str> = names
            .iter()
            .map(|n| match *n {
                "auth" => "authentication",
                "ratelimit" => "rate limiting",
                _ => "telemetry",
            })
            .collect();
        Some(format!(
            "KILL SWITCH: INTERCEPT_DISABLE={} is set: {} {} OFF for every route, whatever the policy says; \
             remove INTERCEPT_DISABLE to turn {} back on",
            names.join(","),
            what.join(" and "),
            if what.len() == 1 { "is" } else { "are" },
            if what.len() == 1 { "it" } else { "them" },
        ))
    }

    pub(crate) fn names(self) -> Vec<&'static str> {
        [("auth", self.auth), ("ratelimit", self.ratelimit), ("telemetry", self.telemetry)]
            .into_iter()
            .filter_map(|(name, off)| off.then_some(name))
            .collect()
    }
}

/// The policy an execution environment runs: the defaults, the routes in API Gateway's
/// precedence, and where every setting came from.
#[derive(Debug, Clone)]
pub struct EffectivePolicy {
    pub(crate) source: Option<String>,
    pub(crate) policy_digest: Option<String>,
    pub(crate) digest: String,
    pub(crate) defaults: RoutePolicy,
    /// Sorted by precedence; equally specific routes keep file order (first match wins).
    pub(crate) routes: Vec<RoutePolicy>,
    pub(crate) disabled: Disabled,
    /// `(setting, where it came from)`, for the audit line and `explain`.
    pub(crate) provenance: Vec<(String, String)>,
}

impl EffectivePolicy {
    /// Reads `INTERCEPT_POLICY` (when set) and every other setting from the process environment.
    ///
    /// # Errors
    /// A [`crate::ConfigError`] naming the setting at fault: the file's errors (each with its
    /// line and column) under `INTERCEPT_POLICY`, or a variable that conflicts with the file.
    pub fn from_env() -> Result<Self, crate::ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Self::from_env`], from any lookup of variables (a map in tests).
    ///
    /// # Errors
    /// As [`Self::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, crate::ConfigError> {
        let path = lookup(settings::POLICY).map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
        let policy = match path {
            None => super::Policy::empty(),
            // A file, or a remote source read at init (policy/source.rs).
            Some(path) => super::source::load_at_init(&path)?,
        };
        policy.resolve(lookup)
    }

    /// The route serving `method` and `path` and its pattern, or the defaults and `None` when no
    /// route matches. The path is read as every decision reads it ([`Invocation::canonical_path`]:
    /// `//admin/./x` and `/%61dmin/x` are `/admin/x`; a path with a [`crate::canonical::PathProblem`] in its
    /// most decoded reading); HEAD meets GET's routes. The most specific route wins whatever the
    /// file order (API Gateway's rules). The path is the API's (at run time a custom domain's
    /// base path is left out: see [`Invocation::api_path`]).
    #[must_use]
    pub fn route_for(&self, method: &str, path: &str) -> (&RoutePolicy, Option<&str>) {
        let canonical = crate::canonical::canonicalize(path);
        self.route_at(canonical.path.as_deref().and_then(|path| self.route_index_of(method, path)))
    }

    /// The route at `index` and its pattern, or the defaults and `None`.
    fn route_at(&self, index: Option<usize>) -> (&RoutePolicy, Option<&str>) {
        match index.and_then(|index| self.routes.get(index)) {
            Some(route) => (route, route.route.as_deref()),
            None => (&self.defaults, None),
        }
    }

    fn route_index_of(&self, method: &str, canonical_path: &str) -> Option<usize> {
        self.routes.iter().position(|r| r.pattern.as_ref().is_some_and(|p| p.is_match(method, canonical_path)))
    }

    /// The index in [`Self::routes`] of the route serving an invocation, `None` for the
    /// defaults (no route matches, or the trigger has no method and path), by the one route
    /// matcher ([`super::pattern::route_index`]): the path the API matched, without a custom
    /// domain's base path (unless the route is written with it).
    pub(crate) fn route_index(&self, invocation: &Invocation) -> Option<usize> {
        super::pattern::route_index(&self.routes, |route| route.pattern.as_ref(), invocation.method()?, invocation).0
    }

    /// [`Self::route_for`] an invocation: its method and canonical path; the defaults for
    /// triggers that have neither (queues, schedules, direct invokes).
    #[must_use]
    pub fn route_for_invocation(&self, invocation: &Invocation) -> (&RoutePolicy, Option<&str>) {
        self.route_at(self.route_index(invocation))
    }

    /// What applies when no route matches.
    #[must_use]
    pub fn defaults(&self) -> &RoutePolicy {
        &self.defaults
    }

    /// The routes, most specific first.
    #[must_use]
    pub fn routes(&self) -> &[RoutePolicy] {
        &self.routes
    }

    /// Filters switched off with `INTERCEPT_DISABLE`.
    #[must_use]
    pub fn disabled(&self) -> Disabled {
        self.disabled
    }

    /// `sha256:<hex>` of the effective policy's canonical form (no secret is part of it).
    #[must_use]
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The loud warning to log at init when `INTERCEPT_DISABLE` switches filters off.
    #[must_use]
    pub fn kill_switch_warning(&self) -> Option<String> {
        self.disabled.warning()
    }
}
