//! Route patterns (`GET /orders/{id}`, `ANY /files/{proxy+}`) and API Gateway's precedence.

use std::cmp::Ordering;
use std::fmt;

use crate::invocation::Invocation;

/// Methods a route may name, as API Gateway accepts them.
pub(crate) const METHODS: [&str; 8] = ["ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
    /// Zero or more segments: the `/*` ending of the `INTERCEPT_JWT_REQUIRED_SCOPES` short form.
    Rest,
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
        Self::parse_with(key, false)
    }

    /// The route of one `INTERCEPT_JWT_REQUIRED_SCOPES` rule: `[METHOD] /path`, the method
    /// `*` or left out for any, and a last segment `*` for the path and everything below it
    /// (`*` alone is every path). It matches exactly as a policy route does.
    ///
    /// # Errors
    /// What is wrong with the rule's target, for the setting's error.
    pub(crate) fn parse_short(method: Option<&str>, path: &str) -> Result<RoutePattern, String> {
        let method = method.map_or_else(|| "ANY".to_owned(), str::to_ascii_uppercase);
        let path = match path {
            "*" => "/*",
            _ if path.len() > 1 => path.trim_end_matches('/'),
            _ => path,
        };
        Self::parse_with(&format!("{method} {}", if path.is_empty() { "/" } else { path }), true)
    }

    fn parse_with(key: &str, short: bool) -> Result<RoutePattern, String> {
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
            if short && *part == "*" {
                if index + 1 != parts.len() {
                    return Err(format!("route `{key}`: `*` must be the last segment of the path"));
                }
                segments.push(Segment::Rest);
                continue;
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
                None => {
                    // A literal only ever meets a canonical path's segments: one a canonical path
                    // cannot hold (escaped, a dot segment, ...) would make the route silently inert.
                    let absolute = format!("/{part}");
                    let canonical = crate::canonical::canonicalize(&absolute);
                    match (canonical.path, canonical.problem) {
                        (Some(path), None) if path[1..] == **part => {}
                        (Some(path), None) => {
                            return Err(format!(
                                "route `{key}`: write the segment `{part}` as requests are matched, `{}`",
                                &path[1..]
                            ));
                        }
                        (_, problem) => {
                            let why = problem.map_or_else(String::new, |p| format!(": {p}"));
                            return Err(format!("route `{key}`: the segment `{part}` can never match a request{why}"));
                        }
                    }
                    Segment::Literal((*part).to_owned())
                }
            };
            segments.push(segment);
        }
        Ok(RoutePattern { method: method.to_owned(), path: path.to_owned(), segments })
    }

    /// The path parameters when this pattern matches `method` and the canonical `path` (see
    /// [`crate::canonical`]), else `None`. A greedy parameter needs at least one segment.
    pub(crate) fn matches(&self, method: &str, path: &str) -> Option<Vec<(String, String)>> {
        if !self.method_matches(method) {
            return None;
        }
        let mut params = Vec::new();
        let mut request = request_segments(path);
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
                Segment::Rest => return Some(params),
            }
        }
        request.next().is_none().then_some(params)
    }

    /// Like [`Self::matches`] without building the parameters, and without allocating: the
    /// per-invocation question, asked of every route and scope rule.
    pub(crate) fn is_match(&self, method: &str, path: &str) -> bool {
        self.method_matches(method) && self.segments_match(request_segments(path))
    }

    fn segments_match<'p>(&self, mut request: impl Iterator<Item = &'p str>) -> bool {
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if !request.next().is_some_and(|s| s.eq_ignore_ascii_case(literal)) {
                        return false;
                    }
                }
                Segment::Param(_) => {
                    if request.next().is_none() {
                        return false;
                    }
                }
                Segment::Greedy(_) => return request.next().is_some(),
                Segment::Rest => return true,
            }
        }
        request.next().is_none()
    }

    /// HEAD is judged as GET: frameworks answer it with the GET handler.
    fn method_matches(&self, method: &str) -> bool {
        self.method == "ANY"
            || self.method.eq_ignore_ascii_case(method)
            || (self.method == "GET" && method.eq_ignore_ascii_case("HEAD"))
    }

    /// API Gateway's precedence: segment by segment from the left, a literal before a parameter
    /// before a greedy parameter; then the route's own method before `ANY`. `Less` is preferred.
    pub(crate) fn precedence(&self, other: &RoutePattern) -> Ordering {
        let rank = |s: &Segment| match s {
            Segment::Literal(_) => 0u8,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 2,
            Segment::Rest => 3,
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

    /// Whether the pattern's first segments are these literals (matched as requests are).
    fn starts_with<'p>(&self, literals: impl Iterator<Item = &'p str>) -> bool {
        let mut own = self.segments.iter();
        literals.into_iter().all(
            |literal| matches!(own.next(), Some(Segment::Literal(expected)) if expected.eq_ignore_ascii_case(literal)),
        )
    }

    /// Whether some request meets both patterns (HEAD meets GET's routes).
    pub(crate) fn overlaps(&self, other: &RoutePattern) -> bool {
        let methods = |a: &str, b: &str| a == "ANY" || a == b || (a == "GET" && b == "HEAD");
        (methods(&self.method, &other.method) || methods(&other.method, &self.method))
            && segments_overlap(&self.segments, &other.segments)
    }

    /// Whether both patterns match exactly the same requests (same method, same shape; only
    /// parameter names may differ), so the later one can never match.
    pub(crate) fn same_requests(&self, other: &RoutePattern) -> bool {
        self.method == other.method
            && self.segments.len() == other.segments.len()
            && self.segments.iter().zip(&other.segments).all(|(a, b)| match (a, b) {
                (Segment::Literal(x), Segment::Literal(y)) => x == y,
                (Segment::Param(_), Segment::Param(_))
                | (Segment::Greedy(_), Segment::Greedy(_))
                | (Segment::Rest, Segment::Rest) => true,
                _ => false,
            })
    }
}

