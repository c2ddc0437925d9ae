//! Canonical forms, digests and the audit line: which policy an environment runs, and where
//! each setting came from.

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::effective::{EffectivePolicy, RoutePolicy};
use super::model::{Document, Section};
use crate::auth::{AuthConfig, KeySourceConfig};
use crate::ratelimit::{RateLimitConfig, StoreConfig};

/// JSON with object keys sorted and no spaces, whatever serde_json's map type is.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> =
                entries.into_iter().map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v))).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// `sha256:` and the hex digest of `text`.
pub(super) fn sha256(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// The digest of the file as written (comments, order of keys and layout do not count).
pub(crate) fn policy_digest(document: &Document) -> String {
    let section = |s: &Section| {
        let auth = s.auth.as_ref().map(|a| {
            json!({
                "type": a.schemes.as_ref().map(|s| s.value.as_env()),
                "keys": a.keys.as_ref().map(|k| { let (var, value) = k.value.as_env(); format!("{var}={value}") }),
                "issuer": a.issuer.as_ref().map(|v| &v.value),
                "audience": a.audience.as_ref().map(|v| &v.value),
                "algorithms": a.algorithms.as_ref().map(|v| &v.value),
                "leeway_seconds": a.leeway_seconds.as_ref().map(|v| v.value),
                "max_age_seconds": a.max_age_seconds.as_ref().map(|v| v.value),
                "scopes": a.scopes.as_ref().map(|v| &v.value),
                "api_key_header": a.api_key_header.as_ref().map(|v| &v.value),
                "mode": a.mode.as_ref().map(|m| m.value.as_str()),
            })
        });
        let rate_limit = s.rate_limit.as_ref().map(|r| {
            json!({
                "rules": r.rules.as_ref().map(|rules| rules.value.iter().map(|rule| json!({
                    "rate": format!("{}/{}s", rule.quota.count, rule.quota.period.as_secs()),
                    "burst": rule.burst.as_ref().map(|b| b.value),
                    "key": rule.key.as_ref().map(|k| k.value.name()),
                    "name": rule.name.as_ref().map(|n| &n.value),
                    "mode": rule.mode.as_ref().map(|m| m.value.as_str()),
                })).collect::<Vec<_>>()),
                "store": r.store.as_ref().map(|v| &v.value),
                "on_store_error": r.on_store_error.as_ref().map(|v| &v.value),
            })
        });
        let telemetry = s.telemetry.as_ref().map(|t| {
            json!({
                "sampling": t.sampling.as_ref().map(|v| v.value),
                "redact": t.redact.as_ref().map(|v| &v.value),
            })
        });
        json!({ "auth": auth, "rate_limit": rate_limit, "telemetry": telemetry })
    };
    let routes: Vec<Value> = document
        .routes
        .iter()
        .map(|r| json!({ "route": r.pattern.to_string(), "rules": section(&r.section) }))
        .collect();
    let mut value = json!({
        "version": 1,
        "mode": document.mode.as_ref().map(|m| m.value.as_str()),
        "defaults": section(&document.defaults),
        "routes": routes,
    });
    // Only when written, so files without `disable` keep their digests.
    if let (Some(disable), Some(object)) = (&document.disable, value.as_object_mut()) {
        object.insert("disable".to_owned(), json!(disable.value.names()));
    }
    sha256(&canonical(&value))
}

/// The effective authentication, without any secret: key sources by kind and name.
fn auth_json(auth: &AuthConfig) -> Value {
    let jwt = auth.jwt.as_ref().map(|jwt| {
        let keys = match &jwt.keys {
            KeySourceConfig::Secret(_) => "env:INTERCEPT_JWT_SECRET".to_owned(),
            KeySourceConfig::SecretsManager { secret_id, .. } => format!("secret_id:{secret_id}"),
            KeySourceConfig::JwksUrl(url) => format!("jwks_url:{url}"),
            KeySourceConfig::OidcIssuer(url) => format!("oidc_issuer:{url}"),
        };
        let algorithms: Vec<String> = jwt.algorithms.iter().map(|a| format!("{a:?}")).collect();
        json!({
            "keys": keys,
            "algorithms": algorithms,
            "issuer": jwt.issuer,
            "audience": jwt.audience,
            "leeway_seconds": jwt.leeway.as_secs(),
            "max_age_seconds": jwt.max_age.map(|m| m.as_secs()),
            "max_token_bytes": jwt.max_token_bytes,
            "token_header": jwt.token.header,
            "token_cookie": jwt.token.cookie,
        })
    });
    let api_keys = auth.api_keys.as_ref().map(|keys| {
        json!({
            "header": keys.header,
            "keys": if keys.keys.is_empty() { None } else { Some("env:INTERCEPT_API_KEYS") },
            "secret_id": keys.secret_id,
        })
    });
    let scopes: Vec<Value> = auth
        .required_scopes
        .iter()
        .map(|rule| json!({ "method": rule.method, "path": rule.path, "scopes": rule.scopes }))
        .collect();
    json!({ "jwt": jwt, "api_key": api_keys, "scopes": scopes })
}

/// The effective rules and store, with the store's URL stripped of credentials.
fn rate_limit_json(config: Option<&RateLimitConfig>) -> Value {
    let Some(config) = config else { return Value::Null };
    let rules: Vec<Value> = config
        .rules
        .iter()
        .map(|rule| {
            json!({
                "name": rule.name,
                "rate": format!("{}/{}s", rule.quota.count, rule.quota.period.as_secs()),
                "burst": rule.quota.burst,
                "key": rule.key.name(),
            })
        })
        .collect();
    let store = match &config.store {
        StoreConfig::Memory => json!({ "kind": "memory", "keys": config.memory_keys }),
        StoreConfig::Redis(redis) => json!({
            "kind": "redis",
            "url": redis.redacted_url(),
            "timeout_ms": redis.timeout.as_millis() as u64,
            "on_store_error": format!("{:?}", redis.on_error).to_lowercase(),
            "prefix": redis.prefix,
            "fallback_keys": config.memory_keys,
        }),
    };
    json!({ "rules": rules, "store": store })
}

pub(crate) fn route_json(route: &RoutePolicy) -> Value {
    json!({
        "route": route.route,
        "auth": auth_json(&route.auth),
        "auth_mode": route.auth_mode.as_str(),
        "rate_limit": rate_limit_json(route.rate_limit.as_ref()),
        "rate_limit_detect": rate_limit_json(route.rate_limit_detect.as_ref()),
        "telemetry": route.telemetry.as_ref().map(|t| json!({ "sampling": t.sampling, "redact": t.redact })),
    })
}

/// The digest of what the environment enforces (routes in precedence order).
pub(crate) fn effective_digest(policy: &EffectivePolicy) -> String {
    let value = json!({
        "defaults": route_json(&policy.defaults),
        "routes": policy.routes.iter().map(route_json).collect::<Vec<_>>(),
        "disabled": policy.disabled.names(),
    });
    sha256(&canonical(&value))
}

/// Routes whose authentication is the same share one `Arc`, so one authenticator (one key
/// cache, one token cache) serves them.
pub(crate) fn share_identical_auth(policy: &mut EffectivePolicy) {
    let mut seen: Vec<(String, Arc<AuthConfig>)> = Vec::new();
    let routes = std::iter::once(&mut policy.defaults).chain(policy.routes.iter_mut());
    for route in routes {
        let form = canonical(&auth_json(&route.auth));
        match seen.iter().find(|(f, _)| *f == form) {
            Some((_, shared)) => route.auth = Arc::clone(shared),
            None => seen.push((form, Arc::clone(&route.auth))),
        }
    }
}

impl EffectivePolicy {
    /// The audit line to log at init: the policy's source and digests, the switched-off
    /// filters, and where each setting came from (`file:line:col`, `env:VAR`; what is not listed
    /// is Intercept's default). No secret is part of it.
    #[must_use]
    pub fn audit(&self) -> String {
        let mut line = format!(
            "intercept policy: source={} policy_digest={} effective_digest={} routes={} disabled={}",
            self.source.as_deref().unwrap_or("env"),
            self.policy_digest.as_deref().unwrap_or("none"),
            self.digest,
            self.routes.len(),
            if self.disabled.names().is_empty() { "none".to_owned() } else { self.disabled.names().join(",") },
        );
        for (setting, origin) in &self.provenance {
            line.push(' ');
            line.push_str(setting);
            line.push('=');
            line.push_str(origin);
        }
        line
    }
}
