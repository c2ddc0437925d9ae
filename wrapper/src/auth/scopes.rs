//! Required scopes per route: a list of rules, first match wins.

use std::borrow::Cow;

use crate::invocation::Invocation;
use crate::policy::pattern::RoutePattern;

/// Scopes a request must hold on matching routes. The rules come from
/// `INTERCEPT_JWT_REQUIRED_SCOPES`, the short form of a policy file's routes: each rule's route
/// matches exactly as a policy route does, on the canonical request (the normalized path, HEAD
/// as GET), so `//admin/x` or `/%61dmin/x` cannot escape a rule on `/admin/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeRule {
    /// The method, upper case, or `None` for any (`*`).
    pub method: Option<String>,
    /// A route template or path; a trailing `/*` matches the prefix and everything below it,
    /// and `*` alone matches every path.
    pub path: String,
    /// All of these are required.
    pub scopes: Vec<String>,
    pattern: RoutePattern,
}

impl ScopeRule {
    /// Parses `METHOD /path=scope1 scope2` (method `*` or omitted for any).
    ///
    /// # Errors
    /// A [`ParseError`](crate::ParseError) saying what is wrong, for the setting's error.
    pub fn parse(text: &str) -> Result<ScopeRule, crate::ParseError> {
        let (target, scopes) =
            text.split_once('=').ok_or_else(|| crate::ParseError::new(format!("`{text}` has no `=scopes`")))?;
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        if scopes.is_empty() {
            return Err(crate::ParseError::new(format!("`{text}` names no scope")));
        }
        let mut words = target.split_whitespace();
        let (method, path) = match (words.next(), words.next(), words.next()) {
            (Some(path), None, None) => (None, path),
            (Some(method), Some(path), None) => (Some(method).filter(|m| *m != "*").map(str::to_ascii_uppercase), path),
            _ => return Err(crate::ParseError::new(format!("`{target}` is not `METHOD /path` or `/path`"))),
        };
        if path != "*" && !path.starts_with('/') {
            return Err(crate::ParseError::new(format!("`{path}` does not start with `/`")));
        }
        let pattern = RoutePattern::parse_short(method.as_deref(), path).map_err(crate::ParseError::new)?;
        Ok(ScopeRule { method, path: path.to_owned(), scopes, pattern })
    }

    /// A rule requiring `scopes` on every request (a policy route's `scopes`).
    pub(crate) fn everywhere(scopes: Vec<String>) -> ScopeRule {
        let pattern = RoutePattern::parse_short(None, "*").unwrap_or_else(|_| unreachable!("`*` is a valid rule"));
        ScopeRule { method: None, path: "*".to_owned(), scopes, pattern }
    }

    fn matches(&self, method: &str, canonical_path: &str) -> bool {
        self.pattern.is_match(method, canonical_path)
    }
}

/// The scopes a request must hold: those of the first rule its canonical request meets, and,
/// when the trigger names the route template it served (API Gateway's `resource` or route key),
/// those of the first rule that template meets too. A custom domain's base path (`/v1/admin/x`
/// for the `/admin/{proxy+}` resource) must not take a request out from under its rule. A
/// request with no method and path (a queue, a direct invoke) is judged as `ANY /`: it meets
/// the rules for any method on every path (`*`) or on `/`.
pub(crate) fn required_scopes<'a>(rules: &'a [ScopeRule], invocation: &Invocation) -> Option<Cow<'a, [String]>> {
    if rules.is_empty() {
        return None;
    }
    let method = invocation.method().unwrap_or("ANY");
    let first = |path: &str| rules.iter().find(|rule| rule.matches(method, path)).map(|rule| rule.scopes.as_slice());
    let by_path = first(invocation.canonical_path().unwrap_or("/"));
    let by_template = invocation.route().filter(|route| Some(*route) != invocation.canonical_path()).and_then(first);
    match (by_path, by_template) {
        (Some(path), Some(template)) if path != template => {
            let mut both = path.to_vec();
            both.extend(template.iter().filter(|scope| !path.contains(scope)).cloned());
            Some(Cow::Owned(both))
        }
        (Some(scopes), _) | (None, Some(scopes)) => Some(Cow::Borrowed(scopes)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_rules() {
        let rules: Vec<ScopeRule> =
            ["GET /orders/{id}=orders:read", "POST /orders=orders:write audit", "/admin/*=admin"]
                .iter()
                .map(|r| ScopeRule::parse(r).expect("valid"))
                .collect();
        assert_eq!(rules[1].scopes, ["orders:write", "audit"]);
        let get = |rule: &ScopeRule, method, path: &str| rule.matches(method, path);
        assert!(get(&rules[0], "GET", "/orders/7"));
        assert!(get(&rules[0], "HEAD", "/orders/7"), "HEAD is judged as GET");
        assert!(!get(&rules[0], "POST", "/orders/7"));
        assert!(get(&rules[1], "POST", "/orders"));
        assert!(get(&rules[2], "DELETE", "/admin/users/1"));
        assert!(get(&rules[2], "GET", "/admin"));
        assert!(get(&rules[2], "GET", "/ADMIN/x"));
        assert!(!get(&rules[2], "GET", "/administrator"));
        for bad in ["GET /x", "GET /x=", "GET x=s", "A B C=s"] {
            assert!(ScopeRule::parse(bad).is_err(), "{bad}");
        }
    }
}
