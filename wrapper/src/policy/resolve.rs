//! File plus environment to the effective policy, merged as typed values.
//!
//! Each variable of ARCHITECTURE.md's table is the short form of one `defaults` field. The
//! environment is read once into the same typed values the file fills ([`AuthInputs`],
//! [`RateLimitInputs`], the sampling ratio and redaction list), each with where it came from.
//! Both given and different is a conflict, reported at init naming both places. Otherwise a
//! route's settings are its own fields, then the file's defaults, then the variable's, then
//! Intercept's defaults.

use intercept_settings as settings;
use std::sync::Arc;

use super::effective::{Disabled, EffectivePolicy, RoutePolicy, TelemetryPolicy};
use super::model::{
    AuthSection, Document, KeySource, Mode, RateLimitSection, RuleEntry, Section, Spanned, TelemetrySection,
};
use super::validate::rule_name;
use super::yaml::Pos;
use super::{Policy, audit};
use crate::auth::{AuthInputs, KeyInput, ScopeRule};
use crate::config::{ConfigError, Given, Origin};
use crate::ratelimit::{LimitKey, RateLimitInputs, Rule};

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

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
        max_age_seconds: pick(oa.max_age_seconds.as_ref(), da.max_age_seconds.as_ref()),
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

/// The environment's telemetry values the policy also has.
#[derive(Default)]
struct EnvTelemetry {
    /// The ratio the standard OpenTelemetry variables ask for, and which variable says so.
    sampling: Option<(&'static str, f64)>,
    /// `INTERCEPT_REDACT`'s names.
    redact: Vec<String>,
}

/// Resolves `policy` against `env`; `offline` stands placeholders in for secrets the environment
/// would give at init (for `policy check` and `policy explain`).
pub(crate) fn resolve(policy: &Policy, env: Lookup<'_>, offline: bool) -> Result<EffectivePolicy, ConfigError> {
    let get = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let doc = &policy.document;
    let mut disabled = parse_disabled(get(settings::DISABLE))?;
    // The file's `disable` and INTERCEPT_DISABLE: either one switches a filter off.
    if let Some(file) = &doc.disable {
        disabled.auth |= file.value.auth;
        disabled.ratelimit |= file.value.ratelimit;
        disabled.telemetry |= file.value.telemetry;
    }
    // Every variable is parsed once, into the values the file fills too. A filter switched off
    // is not read strictly: its variables only show where they came from.
    let auth = match AuthInputs::from_env(&get) {
        Err(error) if !disabled.auth => return Err(error),
        read => read.unwrap_or_default(),
    };
    let rate_limit = match RateLimitInputs::from_env(&get) {
        Err(error) if !disabled.ratelimit => return Err(error),
        read => read.unwrap_or_default(),
    };
    // A key or burst qualifies rules; with none anywhere (no INTERCEPT_RATE_LIMIT, no rule in the
    // file) it is most likely a misspelt INTERCEPT_RATE_LIMIT, so it is an error, as without a file.
    let file_rules = std::iter::once(&doc.defaults)
        .chain(doc.routes.iter().map(|route| &route.section))
        .any(|section| section.rate_limit.as_ref().is_some_and(|r| r.rules.is_some()));
    if !disabled.ratelimit && rate_limit.rules.is_none() && !file_rules {
        for (variable, given) in [
            (settings::RATE_LIMIT_KEY, rate_limit.key.is_some()),
            (settings::RATE_LIMIT_BURST, rate_limit.burst.is_some()),
        ] {
            if given {
                return Err(ConfigError::new(
                    variable,
                    "is set but INTERCEPT_RATE_LIMIT is not, and the policy file has no rate-limit rules for it to qualify",
                ));
            }
        }
    }
    let telemetry = EnvTelemetry {
        sampling: env_sampling(&get)?,
        redact: get(settings::REDACT)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let resolver = Resolver { policy, env: &get, auth, rate_limit, telemetry, disabled, offline };
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

/// The sampling ratio the standard OpenTelemetry variables ask for, and which variable says so.
fn env_sampling(get: Lookup<'_>) -> Result<Option<(&'static str, f64)>, ConfigError> {
    let Some(sampler) = get(settings::OTEL_TRACES_SAMPLER) else { return Ok(None) };
    Ok(match sampler.as_str() {
        "always_on" | "parentbased_always_on" => Some((settings::OTEL_TRACES_SAMPLER, 1.0)),
        "always_off" | "parentbased_always_off" => Some((settings::OTEL_TRACES_SAMPLER, 0.0)),
        "traceidratio" | "parentbased_traceidratio" => {
            let ratio = match get(settings::OTEL_TRACES_SAMPLER_ARG) {
                None => 1.0,
                Some(arg) => arg.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| {
                    ConfigError::new(settings::OTEL_TRACES_SAMPLER_ARG, format!("`{arg}` is not a ratio from 0 to 1"))
                })?,
            };
            Some((settings::OTEL_TRACES_SAMPLER_ARG, ratio))
        }
        _ => None,
    })
}

/// The file's key source as the typed value the variables fill.
fn key_input(keys: &KeySource) -> KeyInput {
    match keys {
        KeySource::JwksUrl(url) => KeyInput::JwksUrl(url.clone()),
        KeySource::OidcIssuer(url) => KeyInput::OidcIssuer(url.clone()),
        KeySource::SecretId(id) => KeyInput::SecretId(id.clone()),
    }
}

/// The file's `auth.type` as the typed value `INTERCEPT_AUTH` fills.
fn schemes(file: super::model::Schemes) -> crate::auth::Schemes {
    use super::model::Schemes as File;
    crate::auth::Schemes { jwt: file.has_jwt(), api_key: matches!(file, File::ApiKey | File::JwtOrApiKey) }
}

/// A file rule as the typed rule `INTERCEPT_RATE_LIMIT` gives: key and burst explicit.
fn file_rule(rule: &RuleEntry, name: String) -> Rule {
    Rule { name, quota: rule.quota, key: rule.key.as_ref().map_or(LimitKey::SourceIp, |k| k.value) }
}

/// Overlays what one value of the file sets onto the environment's.
fn set<T>(slot: &mut Option<Given<T>>, file: Option<&Spanned<impl Clone + Into<T>>>) {
    if let Some(file) = file {
        *slot = Some(Given::file(file.at, file.value.clone().into()));
    }
}

fn sorted(list: &[String]) -> Vec<String> {
    let mut items = list.to_vec();
    items.sort();
    items
}

/// What the file's defaults and a variable both give, shown as `(file, position, variable)`,
/// when `same` says they differ.
fn differ<F, E>(
    file: &Option<Spanned<F>>,
    env: &Option<Given<E>>,
    same: impl Fn(&F, &E) -> bool,
    show: impl Fn(&F, &E) -> (String, String),
) -> Option<(String, Pos, String)> {
    let (file, env) = (file.as_ref()?, env.as_ref()?);
    (!same(&file.value, &env.value)).then(|| {
        let (shown_file, shown_env) = show(&file.value, &env.value);
        (shown_file, file.at, shown_env)
    })
}

struct Resolver<'a> {
    policy: &'a Policy,
    /// The settings only the environment gives, read where they are built.
    env: Lookup<'a>,
    auth: AuthInputs,
    rate_limit: RateLimitInputs,
    telemetry: EnvTelemetry,
    disabled: Disabled,
    offline: bool,
}

impl Resolver<'_> {
    fn place(&self, at: Pos) -> String {
        format!("{}:{}:{}", self.policy.source.as_deref().unwrap_or("policy"), at.line, at.col)
    }

