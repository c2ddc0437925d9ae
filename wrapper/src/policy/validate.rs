//! Checks across the file: routes that can never match, scopes without jwt, rule names.

use std::collections::HashMap;

use super::error::Errors;
use super::model::{Document, RuleEntry, Section};
use super::pattern::RoutePattern;
use super::yaml::Pos;
use crate::ratelimit::{LimitKey, Quota};

/// The name a rule is counted under (in the store's keys and in `RateLimit-Policy`): its
/// `name`, else its key for the defaults' rules (as `INTERCEPT_RATE_LIMIT` names them), else the
/// route and the key, so that a route's own rules have a budget of their own.
pub(crate) fn rule_name(rule: &RuleEntry, route: Option<&RoutePattern>) -> String {
    if let Some(name) = &rule.name {
        return name.value.clone();
    }
    let key = rule.key.as_ref().map_or(LimitKey::SourceIp, |k| k.value).name();
    match route {
        None => key.to_owned(),
        Some(pattern) => format!("{}.{key}", route_slug(pattern)),
    }
}

/// `GET /orders/{id}` → `get.orders.*id`, `ANY /files/{proxy+}` → `any.files.**proxy`: only
/// letters, digits, `-`, `_`, `.` and `*`. A parameter keeps its `*` marks, so `/orders/{id}`
/// and `/orders/id` never share a name, nor a budget.
pub(crate) fn route_slug(pattern: &RoutePattern) -> String {
    let clean = |c: char| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') { c } else { '-' };
    let mut slug = pattern.method.to_ascii_lowercase();
    for part in pattern.path.split('/').filter(|p| !p.is_empty()) {
        slug.push('.');
        let name = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(param) => {
                let (name, marks) = param.strip_suffix('+').map_or((param, "*"), |greedy| (greedy, "**"));
                slug.push_str(marks);
                name
            }
            None => part,
        };
        slug.extend(name.chars().map(clean));
    }
    slug
}

/// Reports what no single field shows: shadowed routes, scopes under a non-jwt default,
/// clashing rule names.
pub(crate) fn document(document: &Document, errors: &mut Errors) {
    shadowed_routes(document, errors);
    scopes_without_jwt(document, errors);
    rule_names(document, errors);
}

fn shadowed_routes(document: &Document, errors: &mut Errors) {
    for (index, route) in document.routes.iter().enumerate() {
        if let Some(earlier) = document.routes[..index].iter().find(|e| e.pattern.same_requests(&route.pattern)) {
            let what =
                if earlier.pattern == route.pattern { "is a duplicate of" } else { "matches the same requests as" };
            errors.push(
                route.at,
                format!(
                    "route `{}` can never match: it {what} route `{}` at line {}, which comes first",
                    route.pattern, earlier.pattern, earlier.at.line
                ),
            );
        }
    }
}

fn scopes_without_jwt(document: &Document, errors: &mut Errors) {
    let default_schemes = document.defaults.auth.as_ref().and_then(|a| a.schemes.as_ref());
    for route in &document.routes {
        let Some(auth) = &route.section.auth else { continue };
        if auth.schemes.is_some() {
            continue; // checked with the section itself
        }
        if let (Some(scopes), Some(schemes)) = (&auth.scopes, default_schemes)
            && !schemes.value.has_jwt()
        {
            errors.push(
                scopes.at,
                format!(
                    "`scopes` on a route without jwt auth (the defaults say `type: {}` at line {}); set `type: jwt`",
                    schemes.value.as_env(),
                    schemes.at.line
                ),
            );
        }
    }
}

fn rules(section: &Section) -> &[RuleEntry] {
    section.rate_limit.as_ref().and_then(|r| r.rules.as_ref()).map_or(&[], |r| r.value.as_slice())
}

fn rule_names(document: &Document, errors: &mut Errors) {
    let mut seen: HashMap<String, (Quota, LimitKey, Pos)> = HashMap::new();
    let sections = std::iter::once((None, &document.defaults))
        .chain(document.routes.iter().map(|r| (Some(&r.pattern), &r.section)));
    for (route, section) in sections {
        let mut own: Vec<String> = Vec::new();
        for rule in rules(section) {
            let name = rule_name(rule, route);
            let at = rule.name.as_ref().map_or(rule.at, |n| n.at);
            if own.contains(&name) {
                errors.push(at, format!("two rules here are named `{name}`; give one a different `name`"));
                continue;
            }
            own.push(name.clone());
            let key = rule.key.as_ref().map_or(LimitKey::SourceIp, |k| k.value);
            match seen.get(&name) {
                Some((quota, other_key, other)) if (*quota, *other_key) != (rule.quota, key) => errors.push(
                    at,
                    format!(
                        "the rule `{name}` differs from the rule of the same name at line {}; rules with one name \
                         share one budget, so they must have the same rate, burst and key",
                        other.line
                    ),
                ),
                Some(_) => {}
                None => {
                    seen.insert(name, (rule.quota, key, at));
                }
            }
        }
    }
}
