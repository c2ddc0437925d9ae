//! File plus environment to the effective policy.
//!
//! Each variable of ARCHITECTURE.md's table is the short form of one `defaults` field. Both
//! given and different is a conflict, reported at init naming both places. Otherwise a route's
//! settings are its own fields, then the defaults' (file or variable), then Intercept's
//! defaults; they are built by the same parsers as the variables, given a lookup in which the
//! file's values stand in for the variables they correspond to.

use std::sync::Arc;

use super::effective::{Disabled, EffectivePolicy, RoutePolicy, TelemetryPolicy};
use super::model::{AuthSection, Document, Mode, RateLimitSection, RuleEntry, Section, Spanned, TelemetrySection};
use super::validate::rule_name;
use super::yaml::Pos;
use super::{Policy, audit};
use crate::auth::{AuthConfig, ScopeRule};
use crate::config::ConfigError;
use crate::ratelimit::{LimitKey, RateLimitConfig};

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

const KEY_SOURCES: [&str; 4] =
    ["INTERCEPT_JWT_SECRET", "INTERCEPT_JWT_SECRET_ID", "INTERCEPT_JWKS_URL", "INTERCEPT_JWT_OIDC_ISSUER"];

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    File(Pos),
    /// Masked: the file decides, the variable is not read.
    Masked,
    /// Stands in for a secret the environment gives at init (`policy check` / `explain`).
    Placeholder,
}

/// The environment with some variables replaced by the file's values.
struct Layer<'a> {
    env: Lookup<'a>,
    overlay: Vec<(&'static str, Option<String>, Origin)>,
}

impl Layer<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self.overlay.iter().rev().find(|(var, _, _)| *var == name) {
            Some((_, value, _)) => value.clone(),
            None => (self.env)(name),
        }
    }

    fn set(&mut self, var: &'static str, value: impl Into<String>, at: Pos) {
        self.overlay.push((var, Some(value.into()), Origin::File(at)));
    }

    fn mask(&mut self, var: &'static str) {
        self.overlay.push((var, None, Origin::Masked));
    }

    fn origin(&self, name: &str) -> Option<Origin> {
        self.overlay.iter().rev().find(|(var, _, _)| *var == name).map(|(_, _, origin)| *origin)
    }
}

/// A route's (or the defaults') fields after inheritance: the route's own, else the defaults'.
struct Merged<'a> {
    auth: AuthSection,
    rate_limit: RateLimitSection,
    telemetry: TelemetrySection,
    route: Option<&'a super::model::RouteEntry>,
}

fn pick<T: Clone>(own: Option<&Spanned<T>>, inherited: Option<&Spanned<T>>) -> Option<Spanned<T>> {
    own.or(inherited).cloned()
}

fn merge<'a>(defaults: &Section, route: Option<&'a super::model::RouteEntry>) -> Merged<'a> {
    let empty = Section::default();
    let own = route.map_or(&empty, |r| &r.section);
    let (da, oa) = (defaults.auth.clone().unwrap_or_default(), own.auth.clone().unwrap_or_default());
    let auth = AuthSection {
        at: if own.auth.is_some() { oa.at } else { da.at },
        schemes: pick(oa.schemes.as_ref(), da.schemes.as_ref()),
        keys: pick(oa.keys.as_ref(), da.keys.as_ref()),
        issuer: pick(oa.issuer.as_ref(), da.issuer.as_ref()),
        audience: pick(oa.audience.as_ref(), da.audience.as_ref()),
        algorithms: pick(oa.algorithms.as_ref(), da.algorithms.as_ref()),
        leeway_seconds: pick(oa.leeway_seconds.as_ref(), da.leeway_seconds.as_ref()),
        scopes: pick(oa.scopes.as_ref(), da.scopes.as_ref()),
        api_key_header: pick(oa.api_key_header.as_ref(), da.api_key_header.as_ref()),
        mode: pick(oa.mode.as_ref(), da.mode.as_ref()),
    };
    let (dr, or) = (defaults.rate_limit.clone().unwrap_or_default(), own.rate_limit.clone().unwrap_or_default());
    let rate_limit = RateLimitSection {
        at: or.at,
        rules: pick(or.rules.as_ref(), dr.rules.as_ref()),
        store: pick(or.store.as_ref(), dr.store.as_ref()),
        on_store_error: pick(or.on_store_error.as_ref(), dr.on_store_error.as_ref()),
    };
    let (dt, ot) = (defaults.telemetry.clone().unwrap_or_default(), own.telemetry.clone().unwrap_or_default());
    // Redaction only adds up: a route cannot un-redact what the defaults redact.
    let redact = match (dt.redact, ot.redact) {
        (Some(mut d), Some(o)) => {
            d.value.extend(o.value);
            Some(Spanned { value: d.value, at: o.at })
        }
        (d, o) => o.or(d),
    };
    let telemetry = TelemetrySection { at: ot.at, sampling: pick(ot.sampling.as_ref(), dt.sampling.as_ref()), redact };
    Merged { auth, rate_limit, telemetry, route }
}