    fn file_error(&self, at: Pos, route: Option<&str>, problem: impl std::fmt::Display) -> ConfigError {
        let within = route.map(|r| format!("route `{r}`: ")).unwrap_or_default();
        ConfigError::new(settings::POLICY, format!("{}: {within}{problem}", self.place(at)))
    }

    /// An error of a built setting, moved to the file's position when the file gave the value.
    fn locate(&self, error: ConfigError, origin: Option<Origin>, route: Option<&str>) -> ConfigError {
        match origin {
            Some(Origin::File(at)) => self.file_error(at, route, format!("{} ({})", error.problem, error.setting)),
            _ => error,
        }
    }

    /// Every variable that says something the file's `defaults` also says, differently.
    fn conflicts(&self) -> Result<(), ConfigError> {
        let doc = &self.policy.document;
        let auth = doc.defaults.auth.clone().unwrap_or_default();
        let rate = doc.defaults.rate_limit.clone().unwrap_or_default();
        let mut found: Vec<ConfigError> = Vec::new();
        let mut conflict = |var: &'static str, field: &str, file: &str, at: Pos, env: &str| {
            found.push(ConfigError::new(
                var,
                format!(
                    "conflicts with the policy file: {} sets `{field}` to `{file}`, the environment to `{env}`; \
                     set it in one place",
                    self.place(at)
                ),
            ));
        };
        let (env, limits) = (&self.auth, &self.rate_limit);
        let text = |f: &String, e: &String| (f.clone(), e.clone());
        let number = |f: &u64, e: &u64| (f.to_string(), e.to_string());
        let list = |f: &Vec<String>, e: &Vec<String>| (f.join(","), e.join(","));
        let same_set = |f: &Vec<String>, e: &Vec<String>| sorted(f) == sorted(e);
        for (var, field, differs) in [
            (
                settings::AUTH,
                "defaults.auth.type",
                differ(
                    &auth.schemes,
                    &env.schemes,
                    |f, e| schemes(*f) == *e,
                    |f, e| (f.as_env().to_owned(), e.as_env().to_owned()),
                ),
            ),
            (settings::JWT_ISSUER, "defaults.auth.issuer", differ(&auth.issuer, &env.issuer, String::eq, text)),
            (settings::JWT_AUDIENCE, "defaults.auth.audience", differ(&auth.audience, &env.audience, same_set, list)),
            (
                settings::JWT_ALGORITHMS,
                "defaults.auth.algorithms",
                differ(&auth.algorithms, &env.algorithms, same_set, list),
            ),
            (
                settings::JWT_LEEWAY_SECONDS,
                "defaults.auth.leeway_seconds",
                differ(&auth.leeway_seconds, &env.leeway_seconds, u64::eq, number),
            ),
            (
                settings::JWT_MAX_AGE_SECONDS,
                "defaults.auth.max_age_seconds",
                differ(&auth.max_age_seconds, &env.max_age_seconds, u64::eq, number),
            ),
            (
                settings::API_KEY_HEADER,
                "defaults.auth.api_key_header",
                differ(&auth.api_key_header, &env.api_key_header, |f, e| f.eq_ignore_ascii_case(e), text),
            ),
            // A store URL may hold a password: the environment's is named, not shown.
            (
                settings::RATE_LIMIT_STORE,
                "defaults.rate_limit.store",
                differ(&rate.store, &limits.store, String::eq, |f, _| (f.clone(), "<its URL>".to_owned())),
            ),
            (
                settings::RATE_LIMIT_ON_STORE_ERROR,
                "defaults.rate_limit.on_store_error",
                differ(&rate.on_store_error, &limits.on_store_error, String::eq, text),
            ),
        ] {
            if let Some((file, at, given)) = differs {
                conflict(var, field, &file, at, &given);
            }
        }
        if let Some(file) = &auth.keys {
            let file_key = key_input(&file.value);
            let written = format!("{}={}", file_key.variable(), file_key.shown());
            for given in env.keys.iter().filter(|k| k.value != file_key) {
                conflict(given.value.variable(), "defaults.auth.keys", &written, file.at, given.value.shown());
            }
        }
        let scopes = doc.sections().find_map(|(_, s)| s.auth.as_ref().and_then(|a| a.scopes.as_ref()));
        if let (Some(file), Some(_)) = (scopes, &env.required_scopes) {
            let given = (self.env)(settings::JWT_REQUIRED_SCOPES).unwrap_or_default();
            conflict(settings::JWT_REQUIRED_SCOPES, "scopes", &file.value.join(" "), file.at, &given);
        }
        let env = limits;
        if let (Some(file), Some(given)) = (&rate.rules, &env.rules) {
            let written = file.value.iter().map(|r| rule_text(r, None, true)).collect::<Vec<_>>().join(", ");
            let global = doc.mode.as_ref().map_or(Mode::Enforce, |m| m.value);
            let enforced = file.value.iter().all(|r| r.mode.as_ref().map_or(global, |m| m.value) == Mode::Enforce);
            // The short form names rules after their keys, as a file rule without `name` is.
            let file_rules: Vec<Rule> = file
                .value
                .iter()
                .map(|r| file_rule(r, r.key.as_ref().map_or(LimitKey::SourceIp, |k| k.value).name().to_owned()))
                .collect();
            if !enforced || file_rules != given.value {
                let shown = (self.env)(settings::RATE_LIMIT).unwrap_or_default();
                conflict(settings::RATE_LIMIT, "defaults.rate_limit.rules", &written, file.at, &shown);
            }
        }
        // The variables that fill in what an INTERCEPT_RATE_LIMIT rule leaves out would have to be
        // guessed into the file's rules: a file rule that leaves it out too is a conflict.
        for (var, field, given) in [
            (settings::RATE_LIMIT_KEY, "key", env.key.as_ref().map(|k| k.value.name().to_owned())),
            (settings::RATE_LIMIT_BURST, "burst", env.burst.as_ref().map(|b| b.value.to_string())),
        ] {
            let silent = doc.sections().flat_map(|(_, s)| rules_of(s)).find(|r| match field {
                "key" => r.key.is_none(),
                _ => r.burst.is_none(),
            });
            if let (Some(given), Some(rule)) = (given, silent) {
                found.push(ConfigError::new(
                    var,
                    format!(
                        "is `{given}`, and the policy file's rule at {} sets no `{field}`; this variable only fills in \
                         INTERCEPT_RATE_LIMIT's rules, so write `{field}:` in the rule (or unset the variable)",
                        self.place(rule.at)
                    ),
                ));
            }
        }
        if let (Some((var, env)), Some(file)) =
            (self.telemetry.sampling, doc.defaults.telemetry.as_ref().and_then(|t| t.sampling.as_ref()))
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

