//! `intercept-sam policy check` and `policy explain`: the policy file, as CI and an operator see it.
//!
//! Both read the file alone (plus any `--env NAME=VALUE` given), standing in for secrets the
//! function's environment gives at init, so a pipeline can check a policy without them.

use std::io::{self, Write};
use std::path::Path;

use intercept::ConfigError;
use intercept::policy::{EffectivePolicy, Policy, PolicyErrors};

/// Checks a policy file: every error as `FILE:LINE:COL: error: ...` on `errors`, or
/// `ok: N routes, digest sha256:...` on `out`. Returns whether the file is valid.
///
/// # Errors
/// Only when writing fails.
pub fn check(file: &Path, env: &[(String, String)], out: &mut dyn Write, errors: &mut dyn Write) -> io::Result<bool> {
    let Some((policy, _)) = load(file, env, errors)? else { return Ok(false) };
    let routes = policy.route_count();
    writeln!(out, "ok: {routes} route{}, digest {}", if routes == 1 { "" } else { "s" }, policy.digest())?;
    Ok(true)
}

/// Explains what the policy does with `request` (`"GET /orders/42"`): the matching route, its
/// authentication, rate limits and telemetry, or that the defaults apply. Returns whether the
/// file and the request could be read.
///
/// # Errors
/// Only when writing fails.
pub fn explain(
    file: &Path,
    request: &str,
    env: &[(String, String)],
    out: &mut dyn Write,
    errors: &mut dyn Write,
) -> io::Result<bool> {
    let mut words = request.split_whitespace();
    let (Some(method), Some(target), None) = (words.next(), words.next(), words.next()) else {
        writeln!(errors, "error: `{request}` is not a request; expected `METHOD /path`, e.g. \"GET /orders/42\"")?;
        return Ok(false);
    };
    if !target.starts_with('/') {
        writeln!(errors, "error: the path `{target}` does not start with `/`")?;
        return Ok(false);
    }
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let Some((_, effective)) = load(file, env, errors)? else { return Ok(false) };
    write!(out, "{}", effective.explain(&method.to_ascii_uppercase(), path))?;
    Ok(true)
}

/// What `policy diff` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffOutcome {
    /// Both files enforce the same (exit 0).
    Same,
    /// Something changes (exit 1).
    Changed,
    /// A file is invalid; its errors were written (exit 2).
    Invalid,
}

/// One changed setting: where (`defaults`, `METHOD /path` or `disable`), which field (a dotted
/// path, empty for a whole route added or removed), and its values before and after.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// `defaults`, the route (`METHOD /path`) or `disable`.
    pub route: String,
    /// The setting, e.g. `auth.jwt.issuer`, `auth_mode`, `rate_limit.rules`; empty when the
    /// whole route is added or removed.
    pub field: String,
    /// The value in OLD (`null` when absent).
    pub old: serde_json::Value,
    /// The value in NEW (`null` when absent).
    pub new: serde_json::Value,
}

