//! Reads the node tree into the policy model, collecting every error with its position.

use super::effective::Disabled;
use super::error::{Errors, closest};
use super::model::{
    AuthSection, Document, KeySource, Mode, RateLimitSection, RouteEntry, RuleEntry, Schemes, Section, Spanned,
    TelemetrySection,
};
use super::pattern::RoutePattern;
use super::yaml::{Key, Node, Pos, Value};
use crate::ratelimit::{LimitKey, Quota};

const TOP: &[&str] = &["version", "mode", "disable", "defaults", "routes"];
const DISABLE: &[&str] = &["auth", "ratelimit", "telemetry"];
const SECTION: &[&str] = &["auth", "rate_limit", "telemetry"];
const AUTH: &[&str] = &[
    "type",
    "keys",
    "issuer",
    "audience",
    "algorithms",
    "leeway_seconds",
    "max_age_seconds",
    "scopes",
    "api_key_header",
    "mode",
];
const JWT_ONLY: &[&str] = &["keys", "issuer", "audience", "algorithms", "leeway_seconds", "max_age_seconds", "scopes"];
const KEYS: &[&str] = &["jwks_url", "oidc_issuer", "secret_id"];
const RATE_LIMIT: &[&str] = &["rules", "store", "on_store_error"];
const RULE: &[&str] = &["rate", "burst", "key", "name", "mode"];
const TELEMETRY: &[&str] = &["sampling", "redact"];
const ALGORITHMS: &[&str] =
    &["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// Reads a whole document; errors go to `errors`, and what could be read is returned.
pub(crate) fn document(root: &Node, errors: &mut Errors) -> Document {
    let mut document = Document::default();
    if matches!(root.value, Value::Null) {
        return document;
    }
    for (key, node) in fields(root, "the policy file", TOP, errors) {
        match key.name.as_str() {
            "version" => {
                if node.value != Value::Int(1) {
                    errors.push(node.at, "`version` must be 1, the only version of the policy format");
                }
            }
            "mode" => document.mode = mode(node, errors),
            "disable" => document.disable = disable(node, errors),
            "defaults" => document.defaults = section(node, "defaults", errors),
            _ => document.routes = routes(node, errors),
        }
    }
    document
}

/// The top-level `disable`: a list (or comma list) of `auth`, `ratelimit`, `telemetry`, each
/// unknown name reported at its own position.
fn disable(node: &Node, errors: &mut Errors) -> Option<Spanned<Disabled>> {
    let items: Vec<(&str, Pos)> = match &node.value {
        Value::Null => Vec::new(),
        Value::Str(text) => text.split(',').map(|name| (name.trim(), node.at)).collect(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|item| match &item.value {
                Value::Str(text) => Some((text.trim(), item.at)),
                other => {
                    errors.push(item.at, format!("`disable` must list filter names, found {}", other.kind()));
                    None
                }
            })
            .collect(),
        other => {
            errors.push(
                node.at,
                format!("`disable` must be a list of auth, ratelimit, telemetry, found {}", other.kind()),
            );
            return None;
        }
    };
    let mut disabled = Disabled::default();
    for (name, at) in items.into_iter().filter(|(name, _)| !name.is_empty()) {
        match name {
            "auth" => disabled.auth = true,
            "ratelimit" => disabled.ratelimit = true,
            "telemetry" => disabled.telemetry = true,
            other => {
                let hint = closest(other, DISABLE).map(|s| format!(", did you mean `{s}`?")).unwrap_or_default();
                errors.push(
                    at,
                    format!(
                        "`{other}` is not a filter that can be disabled; expected auth, ratelimit or telemetry{hint}"
                    ),
                );
            }
        }
    }
    Some(Spanned { value: disabled, at: node.at })
}

fn routes(node: &Node, errors: &mut Errors) -> Vec<RouteEntry> {
    let Value::Map(entries) = &node.value else {
        if !matches!(node.value, Value::Null) {
            errors.push(
                node.at,
                format!("`routes` must be a mapping of `METHOD /path` to rules, found {}", node.value.kind()),
            );
        }
        return Vec::new();
    };
    let mut routes = Vec::new();
    for (key, value) in entries {
        let pattern = match RoutePattern::parse(&key.name) {
            Ok(pattern) => pattern,
            Err(message) => {
                errors.push(key.at, message);
                continue;
            }
        };
        let section = section(value, &format!("route `{pattern}`"), errors);
        routes.push(RouteEntry { pattern, at: key.at, section });
    }
    routes
}

fn section(node: &Node, what: &str, errors: &mut Errors) -> Section {
    let mut section = Section::default();
    if matches!(node.value, Value::Null) {
        return section;
    }
    for (key, value) in fields(node, what, SECTION, errors) {
        match key.name.as_str() {
            "auth" => section.auth = auth(value, errors),
            "rate_limit" => section.rate_limit = rate_limit(value, errors),
            _ => section.telemetry = telemetry(value, errors),
        }
    }
    section
}

/// The entries of a mapping whose keys are in `allowed`; unknown keys are reported with the
/// closest allowed one.
fn fields<'a>(node: &'a Node, what: &str, allowed: &[&str], errors: &mut Errors) -> Vec<(&'a Key, &'a Node)> {
    let Value::Map(entries) = &node.value else {
        errors.push(node.at, format!("{what} must be a mapping, found {}", node.value.kind()));
        return Vec::new();
    };
    let mut known = Vec::new();
    for (key, value) in entries {
        if allowed.contains(&key.name.as_str()) {
            known.push((key, value));
        } else if let Some(suggestion) = closest(&key.name, allowed) {
            errors.push(key.at, format!("unknown key `{}`, did you mean `{suggestion}`?", key.name));
        } else {
            errors
                .push(key.at, format!("unknown key `{}` in {what}; expected one of {}", key.name, allowed.join(", ")));
        }
    }
    known
}