/// Whether some path meets both segment lists.
fn segments_overlap(a: &[Segment], b: &[Segment]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        // Zero or more segments: whatever the other side needs.
        (Some((Segment::Rest, _)), _) | (_, Some((Segment::Rest, _))) => true,
        // One or more segments: any other side that needs at least one more.
        (Some((Segment::Greedy(_), _)), Some(_)) | (Some(_), Some((Segment::Greedy(_), _))) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((x, a)), Some((y, b))) => {
            let same = match (x, y) {
                (Segment::Literal(x), Segment::Literal(y)) => x.eq_ignore_ascii_case(y),
                _ => true,
            };
            same && segments_overlap(a, b)
        }
    }
}

/// The one route matcher, for a policy's routes and `INTERCEPT_JWT_REQUIRED_SCOPES` alike: the
/// index of the first entry of `entries` (in precedence order) whose pattern `method` and the
/// invocation's path meet, and, when that entry is one written with a custom domain's base path,
/// the entry the API's own path meets besides (see below).
///
/// The path is the one the API matched against the template it served
/// ([`Invocation::api_path`]): a custom domain's base path, which API Gateway leaves in the
/// event's path, is not part of it, so `/v1/admin/x` served by `/admin/{proxy+}` meets
/// `ANY /admin/{proxy+}`, not a catch-all `ANY /{proxy+}`. A route written with the base path
/// itself (its leading literal segments are the base path: `ANY /v1/admin/{proxy+}`) still meets
/// such a request, before the API's path is tried: its author meant that mapping. A trigger that
/// names no template (function URLs, ALB, `$default`) is matched by its canonical path; an event
/// whose path does not line up with its template is refused before any route applies.
pub(crate) fn route_index<T>(
    entries: &[T],
    pattern: impl Fn(&T) -> Option<&RoutePattern>,
    method: &str,
    invocation: &Invocation,
) -> (Option<usize>, Option<usize>) {
    let first = |path: &str| entries.iter().position(|entry| pattern(entry).is_some_and(|p| p.is_match(method, path)));
    let Some(canonical) = invocation.canonical_path() else {
        return (None, None);
    };
    let Some(api) = invocation.api_path_apart() else {
        return (first(canonical), None);
    };
    let base = request_segments(canonical).count() - request_segments(api).count();
    let with_base = first(canonical).filter(|&index| {
        entries.get(index).and_then(&pattern).is_some_and(|p| p.starts_with(request_segments(canonical).take(base)))
    });
    let by_api = first(api);
    match with_base {
        Some(index) => (Some(index), by_api.filter(|&other| other != index)),
        None => (by_api, None),
    }
}