/// Compares what two policy files enforce (each resolved as `check` resolves it, with `env`):
/// per route and for the defaults, authentication (schemes, key source without secrets,
/// issuer, audience, scopes), rate limits, modes and `disable`. Writes the changes as text (or
/// one JSON document) to `out`, a file's errors to `errors`.
///
/// # Errors
/// Only when writing fails.
pub fn diff(
    old: &Path,
    new: &Path,
    env: &[(String, String)],
    json: bool,
    out: &mut dyn Write,
    errors: &mut dyn Write,
) -> io::Result<DiffOutcome> {
    let before = load(old, env, errors)?;
    let after = load(new, env, errors)?;
    let (Some((_, before)), Some((_, after))) = (before, after) else { return Ok(DiffOutcome::Invalid) };
    let changes = changes(&before, &after);
    if json {
        let document = serde_json::json!({ "changed": !changes.is_empty(), "changes": changes });
        writeln!(out, "{document}")?;
    } else if changes.is_empty() {
        writeln!(out, "no change: both enforce {}", after.digest())?;
    } else {
        writeln!(out, "--- {} ({})", old.display(), before.digest())?;
        writeln!(out, "+++ {} ({})", new.display(), after.digest())?;
        let mut current: Option<&str> = None;
        for change in &changes {
            if current != Some(change.route.as_str()) {
                writeln!(out, "{}:", change.route)?;
                current = Some(&change.route);
            }
            match (change.field.as_str(), change.old.is_null(), change.new.is_null()) {
                ("", true, _) => writeln!(out, "  + added: {}", change.new)?,
                ("", _, true) => writeln!(out, "  - removed: {}", change.old)?,
                ("", _, _) => writeln!(out, "  ~ {} -> {}", change.old, change.new)?,
                (field, _, _) => writeln!(out, "  ~ {field}: {} -> {}", change.old, change.new)?,
            }
        }
    }
    Ok(if changes.is_empty() { DiffOutcome::Same } else { DiffOutcome::Changed })
}

/// The changed settings from `before` to `after`, routes in `after`'s order (removed ones last).
pub fn changes(before: &EffectivePolicy, after: &EffectivePolicy) -> Vec<Change> {
    let old = before.summary();
    let new = after.summary();
    let mut changes = Vec::new();
    let find = |list: &[(String, serde_json::Value)], route: &str| {
        list.iter().find(|(r, _)| r == route).map(|(_, value)| value.clone())
    };
    for (route, value) in &new {
        match find(&old, route) {
            None => changes.push(Change {
                route: route.clone(),
                field: String::new(),
                old: serde_json::Value::Null,
                new: value.clone(),
            }),
            Some(previous) => {
                let mut fields = Vec::new();
                compare("", &previous, value, &mut fields);
                changes.extend(fields.into_iter().map(|(field, old, new)| Change {
                    route: route.clone(),
                    field,
                    old,
                    new,
                }));
            }
        }
    }
    for (route, value) in &old {
        if find(&new, route).is_none() {
            changes.push(Change {
                route: route.clone(),
                field: String::new(),
                old: value.clone(),
                new: serde_json::Value::Null,
            });
        }
    }
    changes
}

/// The leaves that differ, by dotted path; lists are compared whole.
fn compare(
    at: &str,
    old: &serde_json::Value,
    new: &serde_json::Value,
    out: &mut Vec<(String, serde_json::Value, serde_json::Value)>,
) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))).collect();
            keys.sort();
            for key in keys {
                let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
                compare(&path, a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null), out);
            }
        }
        (a, b) if a != b => out.push((at.to_owned(), a.clone(), b.clone())),
        _ => {}
    }
}

/// Parses and resolves the file; prints its errors and returns `None` when it has any.
fn load(
    file: &Path,
    env: &[(String, String)],
    errors: &mut dyn Write,
) -> io::Result<Option<(Policy, EffectivePolicy)>> {
    let policy = match Policy::load(file) {
        Ok(policy) => policy,
        Err(PolicyErrors(list)) => {
            for error in &list {
                writeln!(errors, "{error}")?;
            }
            return Ok(None);
        }
    };
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match policy.resolve_offline(lookup) {
        Ok(effective) => Ok(Some((policy, effective))),
        Err(error) => {
            writeln!(errors, "{}", resolve_error(&file.display().to_string(), &error))?;
            Ok(None)
        }
    }
}

/// A resolution error in the check's format: positioned when the file is at fault.
fn resolve_error(file: &str, error: &ConfigError) -> String {
    if error.setting == "INTERCEPT_POLICY"
        && let Some(rest) = error.problem.strip_prefix(file).and_then(|r| r.strip_prefix(':'))
    {
        let mut parts = rest.splitn(3, ':');
        if let (Some(line), Some(col), Some(message)) = (parts.next(), parts.next(), parts.next())
            && line.parse::<usize>().is_ok()
            && col.parse::<usize>().is_ok()
        {
            return format!("{file}:{line}:{col}: error: {}", message.trim_start());
        }
    }
    format!("{file}: error: {error}")
}