/// Resolves `policy` against `env`; `offline` stands placeholders in for secrets the environment
/// would give at init (for `policy check` and `policy explain`).
pub(crate) fn resolve(policy: &Policy, env: Lookup<'_>, offline: bool) -> Result<EffectivePolicy, ConfigError> {
    let get = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let doc = &policy.document;
    let mut disabled = parse_disabled(get("INTERCEPT_DISABLE"))?;
    // The file's `disable` and INTERCEPT_DISABLE: either one switches a filter off.
    if let Some(file) = &doc.disable {
        disabled.auth |= file.value.auth;
        disabled.ratelimit |= file.value.ratelimit;
        disabled.telemetry |= file.value.telemetry;
    }
    let resolver = Resolver { policy, env: &get, disabled, offline };
    resolver.conflicts()?;
    let mut provenance = Vec::new();
    let defaults = resolver.route(&merge(&doc.defaults, None), &mut provenance)?;
    let mut routes = Vec::with_capacity(doc.routes.len());
    for entry in &doc.routes {
        routes.push(resolver.route(&merge(&doc.defaults, Some(entry)), &mut provenance)?);
    }
    routes.sort_by(|a, b| match (&a.pattern, &b.pattern) {
        (Some(a), Some(b)) => a.precedence(b),
        _ => std::cmp::Ordering::Equal,
    });
    let mut effective = EffectivePolicy {
        source: policy.source.clone(),
        policy_digest: policy.source.as_ref().map(|_| policy.digest()),
        digest: String::new(),
        defaults,
        routes,
        disabled,
        provenance,
    };
    audit::share_identical_auth(&mut effective);
    effective.digest = audit::effective_digest(&effective);
    Ok(effective)
}

struct Resolver<'a> {
    policy: &'a Policy,
    env: Lookup<'a>,
    disabled: Disabled,
    offline: bool,
}