/// The segments of a canonical path ([`crate::canonical`] has already decoded it, so this only
/// splits). Literal segments then compare case-insensitively, as frameworks that route
/// case-insensitively would: a stricter route must not be escaped with `/ADMIN`.
fn request_segments(canonical: &str) -> impl Iterator<Item = &str> {
    canonical.split('/').filter(|s| !s.is_empty())
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
    fn a_route_matches_canonical_paths_case_insensitively() {
        let admin = pattern("ANY /admin/{proxy+}");
        for path in ["/admin/x", "/ADMIN/x", "/Admin/x/y"] {
            assert!(admin.is_match("GET", path), "{path}");
            assert!(admin.matches("GET", path).is_some(), "{path}");
        }
        for path in ["/admin", "/administrator/x", "/x", "/public/x"] {
            assert!(!admin.is_match("GET", path), "{path}");
        }
    }

    #[test]
    fn head_is_judged_as_get() {
        let read = pattern("GET /orders/{id}");
        assert!(read.is_match("HEAD", "/orders/1"));
        assert!(read.matches("head", "/orders/1").is_some());
        assert!(!pattern("POST /orders").is_match("HEAD", "/orders"));
        assert!(pattern("HEAD /orders").is_match("HEAD", "/orders"));
        assert!(!pattern("HEAD /orders").is_match("GET", "/orders"));
    }

    #[test]
    fn the_short_form_of_scope_rules() {
        let short = |method, path| RoutePattern::parse_short(method, path).expect(path);
        let admin = short(None, "/admin/*");
        for path in ["/admin", "/admin/x", "/ADMIN/x/y"] {
            assert!(admin.is_match("DELETE", path), "{path}");
        }
        assert!(!admin.is_match("GET", "/administrator"));
        assert!(short(None, "*").is_match("GET", "/"));
        assert!(short(None, "*").is_match("PUT", "/a/b"));
        assert!(short(Some("post"), "/orders/").is_match("POST", "/orders"));
        assert!(!short(Some("post"), "/orders").is_match("GET", "/orders"));
        assert!(short(Some("GET"), "/orders/{id}").is_match("HEAD", "/orders/7"));
        assert!(RoutePattern::parse_short(None, "/a/*/b").is_err());
        assert!(
            RoutePattern::parse("ANY /admin/*").expect("a literal `*` in a policy route").is_match("GET", "/admin/*")
        );
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
    fn overlapping_patterns() {
        let short = |key: &str| {
            let (method, path) = key.split_once(' ').expect(key);
            RoutePattern::parse_short(Some(method), path).expect(key)
        };
        for (a, b, overlap) in [
            ("ANY /admin/*", "GET /admin/public", true),
            ("ANY /admin/*", "GET /admin", true),
            ("ANY /admin/*", "GET /{x}/public", true),
            ("ANY /admin/*", "GET /public/{x}", false),
            ("GET /orders/{id}", "HEAD /orders/7", true),
            ("HEAD /orders/{id}", "GET /orders/7", true),
            ("POST /orders/{id}", "GET /orders/7", false),
            ("ANY /files/{proxy+}", "GET /files", false),
            ("ANY /files/{proxy+}", "GET /files/a/b", true),
            ("ANY /{proxy+}", "GET /", false),
            ("ANY /*", "GET /", true),
            ("GET /a/{x}", "GET /a/b/c", false),
            ("GET /ADMIN/x", "GET /admin/{y}", true),
        ] {
            assert_eq!(short(a).overlaps(&short(b)), overlap, "{a} / {b}");
            assert_eq!(short(b).overlaps(&short(a)), overlap, "{b} / {a}");
        }
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
            ("GET /caf%C3%A9/x", "write the segment `caf%C3%A9` as requests are matched, `café`"),
            ("GET /a/../b", "can never match a request: the path has a `.` or `..` segment"),
            ("GET /admin./x", "can never match a request"),
            ("GET /a;b", "can never match a request"),
        ] {
            let error = RoutePattern::parse(key).expect_err(key);
            assert!(error.contains(expected), "{key}: {error}");
        }
    }
}