fn auth(node: &Node, errors: &mut Errors) -> Option<AuthSection> {
    let mut auth = AuthSection { at: node.at, ..AuthSection::default() };
    if let Value::Str(text) = &node.value {
        auth.schemes = Some(Spanned { value: schemes(text, node.at, errors)?, at: node.at });
        return Some(auth);
    }
    let entries = fields(node, "`auth`", AUTH, errors);
    for (key, value) in &entries {
        match key.name.as_str() {
            "type" => {
                auth.schemes = string(value, "type", errors)
                    .and_then(|s| Some(Spanned { value: schemes(&s.value, s.at, errors)?, at: s.at }));
            }
            "keys" => auth.keys = keys(value, errors),
            "issuer" => auth.issuer = string(value, "issuer", errors),
            "audience" => auth.audience = list(value, "audience", errors),
            "algorithms" => auth.algorithms = algorithms(value, errors),
            "leeway_seconds" => {
                auth.leeway_seconds =
                    whole(value, "leeway_seconds", errors).map(|n| Spanned { value: n, at: value.at });
            }
            "max_age_seconds" => match whole(value, "max_age_seconds", errors) {
                Some(0) => errors.push(value.at, "`max_age_seconds` must be above 0 (leave it out for no limit)"),
                n => auth.max_age_seconds = n.map(|n| Spanned { value: n, at: value.at }),
            },
            "scopes" => auth.scopes = list(value, "scopes", errors),
            "api_key_header" => auth.api_key_header = string(value, "api_key_header", errors),
            _ => auth.mode = mode(value, errors),
        }
    }
    if let Some(schemes) = &auth.schemes {
        for (key, _) in &entries {
            if !schemes.value.has_jwt() && JWT_ONLY.contains(&key.name.as_str()) {
                errors.push(
                    key.at,
                    format!("`{}` on a route without jwt auth (`type: {}`)", key.name, schemes.value.as_env()),
                );
            }
            let has_api_key = matches!(schemes.value, Schemes::ApiKey | Schemes::JwtOrApiKey);
            if !has_api_key && key.name == "api_key_header" {
                errors.push(
                    key.at,
                    format!("`api_key_header` on a route without api-key auth (`type: {}`)", schemes.value.as_env()),
                );
            }
        }
    }
    Some(auth)
}

fn schemes(text: &str, at: Pos, errors: &mut Errors) -> Option<Schemes> {
    let parsed = Schemes::parse(text);
    if parsed.is_none() {
        errors.push(at, format!("auth type `{text}` is not supported; expected none, jwt, api-key or `jwt,api-key`"));
    }
    parsed
}

