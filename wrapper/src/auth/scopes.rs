//! Required scopes per route: the short form of a policy's routes, matched as they are (the
//! most specific rule a request meets applies).

use std::borrow::Cow;

use crate::invocation::Invocation;
use crate::policy::pattern::{self, RoutePattern};

/// Scopes a request must hold on matching routes. The rules come from
/// `INTERCEPT_JWT_REQUIRED_SCOPES`, the short form of a policy file's routes: they are put in a
/// policy's precedence (most specific first) and matched by the policy's one route matcher, on the
/// canonical request (the normalized path without a custom domain's base path, HEAD as GET), so
/// `//admin/x`, `/%61dmin/x` or `/v1/admin/x` cannot escape a rule on `/admin/*`.
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

/// The rules of `INTERCEPT_JWT_REQUIRED_SCOPES` in a policy's precedence (most specific
/// first; equally specific rules keep their order), so they apply exactly as the same routes
/// in a policy file would.
///
/// # Errors
/// A list written for first-match reading that a policy would read otherwise: a rule after a
/// less specific one that meets some of the same requests with other scopes (`/admin/*=admin;
/// GET /admin/public=read`). Which scopes such requests need would depend on which reading
/// applies, so the list is refused, naming both rules, rather than read either way.
pub(crate) fn in_precedence(mut rules: Vec<ScopeRule>) -> Result<Vec<ScopeRule>, String> {
    for (i, earlier) in rules.iter().enumerate() {
        for later in &rules[i + 1..] {
            let same_scopes = earlier.scopes.iter().all(|scope| later.scopes.contains(scope))
                && later.scopes.iter().all(|scope| earlier.scopes.contains(scope));
            if !same_scopes
                && later.pattern.precedence(&earlier.pattern).is_lt()
                && later.pattern.overlaps(&earlier.pattern)
            {
                let (earlier, later) = (earlier.written(), later.written());
                return Err(format!(
                    "`{later}` is more specific than `{earlier}`, written before it, and some requests meet both: \
                     rules apply as a policy's routes do, the most specific first, so those requests would need only \
                     `{later}`'s scopes; write `{later}` first (and add `{earlier}`'s scopes to it if those requests \
                     must hold them too)"
                ));
            }
        }
    }
    rules.sort_by(|a, b| a.pattern.precedence(&b.pattern));
    Ok(rules)
}

impl ScopeRule {
    /// The rule as written (`GET /orders/{id}=orders:read`), for errors.
    fn written(&self) -> String {
        let method = self.method.as_deref().map_or_else(String::new, |m| format!("{m} "));
        format!("{method}{}={}", self.path, self.scopes.join(" "))
    }
}

/// The scopes a request must hold: those of the rule it meets, chosen by the policy's one route
/// matcher ([`pattern::route_index`]) among rules in precedence order ([`in_precedence`]); behind
/// a custom domain, a rule written with the base path (`/v1/*=v1`) and the rule the API's own
/// path meets (`/admin/*=admin`) are both required. A request with no method and path (a queue,
/// a direct invoke) is judged as `ANY /`: it meets the rules for any method on every path (`*`)
/// or on `/`.
pub(crate) fn required_scopes<'a>(rules: &'a [ScopeRule], invocation: &Invocation) -> Option<Cow<'a, [String]>> {
    if rules.is_empty() {
        return None;
    }
    let (index, also) = match invocation.method() {
        Some(method) => pattern::route_index(rules, |rule| Some(&rule.pattern), method, invocation),
        None => (rules.iter().position(|rule| rule.matches("ANY", "/")), None),
    };
    let scopes = &rules.get(index?)?.scopes;
    match also.and_then(|also| rules.get(also)) {
        Some(other) => {
            let mut both = scopes.clone();
            both.extend(other.scopes.iter().filter(|scope| !scopes.contains(scope)).cloned());
            Some(Cow::Owned(both))
        }
        None => Some(Cow::Borrowed(scopes)),
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

    fn rules(list: &[&str]) -> Result<Vec<ScopeRule>, String> {
        in_precedence(list.iter().map(|r| ScopeRule::parse(r).expect("valid")).collect())
    }

    #[test]
    fn rules_take_a_policys_precedence() {
        let sorted = rules(&["/public/*=read", "GET /admin/me=me", "GET /admin/{id}=admin", "/admin/*=admin"])
            .expect("no rule after a less specific one it overlaps");
        let order: Vec<String> = sorted.iter().map(ScopeRule::written).collect();
        assert_eq!(order, ["GET /admin/me=me", "GET /admin/{id}=admin", "/public/*=read", "/admin/*=admin"]);
        // Equally specific rules keep their order; rules that meet no common request any order.
        assert!(rules(&["GET /a/{x}=one", "GET /{y}/b=two"]).is_ok());
        assert!(rules(&["/public/*=read", "GET /admin/x=admin"]).is_ok());
        // Same scopes: the reading does not matter.
        assert!(rules(&["/admin/*=admin", "GET /admin/public=admin"]).is_ok());
    }

    #[test]
    fn a_list_that_reads_differently_as_routes_is_refused() {
        for list in [
            &["/admin/*=admin", "GET /admin/public=read"][..],
            &["*=read", "/admin/*=admin"],
            &["GET /{x}/public=read", "/admin/*=admin"],
            &["GET /orders/{id}=read", "HEAD /orders/7=other"],
        ] {
            let error = rules(list).expect_err(list[1]);
            assert!(error.contains(&format!("`{}` is more specific than `{}`", list[1], list[0])), "{error}");
            assert!(error.contains("write `"), "{error}");
        }
    }
}