/// Parses `NAME=VALUE` for `--env`.
///
/// # Errors
/// A message when there is no `=`.
pub fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_errors_keep_the_file_position() {
        let error =
            ConfigError { setting: "INTERCEPT_POLICY", problem: "p.yaml:3:11: route `GET /a`: no keys".to_owned() };
        assert_eq!(resolve_error("p.yaml", &error), "p.yaml:3:11: error: route `GET /a`: no keys");
        let error = ConfigError { setting: "INTERCEPT_AUTH", problem: "conflicts".to_owned() };
        assert_eq!(resolve_error("p.yaml", &error), "p.yaml: error: INTERCEPT_AUTH: conflicts");
    }

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn diff_names_what_changes_per_route_and_exits_like_diff() {
        let dir = std::env::temp_dir().join(format!("intercept-sam-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let old = file(
            &dir,
            "old.yaml",
            "defaults:\n  auth:\n    type: jwt\n    issuer: https://a.example\nroutes:\n  GET /health:\n    auth: none\n  \
             POST /orders:\n    rate_limit:\n      - rate: 5/s\n        mode: detect\n",
        );
        let new = file(
            &dir,
            "new.yaml",
            "disable: [telemetry]\ndefaults:\n  auth:\n    type: jwt\n    issuer: https://b.example\n    scopes: [orders:write]\n\
             routes:\n  POST /orders:\n    rate_limit:\n      - rate: 5/s\n        mode: enforce\n",
        );
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        let env = [("INTERCEPT_JWT_SECRET".to_owned(), "s3cret-never-shown".to_owned())];
        let outcome = diff(&old, &new, &env, false, &mut out, &mut errors).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(outcome, DiffOutcome::Changed, "{text}");
        assert!(
            text.contains("defaults:\n  ~ auth.jwt.issuer: \"https://a.example\" -> \"https://b.example\""),
            "{text}"
        );
        assert!(text.contains("~ auth.scopes:"), "{text}");
        assert!(text.contains("POST /orders:\n"), "{text}");
        assert!(text.contains("~ rate_limit: null -> {"), "detect rules became enforced: {text}");
        assert!(text.contains("~ rate_limit_detect: {"), "{text}");
        assert!(text.contains("GET /health:\n  - removed:"), "{text}");
        assert!(text.contains("disable:\n  ~ [] -> [\"telemetry\"]"), "{text}");
        assert!(!text.contains("s3cret"), "no secret is shown: {text}");

        let (mut out, mut errors) = (Vec::new(), Vec::new());
        assert_eq!(diff(&new, &new, &env, false, &mut out, &mut errors).expect("written"), DiffOutcome::Same);
        assert!(String::from_utf8(out).expect("utf-8").starts_with("no change"));

        let (mut out, mut errors) = (Vec::new(), Vec::new());
        let outcome = diff(&old, &new, &env, true, &mut out, &mut errors).expect("written");
        assert_eq!(outcome, DiffOutcome::Changed);
        let document: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(document["changed"], true);
        let changes = document["changes"].as_array().expect("changes");
        assert!(
            changes.iter().any(|c| c["route"] == "defaults"
                && c["field"] == "auth.jwt.issuer"
                && c["new"] == "https://b.example"),
            "{document}"
        );

        let broken = file(&dir, "broken.yaml", "routes:\n  GET /a:\n    auth: saml\n");
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        assert_eq!(diff(&old, &broken, &env, false, &mut out, &mut errors).expect("written"), DiffOutcome::Invalid);
        let errors = String::from_utf8(errors).expect("utf-8");
        assert!(errors.contains("broken.yaml:3:11: error:"), "{errors}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