fn keys(node: &Node, errors: &mut Errors) -> Option<Spanned<KeySource>> {
    if let Value::Str(text) = &node.value {
        let hint = if text.contains("SECRET") || text == "secret" {
            "; a literal secret is read from INTERCEPT_JWT_SECRET in the environment, never from the policy file"
        } else {
            ""
        };
        errors.push(
            node.at,
            format!(
                "unknown key source `{text}`; expected a mapping with one of jwks_url, oidc_issuer, secret_id{hint}"
            ),
        );
        return None;
    }
    let entries = fields(node, "`keys`", KEYS, errors);
    if entries.len() > 1 {
        errors.push(
            node.at,
            "`keys` names more than one key source; give exactly one of jwks_url, oidc_issuer, secret_id",
        );
        return None;
    }
    let (key, value) = entries.first()?;
    let text = string(value, &key.name, errors)?;
    let source = match key.name.as_str() {
        "secret_id" => KeySource::SecretId(text.value),
        name => {
            if !(text.value.starts_with("https://") || text.value.starts_with("http://")) {
                errors.push(text.at, format!("`{name}` must be an http(s) URL, found `{}`", text.value));
                return None;
            }
            if name == "jwks_url" { KeySource::JwksUrl(text.value) } else { KeySource::OidcIssuer(text.value) }
        }
    };
    Some(Spanned { value: source, at: key.at })
}

fn algorithms(node: &Node, errors: &mut Errors) -> Option<Spanned<Vec<String>>> {
    let names = list(node, "algorithms", errors)?;
    let mut ok = true;
    for name in &names.value {
        if !ALGORITHMS.contains(&name.as_str()) {
            ok = false;
            errors.push(names.at, format!("`{name}` is not an algorithm; expected some of {}", ALGORITHMS.join(", ")));
        }
    }
    if names.value.is_empty() {
        errors.push(names.at, "`algorithms` is empty; name at least one algorithm");
        return None;
    }
    ok.then_some(names)
}

fn rate_limit(node: &Node, errors: &mut Errors) -> Option<RateLimitSection> {
    let mut section = RateLimitSection { at: node.at, ..RateLimitSection::default() };
    if let Value::Seq(_) = node.value {
        section.rules = rules(node, errors);
        return Some(section);
    }
    for (key, value) in fields(node, "`rate_limit`", RATE_LIMIT, errors) {
        match key.name.as_str() {
            "rules" => section.rules = rules(value, errors),
            "store" => section.store = store(value, errors),
            _ => {
                section.on_store_error = string(value, "on_store_error", errors).filter(|s| {
                    let ok = matches!(s.value.as_str(), "allow" | "deny" | "local");
                    if !ok {
                        errors.push(
                            s.at,
                            format!("`{}` is not a store failure policy; expected allow, deny or local", s.value),
                        );
                    }
                    ok
                });
            }
        }
    }
    Some(section)
}

fn store(node: &Node, errors: &mut Errors) -> Option<Spanned<String>> {
    let store = string(node, "store", errors)?;
    let scheme = store.value.split_once("://").map(|(scheme, _)| scheme);
    if store.value == "memory" {
        return Some(store);
    }
    if !matches!(scheme, Some("redis" | "rediss")) {
        errors.push(store.at, "`store` must be `memory` or a redis:// or rediss:// URL");
        return None;
    }
    if store.value.contains('@') {
        // The URL is not echoed: it holds a credential.
        errors.push(
            store.at,
            "the store URL holds credentials; keep them out of the policy file and set the whole URL in \
             INTERCEPT_RATE_LIMIT_STORE instead",
        );
        return None;
    }
    Some(store)
}

fn rules(node: &Node, errors: &mut Errors) -> Option<Spanned<Vec<RuleEntry>>> {
    let Value::Seq(items) = &node.value else {
        errors.push(node.at, format!("`rules` must be a list of rules, found {}", node.value.kind()));
        return None;
    };
    let rules = items.iter().filter_map(|item| rule(item, errors)).collect();
    Some(Spanned { value: rules, at: node.at })
}