    fn route(&self, merged: &Merged<'_>, provenance: &mut Vec<(String, String)>) -> Result<RoutePolicy, ConfigError> {
        let route_key = merged.route.map(|r| r.pattern.to_string());
        let global_mode = self.policy.document.mode.as_ref().map_or(Mode::Enforce, |m| m.value);
        let auth_inputs = self.auth_inputs(&merged.auth);
        let auth = if self.disabled.auth {
            Default::default()
        } else {
            self.auth(merged, auth_inputs.clone(), route_key.as_deref())?
        };
        let auth_mode = merged.auth.mode.as_ref().map_or(global_mode, |m| m.value);
        let rate_inputs = self.rate_limit_inputs(&merged.rate_limit);
        let (rate_limit, rate_limit_detect) = if self.disabled.ratelimit {
            (None, None)
        } else {
            self.rate_limits(merged, global_mode, &rate_inputs, route_key.as_deref())?
        };
        let telemetry = (!self.disabled.telemetry).then(|| {
            let mut redact = merged.telemetry.redact.as_ref().map(|r| r.value.clone()).unwrap_or_default();
            // INTERCEPT_REDACT adds to every route's list: redaction only ever adds up.
            redact.extend(self.telemetry.redact.iter().cloned());
            redact.sort();
            redact.dedup();
            let env_sampling = self.telemetry.sampling.map(|(_, ratio)| ratio);
            let sampling = merged.telemetry.sampling.as_ref().map(|s| s.value).or(env_sampling).unwrap_or(1.0);
            TelemetryPolicy { sampling, redact }
        });
        self.record(merged, &auth_inputs, &rate_inputs, provenance);
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

    /// The environment's authentication values with the file's (the route's, else the
    /// defaults') in their place; offline, placeholders for the secrets given at init.
    fn auth_inputs(&self, file: &AuthSection) -> AuthInputs {
        let mut inputs = self.auth.clone();
        if let Some(given) = &file.schemes {
            inputs.schemes = Some(Given::file(given.at, schemes(given.value)));
        }
        if let Some(keys) = &file.keys {
            // The file's key source replaces every variable's.
            inputs.keys = vec![Given::file(keys.at, key_input(&keys.value))];
        }
        set(&mut inputs.issuer, file.issuer.as_ref());
        set(&mut inputs.audience, file.audience.as_ref());
        set(&mut inputs.algorithms, file.algorithms.as_ref());
        set(&mut inputs.leeway_seconds, file.leeway_seconds.as_ref());
        set(&mut inputs.max_age_seconds, file.max_age_seconds.as_ref());
        set(&mut inputs.api_key_header, file.api_key_header.as_ref());
        if file.scopes.is_some() {
            inputs.required_scopes = None;
        }
        if self.offline {
            let placeholder = |value: &str| Given { value: value.to_owned(), origin: Origin::Placeholder };
            let schemes = inputs.schemes();
            if schemes.jwt && inputs.keys.is_empty() {
                let key = Given {
                    value: KeyInput::Secret("-----BEGIN PLACEHOLDER-----".to_owned()),
                    origin: Origin::Placeholder,
                };
                inputs.keys.push(key);
            }
            if schemes.api_key && inputs.api_keys_secret_id.is_none() && inputs.api_keys.is_none() {
                inputs.api_keys = Some(placeholder("placeholder=placeholder"));
            }
        }
        inputs
    }

    fn auth(
        &self,
        merged: &Merged<'_>,
        inputs: AuthInputs,
        route: Option<&str>,
    ) -> Result<crate::auth::AuthConfig, ConfigError> {
        if !self.offline
            && inputs.schemes().jwt
            && inputs.keys.is_empty()
            && let Some(Origin::File(at)) = inputs.schemes.as_ref().map(|s| s.origin)
        {
            return Err(self.file_error(
                at,
                route,
                "jwt auth needs a key source: `keys:` (jwks_url, oidc_issuer or secret_id) in the policy, or \
                 INTERCEPT_JWT_SECRET, INTERCEPT_JWT_SECRET_ID, INTERCEPT_JWKS_URL or INTERCEPT_JWT_OIDC_ISSUER",
            ));
        }
        // Offline, the AWS credentials Secrets Manager needs are stood in for too.
        let offline = self.offline;
        let lookup = |name: &str| {
            (self.env)(name).or_else(|| {
                (offline && matches!(name, "AWS_REGION" | "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY"))
                    .then(|| "placeholder".to_owned())
            })
        };
        let mut auth = inputs.build(&lookup).map_err(|error| {
            let origin = inputs.origin(error.setting);
            self.locate(error, origin, route)
        })?;
        if let Some(scopes) = &merged.auth.scopes {
            if auth.jwt.is_none() {
                return Err(self.file_error(
                    scopes.at,
                    route,
                    format!("`scopes` on a route without jwt auth (auth is `{}`)", inputs.schemes().as_env()),
                ));
            }
            if !scopes.value.is_empty() {
                auth.required_scopes = vec![ScopeRule::everywhere(scopes.value.clone())];
            }
        }
        Ok(auth)
    }

    /// The environment's rate-limit values with the file's store settings in their place.
    fn rate_limit_inputs(&self, file: &RateLimitSection) -> RateLimitInputs {
        let mut inputs = self.rate_limit.clone();
        set(&mut inputs.store, file.store.as_ref());
        set(&mut inputs.on_store_error, file.on_store_error.as_ref());
        if file.rules.is_none() && inputs.rules.is_none() {
            // No rules anywhere: a store alone says nothing.
            inputs.store = None;
            inputs.on_store_error = None;
        }
        inputs
    }

    fn rate_limits(
        &self,
        merged: &Merged<'_>,
        global_mode: Mode,
        inputs: &RateLimitInputs,
        route: Option<&str>,
    ) -> Result<(Option<crate::ratelimit::RateLimitConfig>, Option<crate::ratelimit::RateLimitConfig>), ConfigError>
    {
        let build = |inputs: &RateLimitInputs| {
            inputs.build(&self.env).map_err(|error| {
                let origin = inputs.origin(error.setting);
                self.locate(error, origin, route)
            })
        };
        let Some(rules) = &merged.rate_limit.rules else {
            // The rules are INTERCEPT_RATE_LIMIT's, if any; they follow the file's global mode.
            let config = build(inputs)?;
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
            split[usize::from(mode == Mode::Detect)].push(file_rule(rule, rule_name(rule, owner)));
        }
        let mut configs = [None, None];
        for (index, file_rules) in split.into_iter().enumerate() {
            if file_rules.is_empty() {
                continue;
            }
            let mut inputs = inputs.clone();
            inputs.rules = Some(Given::file(rules.at, file_rules));
            configs[index] = build(&inputs)?;
        }
        let [enforce, detect] = configs;
        Ok((enforce, detect))
    }

    /// Where each of this route's settings came from.
    fn record(
        &self,
        merged: &Merged<'_>,
        auth: &AuthInputs,
        rate_limit: &RateLimitInputs,
        provenance: &mut Vec<(String, String)>,
    ) {
        let owner = merged
            .route
            .map_or_else(|| "defaults".to_owned(), |r| format!("route[{}:{}]", r.pattern.method, r.pattern.path));
        if let Some(route) = merged.route {
            provenance.push((owner.clone(), self.place(route.at)));
            return;
        }
        let redact = (!self.telemetry.redact.is_empty()).then_some(Origin::Env(settings::REDACT));
        for (var, field) in [
            (settings::AUTH, "auth.type"),
            (settings::JWT_SECRET, "auth.keys"),
            (settings::JWT_SECRET_ID, "auth.keys"),
            (settings::JWKS_URL, "auth.keys"),
            (settings::JWT_OIDC_ISSUER, "auth.keys"),
            (settings::JWT_ISSUER, "auth.issuer"),
            (settings::JWT_AUDIENCE, "auth.audience"),
            (settings::JWT_ALGORITHMS, "auth.algorithms"),
            (settings::JWT_LEEWAY_SECONDS, "auth.leeway_seconds"),
            (settings::JWT_MAX_AGE_SECONDS, "auth.max_age_seconds"),
            (settings::JWT_REQUIRED_SCOPES, "auth.scopes"),
            (settings::API_KEYS, "auth.api_keys"),
            (settings::API_KEYS_SECRET_ID, "auth.api_keys"),
            (settings::API_KEY_HEADER, "auth.api_key_header"),
            (settings::RATE_LIMIT, "rate_limit.rules"),
            (settings::RATE_LIMIT_STORE, "rate_limit.store"),
            (settings::RATE_LIMIT_ON_STORE_ERROR, "rate_limit.on_store_error"),
            (settings::REDACT, "telemetry.redact"),
        ] {
            let origin = auth.origin(var).or_else(|| rate_limit.origin(var)).or(if var == settings::REDACT {
                redact
            } else {
                None
            });
            let source = match origin {
                Some(Origin::File(at)) => self.place(at),
                Some(Origin::Placeholder) => format!("env:{var} (at init)"),
                Some(Origin::Env(var)) => format!("env:{var}"),
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
            && let Some((var, _)) = self.telemetry.sampling
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
                    settings::DISABLE,
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
