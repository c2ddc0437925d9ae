//! Route patterns (`GET /orders/{id}`, `ANY /files/{proxy+}`) and API Gateway's precedence.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use percent_encoding::percent_decode_str;

/// Methods a route may name, as API Gateway accepts them.
pub(crate) const METHODS: [&str; 8] = ["ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// A parsed `METHOD /path` route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoutePattern {
    /// Upper case, or `ANY`.
    pub(crate) method: String,
    /// The path as written.
    pub(crate) path: String,
    segments: Vec<Segment>,
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl RoutePattern {
    /// Parses a route key.
    ///
    /// # Errors
    /// What is wrong with the key, for the file's error list.
    pub(crate) fn parse(key: &str) -> Result<RoutePattern, String> {
        let mut words = key.split_whitespace();
        let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("route `{key}` is not `METHOD /path`, e.g. `GET /orders/{{id}}` or `ANY /{{proxy+}}`"));
        };
        if !METHODS.contains(&method) {
            let upper = method.to_ascii_uppercase();
            let hint = if METHODS.contains(&upper.as_str()) {
                format!("write it in upper case, `{upper}`")
            } else {
                format!("expected one of {}", METHODS.join(", "))
            };
            return Err(format!("route `{key}`: `{method}` is not a method; {hint}"));
        }
        if !path.starts_with('/') {
            return Err(format!("route `{key}`: the path `{path}` does not start with `/`"));
        }
        if path.len() > 1 && path.ends_with('/') {
            let trimmed = path.trim_end_matches('/');
            return Err(format!(
                "route `{key}`: the path ends with `/`; write `{}` (requests match with or without a trailing slash)",
                if trimmed.is_empty() { "/" } else { trimmed }
            ));
        }
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let parts: Vec<&str> = if path == "/" { Vec::new() } else { path[1..].split('/').collect() };
        for (index, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(format!("route `{key}`: the path has an empty segment (`//`)"));
            }
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(inner) => {
                    let (name, greedy) = inner.strip_suffix('+').map_or((inner, false), |n| (n, true));
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(format!(
                            "route `{key}`: `{part}` is not a parameter; use letters, digits and `_`, as in `{{id}}`"
                        ));
                    }
                    if names.contains(&name) {
                        return Err(format!("route `{key}`: the parameter `{name}` appears twice"));
                    }
                    names.push(name);
                    if greedy {
                        if index + 1 != parts.len() {
                            return Err(format!("route `{key}`: `{part}` must be the last segment of the path"));
                        }
                        Segment::Greedy(name.to_owned())
                    } else {
                        Segment::Param(name.to_owned())
                    }
                }
                None if part.contains(['{', '}']) => {
                    return Err(format!(
                        "route `{key}`: `{part}` mixes text and a parameter; a parameter is a whole segment, as `{{id}}`"
                    ));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        Ok(RoutePattern { method: method.to_owned(), path: path.to_owned(), segments })
    }

    /// The path parameters when this pattern matches `method` and `path`, else `None`.
    ///
    /// Empty segments are ignored, so a trailing slash (or `//`) matches as API Gateway does; a
    /// greedy parameter needs at least one segment.
    pub(crate) fn matches(&self, method: &str, path: &str) -> Option<Vec<(String, String)>> {
        if !self.method_matches(method) {
            return None;
        }
        let mut params = Vec::new();
        let segments = request_segments(path);
        let mut request = segments.iter().map(AsRef::as_ref);
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if !request.next()?.eq_ignore_ascii_case(literal) {
                        return None;
                    }
                }
                Segment::Param(name) => params.push((name.clone(), request.next()?.to_owned())),
                Segment::Greedy(name) => {
                    let rest: Vec<&str> = request.collect();
                    if rest.is_empty() {
                        return None;
                    }
                    params.push((name.clone(), rest.join("/")));
                    return Some(params);
                }
            }
        }
        request.next().is_none().then_some(params)
    }

    /// Like [`Self::matches`] without building the parameters.
    #[cfg(test)]
    pub(crate) fn is_match(&self, method: &str, path: &str) -> bool {
        self.is_match_segments(method, &request_segments(path))
    }

    /// [`Self::is_match`] on a path already split by [`request_segments`] (the per-invocation
    /// path: split once, tried against every route).
    pub(crate) fn is_match_segments(&self, method: &str, path: &[Cow<'_, str>]) -> bool {
        if !self.method_matches(method) {
            return false;
        }
        let mut request = path.iter().map(AsRef::as_ref);
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if !request.next().is_some_and(|s: &str| s.eq_ignore_ascii_case(literal)) {
                        return false;
                    }
                }
                Segment::Param(_) => {
                    if request.next().is_none() {
                        return false;
                    }
                }
                Segment::Greedy(_) => return request.next().is_some(),
            }
        }
        request.next().is_none()
    }

    fn method_matches(&self, method: &str) -> bool {
        self.method == "ANY" || self.method.eq_ignore_ascii_case(method)
    }

    /// API Gateway's precedence: segment by segment from the left, a literal before a parameter
    /// before a greedy parameter; then the route's own method before `ANY`. `Less` is preferred.
    pub(crate) fn precedence(&self, other: &RoutePattern) -> Ordering {
        let rank = |s: &Segment| match s {
            Segment::Literal(_) => 0u8,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 2,
        };
        for (a, b) in self.segments.iter().zip(&other.segments) {
            let order = rank(a).cmp(&rank(b));
            if order != Ordering::Equal {
                return order;
            }
        }
        // Shapes that agree so far: the longer one is more specific (it can only compete with a
        // shorter one through a greedy segment, which ranks after anything else).
        other
            .segments
            .len()
            .cmp(&self.segments.len())
            .then_with(|| (self.method == "ANY").cmp(&(other.method == "ANY")))
    }

    /// Whether both patterns match exactly the same requests (same method, same shape; only
    /// parameter names may differ), so the later one can never match.
    pub(crate) fn same_requests(&self, other: &RoutePattern) -> bool {
        self.method == other.method
            && self.segments.len() == other.segments.len()
            && self.segments.iter().zip(&other.segments).all(|(a, b)| match (a, b) {
                (Segment::Literal(x), Segment::Literal(y)) => x == y,
                (Segment::Param(_), Segment::Param(_)) | (Segment::Greedy(_), Segment::Greedy(_)) => true,
                _ => false,
            })
    }
}