impl Resolver<'_> {
    fn place(&self, at: Pos) -> String {
        format!("{}:{}:{}", self.policy.source.as_deref().unwrap_or("policy"), at.line, at.col)
    }

    fn file_error(&self, at: Pos, route: Option<&str>, problem: impl std::fmt::Display) -> ConfigError {
        let within = route.map(|r| format!("route `{r}`: ")).unwrap_or_default();
        ConfigError::new("INTERCEPT_POLICY", format!("{}: {within}{problem}", self.place(at)))
    }

    /// Every variable that says something the file's `defaults` also says, differently.
    fn conflicts(&self) -> Result<(), ConfigError> {
        let doc = &self.policy.document;
        let auth = doc.defaults.auth.clone().unwrap_or_default();
        let rate = doc.defaults.rate_limit.clone().unwrap_or_default();
        let mut found: Vec<ConfigError> = Vec::new();
        let mut check = |var: &'static str, field: &str, file: Option<(String, Pos)>, same: &dyn Fn(&str) -> bool| {
            if let (Some(env), Some((value, at))) = ((self.env)(var), file)
                && !same(&env)
            {
                found.push(ConfigError::new(
                    var,
                    format!(
                        "conflicts with the policy file: {} sets `{field}` to `{value}`, the environment to `{env}`; \
                         set it in one place",
                        self.place(at)
                    ),
                ));
            }
        };
        let set = |list: &str| -> Vec<String> {
            let mut items: Vec<String> = list.split([',', ' ']).filter(|s| !s.is_empty()).map(str::to_owned).collect();
            items.sort();
            items
        };
        let file_list = |field: &Option<Spanned<Vec<String>>>| field.as_ref().map(|f| (f.value.join(","), f.at));
        if let Some(schemes) = &auth.schemes {
            let value = schemes.value;
            check("INTERCEPT_AUTH", "defaults.auth.type", Some((value.as_env().to_owned(), schemes.at)), &|env| {
                super::model::Schemes::parse(env) == Some(value)
            });
        }
        if let Some(keys) = &auth.keys {
            let (var, value) = keys.value.as_env();
            for other in KEY_SOURCES {
                let same = |env: &str| other == var && env == value;
                check(other, "defaults.auth.keys", Some((format!("{var}={value}"), keys.at)), &same);
            }
        }
        let issuer = auth.issuer.as_ref().map(|i| (i.value.clone(), i.at));
        check("INTERCEPT_JWT_ISSUER", "defaults.auth.issuer", issuer.clone(), &|env| {
            Some(env) == issuer.as_ref().map(|i| i.0.as_str())
        });
        for (var, field, value) in [
            ("INTERCEPT_JWT_AUDIENCE", "defaults.auth.audience", file_list(&auth.audience)),
            ("INTERCEPT_JWT_ALGORITHMS", "defaults.auth.algorithms", file_list(&auth.algorithms)),
        ] {
            let expected = value.as_ref().map(|v| set(&v.0)).unwrap_or_default();
            check(var, field, value, &|env| set(env) == expected);
        }
        let leeway = auth.leeway_seconds.as_ref().map(|l| (l.value.to_string(), l.at));
        check("INTERCEPT_JWT_LEEWAY_SECONDS", "defaults.auth.leeway_seconds", leeway.clone(), &|env| {
            env.parse::<u64>().ok().map(|n| n.to_string()) == leeway.as_ref().map(|l| l.0.clone())
        });
        let header = auth.api_key_header.as_ref().map(|h| (h.value.clone(), h.at));
        check("INTERCEPT_API_KEY_HEADER", "defaults.auth.api_key_header", header.clone(), &|env| {
            header.as_ref().is_some_and(|h| h.0.eq_ignore_ascii_case(env))
        });
        let scopes = doc.sections().find_map(|(_, s)| s.auth.as_ref().and_then(|a| a.scopes.as_ref()));
        check("INTERCEPT_JWT_REQUIRED_SCOPES", "scopes", scopes.map(|s| (s.value.join(" "), s.at)), &|_| false);
        let store = rate.store.as_ref().map(|s| (s.value.clone(), s.at));
        check("INTERCEPT_RATE_LIMIT_STORE", "defaults.rate_limit.store", store.clone(), &|env| {
            store.as_ref().is_some_and(|s| s.0 == env)
        });
        let on_error = rate.on_store_error.as_ref().map(|s| (s.value.clone(), s.at));
        check("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "defaults.rate_limit.on_store_error", on_error.clone(), &|env| {
            on_error.as_ref().is_some_and(|s| s.0 == env)
        });
        if let Some(rules) = &rate.rules {
            let written = rules.value.iter().map(|r| rule_text(r, None, true)).collect::<Vec<_>>().join(", ");
            let global = doc.mode.as_ref().map_or(Mode::Enforce, |m| m.value);
            let enforced = rules.value.iter().all(|r| r.mode.as_ref().map_or(global, |m| m.value) == Mode::Enforce);
            let file_rules = parse_rules(&written, LimitKey::SourceIp, None);
            let same = |env: &str| {
                let key = (self.env)("INTERCEPT_RATE_LIMIT_KEY")
                    .and_then(|k| LimitKey::parse(&k))
                    .unwrap_or(LimitKey::SourceIp);
                let burst = (self.env)("INTERCEPT_RATE_LIMIT_BURST").and_then(|b| b.parse().ok());
                enforced && file_rules.is_some() && parse_rules(env, key, burst) == file_rules
            };
            check("INTERCEPT_RATE_LIMIT", "defaults.rate_limit.rules", Some((written, rules.at)), &same);
        }
        // The variables that fill in what an INTERCEPT_RATE_LIMIT rule leaves out would have to be
        // guessed into the file's rules: a file rule that leaves it out too is a conflict.
        for (var, field) in [("INTERCEPT_RATE_LIMIT_KEY", "key"), ("INTERCEPT_RATE_LIMIT_BURST", "burst")] {
            let silent = doc.sections().flat_map(|(_, s)| rules_of(s)).find(|r| match field {
                "key" => r.key.is_none(),
                _ => r.burst.is_none(),
            });
            if let (Some(env), Some(rule)) = ((self.env)(var), silent) {
                found.push(ConfigError::new(
                    var,
                    format!(
                        "is `{env}`, and the policy file's rule at {} sets no `{field}`; this variable only fills in \
                         INTERCEPT_RATE_LIMIT's rules, so write `{field}:` in the rule (or unset the variable)",
                        self.place(rule.at)
                    ),
                ));
            }
        }
        let sampling = self.env_sampling()?;
        if let (Some((var, env)), Some(file)) =
            (sampling, doc.defaults.telemetry.as_ref().and_then(|t| t.sampling.as_ref()))
            && (env - file.value).abs() > f64::EPSILON
        {
            found.push(ConfigError::new(
                var,
                format!(
                    "conflicts with the policy file: {} sets `defaults.telemetry.sampling` to {}, the environment to {env}; \
                     set it in one place",
                    self.place(file.at),
                    file.value
                ),
            ));
        }
        match found.len() {
            0 => Ok(()),
            1 => Err(found.remove(0)),
            _ => {
                let first = found.remove(0);
                let rest: Vec<String> = found.iter().map(ToString::to_string).collect();
                Err(ConfigError::new(first.setting, format!("{}\nalso: {}", first.problem, rest.join("\nalso: "))))
            }
        }
    }

    /// The sampling ratio the standard OpenTelemetry variables ask for, and which variable says so.
    fn env_sampling(&self) -> Result<Option<(&'static str, f64)>, ConfigError> {
        let Some(sampler) = (self.env)("OTEL_TRACES_SAMPLER") else { return Ok(None) };
        Ok(match sampler.as_str() {
            "always_on" | "parentbased_always_on" => Some(("OTEL_TRACES_SAMPLER", 1.0)),
            "always_off" | "parentbased_always_off" => Some(("OTEL_TRACES_SAMPLER", 0.0)),
            "traceidratio" | "parentbased_traceidratio" => {
                let ratio = match (self.env)("OTEL_TRACES_SAMPLER_ARG") {
                    None => 1.0,
                    Some(arg) => arg.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| {
                        ConfigError::new("OTEL_TRACES_SAMPLER_ARG", format!("`{arg}` is not a ratio from 0 to 1"))
                    })?,
                };
                Some(("OTEL_TRACES_SAMPLER_ARG", ratio))
            }
            _ => None,
        })
    }

    fn route(&self, merged: &Merged<'_>, provenance: &mut Vec<(String, String)>) -> Result<RoutePolicy, ConfigError> {
        let route_key = merged.route.map(|r| r.pattern.to_string());
        let global_mode = self.policy.document.mode.as_ref().map_or(Mode::Enforce, |m| m.value);
        let mut layer = Layer { env: self.env, overlay: Vec::new() };
        self.auth_layer(&merged.auth, &mut layer);
        let auth = if self.disabled.auth {
            AuthConfig::default()
        } else {
            self.auth(merged, &mut layer, route_key.as_deref())?
        };
        let auth_mode = merged.auth.mode.as_ref().map_or(global_mode, |m| m.value);
        let (rate_limit, rate_limit_detect) = if self.disabled.ratelimit {
            (None, None)
        } else {
            self.rate_limits(merged, global_mode, &mut layer, route_key.as_deref())?
        };
        let telemetry = (!self.disabled.telemetry).then(|| {
            let mut redact = merged.telemetry.redact.as_ref().map(|r| r.value.clone()).unwrap_or_default();
            // INTERCEPT_REDACT adds to every route's list: redaction only ever adds up.
            let env_redact = (self.env)("INTERCEPT_REDACT").unwrap_or_default();
            redact.extend(env_redact.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned));
            redact.sort();
            redact.dedup();
            let env_sampling = self.env_sampling().ok().flatten().map(|(_, ratio)| ratio);
            let sampling = merged.telemetry.sampling.as_ref().map(|s| s.value).or(env_sampling).unwrap_or(1.0);
            TelemetryPolicy { sampling, redact }
        });
        self.record(merged, &layer, provenance);
        Ok(RoutePolicy {
            route: route_key,
            auth: Arc::new(auth),
            auth_mode,
            rate_limit,
            rate_limit_detect,
            telemetry,
            pattern: merged.route.map(|r| r.pattern.clone()),
            at: merged.route.map(|r| r.at),
        })
    }

    fn auth_layer(&self, auth: &AuthSection, layer: &mut Layer<'_>) {
        if let Some(schemes) = &auth.schemes {
            layer.set("INTERCEPT_AUTH", schemes.value.as_env(), schemes.at);
        }
        if let Some(keys) = &auth.keys {
            let (var, value) = keys.value.as_env();
            KEY_SOURCES.iter().filter(|v| **v != var).for_each(|v| layer.mask(v));
            layer.set(var, value, keys.at);
        }
        if let Some(issuer) = &auth.issuer {
            layer.set("INTERCEPT_JWT_ISSUER", issuer.value.clone(), issuer.at);
        }
        if let Some(audience) = &auth.audience {
            layer.set("INTERCEPT_JWT_AUDIENCE", audience.value.join(","), audience.at);
        }
        if let Some(algorithms) = &auth.algorithms {
            layer.set("INTERCEPT_JWT_ALGORITHMS", algorithms.value.join(","), algorithms.at);
        }
        if let Some(leeway) = &auth.leeway_seconds {
            layer.set("INTERCEPT_JWT_LEEWAY_SECONDS", leeway.value.to_string(), leeway.at);
        }
        if let Some(header) = &auth.api_key_header {
            layer.set("INTERCEPT_API_KEY_HEADER", header.value.clone(), header.at);
        }
        if auth.scopes.is_some() {
            layer.mask("INTERCEPT_JWT_REQUIRED_SCOPES");
        }
    }

    fn auth(&self, merged: &Merged<'_>, layer: &mut Layer<'_>, route: Option<&str>) -> Result<AuthConfig, ConfigError> {
        let schemes = layer.get("INTERCEPT_AUTH").and_then(|s| super::model::Schemes::parse(&s));
        if self.offline {
            let placeholder = |layer: &mut Layer<'_>, var: &'static str, value: &str| {
                if layer.get(var).is_none() {
                    layer.overlay.push((var, Some(value.to_owned()), Origin::Placeholder));
                }
            };
            if schemes.is_some_and(super::model::Schemes::has_jwt) && KEY_SOURCES.iter().all(|v| layer.get(v).is_none())
            {
                placeholder(layer, "INTERCEPT_JWT_SECRET", "-----BEGIN PLACEHOLDER-----");
            }
            if matches!(schemes, Some(super::model::Schemes::ApiKey | super::model::Schemes::JwtOrApiKey))
                && layer.get("INTERCEPT_API_KEYS_SECRET_ID").is_none()
            {
                placeholder(layer, "INTERCEPT_API_KEYS", "placeholder=placeholder");
            }
            for var in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
                placeholder(layer, var, "placeholder");
            }
        } else if schemes.is_some_and(super::model::Schemes::has_jwt)
            && KEY_SOURCES.iter().all(|v| layer.get(v).is_none())
            && let Some(at) = layer.origin("INTERCEPT_AUTH").and_then(|o| match o {
                Origin::File(at) => Some(at),
                _ => None,
            })
        {
            return Err(self.file_error(
                at,
                route,
                "jwt auth needs a key source: `keys:` (jwks_url, oidc_issuer or secret_id) in the policy, or \
                 INTERCEPT_JWT_SECRET, INTERCEPT_JWT_SECRET_ID, INTERCEPT_JWKS_URL or INTERCEPT_JWT_OIDC_ISSUER",
            ));
        }
        let lookup = |name: &str| layer.get(name);
        let mut auth = crate::auth::parse_auth(&lookup).map_err(|error| match layer.origin(error.setting) {
            Some(Origin::File(at)) => self.file_error(at, route, format!("{} ({})", error.problem, error.setting)),
            _ => error,
        })?;
        if let Some(scopes) = &merged.auth.scopes {
            if auth.jwt.is_none() {
                return Err(self.file_error(
                    scopes.at,
                    route,
                    format!(
                        "`scopes` on a route without jwt auth (auth is `{}`)",
                        layer.get("INTERCEPT_AUTH").unwrap_or_else(|| "none".to_owned())
                    ),
                ));
            }
            if !scopes.value.is_empty() {
                auth.required_scopes = vec![ScopeRule::everywhere(scopes.value.clone())];
            }
        }
        Ok(auth)
    }

    fn rate_limits(
        &self,
        merged: &Merged<'_>,
        global_mode: Mode,
        layer: &mut Layer<'_>,
        route: Option<&str>,
    ) -> Result<(Option<RateLimitConfig>, Option<RateLimitConfig>), ConfigError> {
        let section = &merged.rate_limit;
        if let Some(store) = &section.store {
            layer.set("INTERCEPT_RATE_LIMIT_STORE", store.value.clone(), store.at);
        }
        if let Some(policy) = &section.on_store_error {
            layer.set("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", policy.value.clone(), policy.at);
        }
        let Some(rules) = &section.rules else {
            // The rules are INTERCEPT_RATE_LIMIT's, if any; they follow the file's global mode.
            if layer.get("INTERCEPT_RATE_LIMIT").is_none() {
                layer.mask("INTERCEPT_RATE_LIMIT_STORE");
                layer.mask("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR");
            }
            let lookup = |name: &str| layer.get(name);
            let config = self.rate_limit_parse(&lookup, layer, route)?;
            return Ok(if global_mode == Mode::Detect { (None, config) } else { (config, None) });
        };
        // The rules written in the file (the route's own, else the defaults'); positions of the
        // rules' names are for messages only.
        let owner = if merged.route.is_some_and(|r| r.section.rate_limit.as_ref().is_some_and(|s| s.rules.is_some())) {
            merged.route.map(|r| &r.pattern)
        } else {
            None
        };
        let mut split = [Vec::new(), Vec::new()];
        for rule in &rules.value {
            let mode = rule.mode.as_ref().map_or(global_mode, |m| m.value);
            split[usize::from(mode == Mode::Detect)].push(rule_text(rule, owner, false));
        }
        let mut configs = [None, None];
        for (index, texts) in split.iter().enumerate() {
            if texts.is_empty() {
                continue;
            }
            let mut layer = Layer { env: layer.env, overlay: layer.overlay.clone() };
            layer.set("INTERCEPT_RATE_LIMIT", texts.join(", "), rules.at);
            layer.mask("INTERCEPT_RATE_LIMIT_KEY");
            layer.mask("INTERCEPT_RATE_LIMIT_BURST");
            let lookup = |name: &str| layer.get(name);
            configs[index] = self.rate_limit_parse(&lookup, &layer, route)?;
        }
        let [enforce, detect] = configs;
        Ok((enforce, detect))
    }

    fn rate_limit_parse(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        layer: &Layer<'_>,
        route: Option<&str>,
    ) -> Result<Option<RateLimitConfig>, ConfigError> {
        crate::ratelimit::parse_settings(&lookup).map_err(|error| match layer.origin(error.setting) {
            Some(Origin::File(at)) => self.file_error(at, route, format!("{} ({})", error.problem, error.setting)),
            _ => error,
        })
    }

    /// Where each of this route's settings came from.
    fn record(&self, merged: &Merged<'_>, layer: &Layer<'_>, provenance: &mut Vec<(String, String)>) {
        let owner = merged
            .route
            .map_or_else(|| "defaults".to_owned(), |r| format!("route[{}:{}]", r.pattern.method, r.pattern.path));
        if let Some(route) = merged.route {
            provenance.push((owner.clone(), self.place(route.at)));
            return;
        }
        for (var, field) in [
            ("INTERCEPT_AUTH", "auth.type"),
            ("INTERCEPT_JWT_SECRET", "auth.keys"),
            ("INTERCEPT_JWT_SECRET_ID", "auth.keys"),
            ("INTERCEPT_JWKS_URL", "auth.keys"),
            ("INTERCEPT_JWT_OIDC_ISSUER", "auth.keys"),
            ("INTERCEPT_JWT_ISSUER", "auth.issuer"),
            ("INTERCEPT_JWT_AUDIENCE", "auth.audience"),
            ("INTERCEPT_JWT_ALGORITHMS", "auth.algorithms"),
            ("INTERCEPT_JWT_LEEWAY_SECONDS", "auth.leeway_seconds"),
            ("INTERCEPT_JWT_REQUIRED_SCOPES", "auth.scopes"),
            ("INTERCEPT_API_KEYS", "auth.api_keys"),
            ("INTERCEPT_API_KEYS_SECRET_ID", "auth.api_keys"),
            ("INTERCEPT_API_KEY_HEADER", "auth.api_key_header"),
            ("INTERCEPT_RATE_LIMIT", "rate_limit.rules"),
            ("INTERCEPT_RATE_LIMIT_STORE", "rate_limit.store"),
            ("INTERCEPT_RATE_LIMIT_ON_STORE_ERROR", "rate_limit.on_store_error"),
            ("INTERCEPT_REDACT", "telemetry.redact"),
        ] {
            let source = match layer.origin(var) {
                Some(Origin::File(at)) => self.place(at),
                Some(Origin::Placeholder) => format!("env:{var} (at init)"),
                Some(Origin::Masked) => continue,
                None if (self.env)(var).is_some() => format!("env:{var}"),
                None => continue,
            };
            provenance.push((format!("{owner}.{field}"), source));
        }
        if let Some(rules) = &merged.rate_limit.rules {
            provenance.push((format!("{owner}.rate_limit.rules"), self.place(rules.at)));
        }
        for (field, at) in [
            ("auth.scopes", merged.auth.scopes.as_ref().map(|s| s.at)),
            ("auth.mode", merged.auth.mode.as_ref().map(|s| s.at)),
            ("telemetry.sampling", merged.telemetry.sampling.as_ref().map(|s| s.at)),
            ("telemetry.redact", merged.telemetry.redact.as_ref().map(|s| s.at)),
            ("mode", self.policy.document.mode.as_ref().map(|m| m.at)),
        ] {
            if let Some(at) = at {
                provenance.push((format!("{owner}.{field}"), self.place(at)));
            }
        }
        if merged.telemetry.sampling.is_none()
            && let Ok(Some((var, _))) = self.env_sampling()
        {
            provenance.push((format!("{owner}.telemetry.sampling"), format!("env:{var}")));
        }
        provenance.sort();
        provenance.dedup();
    }
}

