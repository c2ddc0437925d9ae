//! The filters of every route, planned once at init from the configuration: one authenticator
//! per distinct authentication, one limiter per distinct rule set, and the route's telemetry
//! options; a request finds its route's filters by index.

use std::sync::Arc;

use super::effective::{EffectivePolicy, RoutePolicy};
use super::model::Mode;
use crate::auth::AuthConfig;
use crate::config::Config;
use crate::invocation::Invocation;
use crate::ratelimit::RateLimitConfig;
use crate::telemetry::{Redactor, RootSampler, Sampler};

/// What one route runs: indices into the interceptor's authenticators and limiters.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteFilters {
    /// `METHOD /path` as the policy writes it; `None` for the defaults.
    pub(crate) route: Option<Arc<str>>,
    pub(crate) authenticator: Option<usize>,
    pub(crate) auth_mode: Mode,
    /// The rules that refuse.
    pub(crate) limiter: Option<usize>,
    /// The rules in detect mode.
    pub(crate) detect: Option<usize>,
    /// The route's sampler, when the policy gives it one.
    pub(crate) sampler: Option<Sampler>,
    /// The route's redactor (the environment's plus the route's fields), when the policy has one.
    pub(crate) redactor: Option<Redactor>,
}

/// The distinct filters to build, and which route uses which.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) auths: Vec<Arc<AuthConfig>>,
    pub(crate) limits: Vec<RateLimitConfig>,
    pub(crate) defaults: RouteFilters,
    pub(crate) routes: Vec<RouteFilters>,
}

impl Plan {
    /// Each route's filters (the environment alone is the policy's defaults), identical
    /// settings built once.
    pub(crate) fn new(config: &Config) -> Plan {
        let mut plan = Plan::default();
        plan.defaults = plan.route(config.policy.defaults(), config);
        plan.routes = config.policy.routes().iter().map(|route| plan.route(route, config)).collect();
        plan
    }

    fn auth(&mut self, auth: &Arc<AuthConfig>) -> usize {
        // The policy shares one Arc among routes with identical authentication.
        match self.auths.iter().position(|a| Arc::ptr_eq(a, auth)) {
            Some(index) => index,
            None => {
                self.auths.push(Arc::clone(auth));
                self.auths.len() - 1
            }
        }
    }

    fn limits(&mut self, limits: &RateLimitConfig) -> usize {
        match self.limits.iter().position(|l| l == limits) {
            Some(index) => index,
            None => {
                self.limits.push(limits.clone());
                self.limits.len() - 1
            }
        }
    }

    fn route(&mut self, route: &RoutePolicy, config: &Config) -> RouteFilters {
        let authenticator = route.auth.is_enabled().then(|| self.auth(&route.auth));
        let limiter = route.rate_limit.as_ref().map(|limits| self.limits(limits));
        let detect = route.rate_limit_detect.as_ref().map(|limits| self.limits(limits));
        let (sampler, redactor) = match (&config.telemetry, &route.telemetry) {
            (Some(telemetry), Some(options)) => {
                let header = route.auth.api_keys.as_ref().map(|keys| keys.header.clone());
                let redactor = telemetry.redactor.with_extra(options.redact.iter().cloned().chain(header));
                (Some(with_ratio(telemetry.sampler, options.sampling)), Some(redactor))
            }
            _ => (None, None),
        };
        RouteFilters {
            route: route.route.as_deref().map(Arc::from),
            authenticator,
            auth_mode: route.auth_mode,
            limiter,
            detect,
            sampler,
            redactor,
        }
    }
}

/// The environment's kind of sampler (parent-based or not) with the route's ratio.
fn with_ratio(sampler: Sampler, ratio: f64) -> Sampler {
    let root = if ratio >= 1.0 { RootSampler::AlwaysOn } else { RootSampler::TraceIdRatio(ratio) };
    match sampler {
        Sampler::ParentBased(_) => Sampler::ParentBased(root),
        _ if ratio >= 1.0 => Sampler::AlwaysOn,
        _ => Sampler::TraceIdRatio(ratio),
    }
}

/// The filters of the route serving `invocation`: the defaults when no route matches.
pub(crate) fn route_of<'a>(
    policy: &EffectivePolicy,
    defaults: &'a RouteFilters,
    routes: &'a [RouteFilters],
    invocation: &Invocation,
) -> &'a RouteFilters {
    policy.route_index(invocation).and_then(|index| routes.get(index)).unwrap_or(defaults)
}