/// A request path as the function behind it would read it, so a route cannot be dodged by
/// spelling: segments percent-decoded, `.` dropped and `..` applied, empty ones (trailing or
/// doubled slashes) ignored. Literal segments then compare case-insensitively, as frameworks
/// that route case-insensitively would: a stricter route must not be escaped with `/ADMIN`.
pub(crate) fn request_segments(path: &str) -> Vec<Cow<'_, str>> {
    let mut segments: Vec<Cow<'_, str>> = Vec::new();
    for raw in path.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode_str(raw).decode_utf8_lossy();
        match segment.as_ref() {
            "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(key: &str) -> RoutePattern {
        RoutePattern::parse(key).expect(key)
    }

    #[test]
    fn greedy_needs_one_segment_and_takes_the_rest() {
        let files = pattern("GET /files/{proxy+}");
        assert_eq!(files.matches("GET", "/files/a/b/c.txt"), Some(vec![("proxy".into(), "a/b/c.txt".into())]));
        assert_eq!(files.matches("GET", "/files/a"), Some(vec![("proxy".into(), "a".into())]));
        assert_eq!(files.matches("GET", "/files"), None, "zero segments beyond the prefix");
        assert_eq!(files.matches("GET", "/files/"), None);
        assert!(!files.is_match("GET", "/files"));
        assert!(files.is_match("GET", "/files/x/y"));
        let root = pattern("ANY /{proxy+}");
        assert!(root.is_match("DELETE", "/a"));
        assert!(!root.is_match("GET", "/"));
    }

    #[test]
    fn rule_names_from_routes_keep_parameters_apart_from_literals() {
        let slug = |key| super::super::validate::route_slug(&pattern(key));
        assert_eq!(slug("GET /orders/{id}"), "get.orders.*id");
        assert_eq!(slug("GET /orders/id"), "get.orders.id");
        assert_eq!(slug("ANY /files/{proxy+}"), "any.files.**proxy");
        assert_eq!(slug("POST /a.b/v1~x"), "post.a-b.v1-x");
    }

    #[test]
    fn a_route_cannot_be_dodged_by_spelling_the_path_differently() {
        let admin = pattern("ANY /admin/{proxy+}");
        for path in ["/admin/x", "/ADMIN/x", "/%61dmin/x", "/Admin/%2e/x", "/public/../admin/x", "//admin//x/"] {
            assert!(admin.is_match("GET", path), "{path}");
            assert!(admin.matches("GET", path).is_some(), "{path}");
        }
        for path in ["/admin", "/administrator/x", "/admin/../x", "/public/x"] {
            assert!(!admin.is_match("GET", path), "{path}");
        }
    }

    #[test]
    fn trailing_slashes_and_methods() {
        let orders = pattern("GET /orders/{id}");
        assert_eq!(orders.matches("GET", "/orders/42/"), Some(vec![("id".into(), "42".into())]));
        assert!(orders.is_match("get", "/orders/42"));
        assert!(!orders.is_match("POST", "/orders/42"));
        assert!(!orders.is_match("GET", "/orders"));
        assert!(!orders.is_match("GET", "/orders/42/items"));
        assert!(pattern("POST /").is_match("POST", "/"));
        assert!(!pattern("POST /").is_match("POST", "/a"));
    }

    #[test]
    fn precedence_orders_exact_parameter_greedy_then_method() {
        let mut patterns: Vec<RoutePattern> = [
            "ANY /{proxy+}",
            "GET /orders/{proxy+}",
            "ANY /orders/{id}",
            "GET /orders/{id}",
            "GET /orders/latest",
            "GET /orders/{id}/items",
        ]
        .iter()
        .map(|k| pattern(k))
        .collect();
        patterns.sort_by(RoutePattern::precedence);
        let order: Vec<String> = patterns.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "GET /orders/latest",
                "GET /orders/{id}/items",
                "GET /orders/{id}",
                "ANY /orders/{id}",
                "GET /orders/{proxy+}",
                "ANY /{proxy+}"
            ]
        );
    }

    #[test]
    fn bad_keys_say_why() {
        for (key, expected) in [
            ("/orders", "is not `METHOD /path`"),
            ("get /orders", "write it in upper case, `GET`"),
            ("FETCH /orders", "expected one of ANY, GET"),
            ("GET orders", "does not start with `/`"),
            ("GET /orders/", "write `/orders`"),
            ("GET /a//b", "empty segment"),
            ("GET /{proxy+}/x", "must be the last segment"),
            ("GET /{a}/{a}", "appears twice"),
            ("GET /order-{id}", "mixes text and a parameter"),
            ("GET /{}", "is not a parameter"),
        ] {
            let error = RoutePattern::parse(key).expect_err(key);
            assert!(error.contains(expected), "{key}: {error}");
        }
    }
}