fn rules_of(section: &Section) -> &[RuleEntry] {
    section.rate_limit.as_ref().and_then(|r| r.rules.as_ref()).map_or(&[], |r| r.value.as_slice())
}

fn parse_rules(list: &str, key: LimitKey, burst: Option<u32>) -> Option<Vec<crate::ratelimit::Rule>> {
    list.split(',').map(|entry| crate::ratelimit::Rule::parse(entry, key, burst).ok()).collect()
}

/// One rule in `INTERCEPT_RATE_LIMIT`'s syntax, every attribute explicit.
pub(crate) fn rule_text(rule: &RuleEntry, route: Option<&super::pattern::RoutePattern>, short: bool) -> String {
    let quota = rule.quota;
    let unit = match quota.period.as_secs() {
        1 => "s",
        60 => "m",
        3600 => "h",
        _ => "d",
    };
    let key = rule.key.as_ref().map_or(LimitKey::SourceIp, |k| k.value);
    if short {
        return format!("{}/{unit} key={} burst={}", quota.count, key.name(), quota.burst);
    }
    format!("{}/{unit} key={} burst={} name={}", quota.count, key.name(), quota.burst, rule_name(rule, route))
}

/// `INTERCEPT_DISABLE`: the same list `Config` reads.
pub(crate) fn parse_disabled(value: Option<String>) -> Result<Disabled, ConfigError> {
    let mut disabled = Disabled::default();
    for part in value.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|p| !p.is_empty()) {
        match part {
            "auth" => disabled.auth = true,
            "ratelimit" => disabled.ratelimit = true,
            "telemetry" => disabled.telemetry = true,
            other => {
                return Err(ConfigError::new(
                    "INTERCEPT_DISABLE",
                    format!("unknown filter `{other}`; expected a comma list of auth, ratelimit, telemetry"),
                ));
            }
        }
    }
    Ok(disabled)
}

impl Document {
    /// The defaults and every route's section, with the route's key.
    pub(crate) fn sections(&self) -> impl Iterator<Item = (Option<&super::pattern::RoutePattern>, &Section)> {
        std::iter::once((None, &self.defaults)).chain(self.routes.iter().map(|r| (Some(&r.pattern), &r.section)))
    }
}
