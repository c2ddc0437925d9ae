//! Route matching as API Gateway does it: exact paths before parameters before greedy paths,
//! and a route's own method before `ANY`.

use std::collections::BTreeMap;

/// One segment of a route template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// A route: method and path template, with what it leads to.
#[derive(Debug, Clone)]
pub struct Route<T> {
    /// Upper-case method or `ANY`.
    pub method: String,
    /// The template as written (`/orders/{id}`).
    pub path: String,
    segments: Vec<Segment>,
    /// What the route leads to.
    pub target: T,
}

/// A matched route and its path parameters.
#[derive(Debug)]
pub struct Match<'a, T> {
    /// The route.
    pub route: &'a Route<T>,
    /// `{name}` → value (the greedy one under its name without `+`).
    pub params: BTreeMap<String, String>,
}

fn parse(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => match name.strip_suffix('+') {
                Some(greedy) => Segment::Greedy(greedy.to_owned()),
                None => Segment::Param(name.to_owned()),
            },
            None => Segment::Literal(s.to_owned()),
        })
        .collect()
}

impl<T> Route<T> {
    /// A route for `method` and `path`.
    pub fn new(method: &str, path: &str, target: T) -> Self {
        Route { method: method.to_ascii_uppercase(), path: path.to_owned(), segments: parse(path), target }
    }

    fn matches(&self, method: &str, segments: &[&str]) -> Option<BTreeMap<String, String>> {
        if self.method != "ANY" && self.method != method {
            return None;
        }
        let mut params = BTreeMap::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) => {
                    if segments.get(i) != Some(&literal.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    params.insert(name.clone(), (*segments.get(i)?).to_owned());
                }
                Segment::Greedy(name) => {
                    if segments.len() <= i {
                        return None;
                    }
                    params.insert(name.clone(), segments[i..].join("/"));
                    return Some(params);
                }
            }
        }
        (segments.len() == self.segments.len()).then_some(params)
    }

    /// Sort key: literal segments first, then parameters, then greedy; own method before ANY.
    fn rank(&self) -> Vec<u8> {
        let mut rank: Vec<u8> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 0,
                Segment::Param(_) => 1,
                Segment::Greedy(_) => 2,
            })
            .collect();
        rank.push(u8::from(self.method == "ANY"));
        rank
    }
}

/// The route that serves `method` and `path`, by API Gateway's precedence.
pub fn find<'a, T>(routes: &'a [Route<T>], method: &str, path: &str) -> Option<Match<'a, T>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    routes
        .iter()
        .filter_map(|route| route.matches(method, &segments).map(|params| (route, params)))
        .min_by(|(a, _), (b, _)| a.rank().cmp(&b.rank()))
        .map(|(route, params)| Match { route, params })
}

/// The route that would serve `path` with its own method: which route (and so which API) owns
/// a path, whatever the method asked.
pub fn find_path<'a, T>(routes: &'a [Route<T>], path: &str) -> Option<&'a Route<T>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    routes.iter().filter(|route| route.matches(&route.method, &segments).is_some()).min_by_key(|route| route.rank())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<Route<&'static str>> {
        vec![
            Route::new("ANY", "/{proxy+}", "greedy"),
            Route::new("GET", "/orders/{id}", "param"),
            Route::new("GET", "/orders/latest", "exact"),
            Route::new("ANY", "/orders/{id}", "any-param"),
            Route::new("POST", "/", "root"),
        ]
    }

    #[test]
    fn api_gateway_precedence() {
        let routes = routes();
        let target = |method, path| find(&routes, method, path).map(|m| m.route.target);
        assert_eq!(target("GET", "/orders/latest"), Some("exact"));
        assert_eq!(target("GET", "/orders/42"), Some("param"));
        assert_eq!(target("DELETE", "/orders/42"), Some("any-param"));
        assert_eq!(target("GET", "/a/b/c"), Some("greedy"));
        assert_eq!(target("POST", "/"), Some("root"));
        assert_eq!(target("GET", "/"), None, "greedy needs at least one segment");
        let found = find(&routes, "GET", "/orders/42").expect("match");
        assert_eq!(found.params["id"], "42");
        let greedy = find(&routes, "PUT", "/files/a/b.txt").expect("match");
        assert_eq!(greedy.params["proxy"], "files/a/b.txt");
        assert_eq!(find_path(&routes, "/orders/latest").map(|r| r.target), Some("exact"));
        assert_eq!(find_path(&routes, "/").map(|r| r.target), Some("root"), "whatever the method");
    }
}