fn rule(node: &Node, errors: &mut Errors) -> Option<RuleEntry> {
    let entries = fields(node, "a rate-limit rule", RULE, errors);
    if entries.is_empty() && !matches!(node.value, Value::Map(_)) {
        return None;
    }
    let mut quota: Option<Quota> = None;
    // The quota is replaced by the parsed `rate` below; a rule without one is not returned.
    let placeholder = Quota { count: 1, period: std::time::Duration::from_secs(1), burst: 1 };
    let mut rule = RuleEntry { at: node.at, quota: placeholder, burst: None, key: None, name: None, mode: None };
    let mut complete = true;
    for (key, value) in entries {
        match key.name.as_str() {
            "rate" => match string(value, "rate", errors).map(|rate| (Quota::parse(&rate.value), rate.at)) {
                Some((Ok(parsed), _)) => quota = Some(parsed),
                Some((Err(message), at)) => {
                    complete = false;
                    errors.push(at, format!("bad rate: {message}"));
                }
                None => complete = false,
            },
            "burst" => match whole(value, "burst", errors) {
                Some(burst) => match u32::try_from(burst).ok().filter(|b| *b > 0) {
                    Some(burst) => rule.burst = Some(Spanned { value: burst, at: value.at }),
                    None => errors.push(value.at, format!("`burst` must be a whole number above 0, found {burst}")),
                },
                None => complete = false,
            },
            "key" => {
                rule.key = string(value, "key", errors).and_then(|k| match LimitKey::parse(&k.value) {
                    Some(parsed) => Some(Spanned { value: parsed, at: k.at }),
                    None => {
                        errors.push(
                            k.at,
                            format!(
                                "`{}` is not a key; expected source-ip, principal, api-key, route or global",
                                k.value
                            ),
                        );
                        None
                    }
                });
            }
            "name" => {
                rule.name = string(value, "name", errors).filter(|n| {
                    let ok = !n.value.is_empty()
                        && n.value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                    if !ok {
                        errors.push(
                            n.at,
                            format!("`{}` is not a rule name; use letters, digits, `-`, `_` and `.`", n.value),
                        );
                    }
                    ok
                });
            }
            _ => rule.mode = mode(value, errors),
        }
    }
    let Some(mut quota) = quota else {
        if complete {
            errors.push(node.at, "a rate-limit rule needs a `rate`, e.g. `rate: 100/m`");
        }
        return None;
    };
    if let Some(burst) = &rule.burst {
        quota = quota.with_burst(burst.value);
    }
    rule.quota = quota;
    Some(rule)
}

fn telemetry(node: &Node, errors: &mut Errors) -> Option<TelemetrySection> {
    let mut section = TelemetrySection { at: node.at, ..TelemetrySection::default() };
    for (key, value) in fields(node, "`telemetry`", TELEMETRY, errors) {
        if key.name == "redact" {
            section.redact = list(value, "redact", errors);
            continue;
        }
        let ratio = match value.value {
            Value::Int(n) => Some(n as f64),
            Value::Float(f) => Some(f),
            _ => None,
        };
        match ratio {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => {
                section.sampling = Some(Spanned { value: ratio, at: value.at })
            }
            Some(ratio) => errors.push(value.at, format!("`sampling` must be a ratio from 0 to 1, found {ratio}")),
            None => errors.push(
                value.at,
                format!("`sampling` must be a ratio from 0 to 1 (e.g. 0.1), found {}", value.value.kind()),
            ),
        }
    }
    Some(section)
}

fn mode(node: &Node, errors: &mut Errors) -> Option<Spanned<Mode>> {
    let text = string(node, "mode", errors)?;
    let value = match text.value.as_str() {
        "enforce" => Mode::Enforce,
        "detect" => Mode::Detect,
        other => {
            errors.push(text.at, format!("`{other}` is not a mode; expected enforce or detect"));
            return None;
        }
    };
    Some(Spanned { value, at: text.at })
}

fn string(node: &Node, field: &str, errors: &mut Errors) -> Option<Spanned<String>> {
    match &node.value {
        Value::Str(text) => Some(Spanned { value: text.trim().to_owned(), at: node.at }),
        other => {
            errors.push(node.at, format!("`{field}` must be a string, found {}", other.kind()));
            None
        }
    }
}

fn whole(node: &Node, field: &str, errors: &mut Errors) -> Option<u64> {
    match &node.value {
        Value::Int(n) if *n >= 0 => u64::try_from(*n).ok(),
        Value::Int(n) => {
            errors.push(node.at, format!("`{field}` must be a whole number of at least 0, found {n}"));
            None
        }
        other => {
            errors.push(node.at, format!("`{field}` must be a whole number, found {}", other.kind()));
            None
        }
    }
}

/// A list of strings, or one string of items separated by commas or spaces.
fn list(node: &Node, field: &str, errors: &mut Errors) -> Option<Spanned<Vec<String>>> {
    let split = |text: &str| -> Vec<String> {
        text.split([',', ' ', '\t']).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    };
    let items = match &node.value {
        Value::Str(text) => split(text),
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                match &item.value {
                    Value::Str(text) => out.extend(split(text)),
                    other => errors.push(item.at, format!("`{field}` must list strings, found {}", other.kind())),
                }
            }
            out
        }
        other => {
            errors.push(node.at, format!("`{field}` must be a string or a list of strings, found {}", other.kind()));
            return None;
        }
    };
    Some(Spanned { value: items, at: node.at })
}
