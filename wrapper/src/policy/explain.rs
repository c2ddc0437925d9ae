//! `policy explain`: which route a request matches and what each filter would do with it.

use std::fmt::Write as _;

use super::effective::{EffectivePolicy, RoutePolicy};
use crate::auth::KeySourceConfig;
use crate::ratelimit::{RateLimitConfig, StoreConfig};

impl EffectivePolicy {
    /// A readable account of what happens to a request: the matching route (pattern, path
    /// parameters, where it is written), the authentication it requires, every rate-limit rule
    /// with its key, rate, burst and mode, and the telemetry options; or that no route matches
    /// and the defaults apply.
    #[must_use]
    pub fn explain(&self, method: &str, path: &str) -> String {
        let mut out = String::new();
        let canonical = crate::canonical::canonicalize(path);
        let Some(canonical_path) = canonical.path.as_deref() else {
            let problem = canonical.problem.map(|p| p.to_string()).unwrap_or_default();
            let _ = writeln!(out, "refused: 400 unsafe_path: {problem}; no filter runs, the handler never sees it");
            return out;
        };
        // A problem no reading makes safe leaves no path (above), so this one is decodable.
        match canonical.problem {
            Some(problem) => {
                let _ = writeln!(
                    out,
                    "refused: 400 unsafe_path: {problem}\n\
                     with INTERCEPT_UNSAFE_PATHS=decode it would be judged as {method} {canonical_path}:"
                );
            }
            None if canonical_path != path => {
                let _ = writeln!(out, "canonical path: {canonical_path}");
            }
            None => {}
        }
        let (route, _) = self.route_for(method, path);
        match &route.pattern {
            Some(pattern) => {
                let at = route
                    .at
                    .map(|at| format!(" ({}:{}:{})", self.source.as_deref().unwrap_or("policy"), at.line, at.col));
                let _ = writeln!(out, "route: {pattern}{}", at.unwrap_or_default());
                let params = pattern.matches(method, canonical_path).unwrap_or_default();
                if params.is_empty() {
                    out.push_str("path parameters: none\n");
                } else {
                    let list: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let _ = writeln!(out, "path parameters: {}", list.join(", "));
                }
            }
            None => out.push_str("no route matches: defaults apply\n"),
        }
        describe(&mut out, route, self);
        out
    }
}

fn describe(out: &mut String, route: &RoutePolicy, policy: &EffectivePolicy) {
    let auth = &route.auth;
    if policy.disabled.auth {
        out.push_str("auth: OFF (INTERCEPT_DISABLE)\n");
    } else if !auth.is_enabled() {
        out.push_str("auth: none\n");
    } else {
        let mut schemes = Vec::new();
        if auth.jwt.is_some() {
            schemes.push("jwt");
        }
        if auth.api_keys.is_some() {
            schemes.push("api-key");
        }
        let _ = writeln!(out, "auth: {} (mode: {})", schemes.join(" or "), route.auth_mode.as_str());
        if let Some(jwt) = &auth.jwt {
            let keys = match &jwt.keys {
                KeySourceConfig::Secret(_) => "INTERCEPT_JWT_SECRET (from the environment)".to_owned(),
                KeySourceConfig::SecretsManager { secret_id, .. } => format!("Secrets Manager secret `{secret_id}`"),
                KeySourceConfig::JwksUrl(url) => format!("JWKS {url}"),
                KeySourceConfig::OidcIssuer(url) => format!("OIDC issuer {url}"),
            };
            let algorithms: Vec<String> = jwt.algorithms.iter().map(|a| format!("{a:?}")).collect();
            let _ = writeln!(out, "  keys: {keys}; algorithms: {}", algorithms.join(", "));
            let _ = writeln!(out, "  issuer: {}", jwt.issuer.as_deref().unwrap_or("not checked"));
            let audience = if jwt.audience.is_empty() { "not checked".to_owned() } else { jwt.audience.join(", ") };
            let _ = writeln!(out, "  audience: {audience}");
            let scopes: Vec<&str> =
                auth.required_scopes.iter().flat_map(|r| r.scopes.iter().map(String::as_str)).collect();
            let _ = writeln!(
                out,
                "  scopes: {}",
                if scopes.is_empty() { "none required".to_owned() } else { scopes.join(" ") }
            );
        }
        if let Some(keys) = &auth.api_keys {
            let _ = writeln!(out, "  api key header: {}", keys.header);
        }
    }
    if policy.disabled.ratelimit {
        out.push_str("rate limits: OFF (INTERCEPT_DISABLE)\n");
    } else if route.rate_limit.is_none() && route.rate_limit_detect.is_none() {
        out.push_str("rate limits: none\n");
    } else {
        out.push_str("rate limits:\n");
        rules(out, route.rate_limit.as_ref(), "enforce");
        rules(out, route.rate_limit_detect.as_ref(), "detect");
    }
    match &route.telemetry {
        None => out.push_str("telemetry: OFF (INTERCEPT_DISABLE)\n"),
        Some(telemetry) => {
            let redact =
                if telemetry.redact.is_empty() { "nothing extra".to_owned() } else { telemetry.redact.join(", ") };
            let _ = writeln!(out, "telemetry: sampling {}; redact: {redact}", telemetry.sampling);
        }
    }
}

fn rules(out: &mut String, config: Option<&RateLimitConfig>, mode: &str) {
    let Some(config) = config else { return };
    let store = match &config.store {
        StoreConfig::Memory => "memory".to_owned(),
        StoreConfig::Redis(redis) => {
            format!("{} (on store error: {})", redis.redacted_url(), format!("{:?}", redis.on_error).to_lowercase())
        }
    };
    for rule in &config.rules {
        let period = match rule.quota.period.as_secs() {
            1 => "s".to_owned(),
            60 => "m".to_owned(),
            3600 => "h".to_owned(),
            86_400 => "d".to_owned(),
            secs => format!("{secs}s"),
        };
        let _ = writeln!(
            out,
            "  - {}: {}/{period} burst {} key {} mode {mode} store {store}",
            rule.name,
            rule.quota.count,
            rule.quota.burst,
            rule.key.name()
        );
    }
}
