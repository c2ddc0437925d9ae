//! Required scopes per route: a list of rules, first match wins.

use crate::invocation::Invocation;

/// Scopes a request must hold on matching routes. Today the rules come from
/// `INTERCEPT_JWT_REQUIRED_SCOPES`; a policy file can produce the same list.
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
}

impl ScopeRule {
    /// Parses `METHOD /path=scope1 scope2` (method `*` or omitted for any).
    ///
    /// # Errors
    /// A description of what is wrong, for the setting's error.
    pub fn parse(text: &str) -> Result<ScopeRule, String> {
        let (target, scopes) = text.split_once('=').ok_or_else(|| format!("`{text}` has no `=scopes`"))?;
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        if scopes.is_empty() {
            return Err(format!("`{text}` names no scope"));
        }
        let mut words = target.split_whitespace();
        let (method, path) = match (words.next(), words.next(), words.next()) {
            (Some(path), None, None) => (None, path),
            (Some(method), Some(path), None) => (Some(method).filter(|m| *m != "*").map(str::to_ascii_uppercase), path),
            _ => return Err(format!("`{target}` is not `METHOD /path` or `/path`")),
        };
        if path != "*" && !path.starts_with('/') {
            return Err(format!("`{path}` does not start with `/`"));
        }
        Ok(ScopeRule { method, path: path.to_owned(), scopes })
    }

    fn matches<'p>(&self, method: Option<&str>, paths: impl IntoIterator<Item = &'p str>) -> bool {
        let method_ok = self.method.as_deref().is_none_or(|own| Some(own) == method);
        let path_ok = |path: &str| {
            self.path == "*"
                || self.path == path
                || self.path.strip_suffix("/*").is_some_and(|prefix| {
                    path == prefix || path.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'))
                })
        };
        method_ok && paths.into_iter().any(path_ok)
    }
}

/// The scopes the first matching rule requires, if any rule matches the route or path.
pub(crate) fn required_scopes<'a>(rules: &'a [ScopeRule], invocation: &Invocation) -> Option<&'a [String]> {
    if rules.is_empty() {
        return None;
    }
    let paths = [invocation.route(), invocation.path()];
    rules
        .iter()
        .find(|rule| rule.matches(invocation.method(), paths.into_iter().flatten()))
        .map(|rule| rule.scopes.as_slice())
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
        let get = |rule: &ScopeRule, method, path| rule.matches(Some(method), [path]);
        assert!(get(&rules[0], "GET", "/orders/{id}"));
        assert!(!get(&rules[0], "POST", "/orders/{id}"));
        assert!(get(&rules[2], "DELETE", "/admin/users/1"));
        assert!(get(&rules[2], "GET", "/admin"));
        assert!(!get(&rules[2], "GET", "/administrator"));
        for bad in ["GET /x", "GET /x=", "GET x=s", "A B C=s"] {
            assert!(ScopeRule::parse(bad).is_err(), "{bad}");
        }
    }
}
