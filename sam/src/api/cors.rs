//! CORS as API Gateway answers it. A REST API with `Cors` gets the OPTIONS mock SAM adds to each
//! of its paths (static headers, whatever the origin; the function's own responses are left to
//! the function, as Lambda proxy integrations are). An HTTP API with `CorsConfiguration`
//! answers preflights no route takes itself, and adds the headers to every response to an
//! allowed origin, dropping the function's own.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::payload::HttpResponse;
use crate::template::Cors;

const ALL_METHODS: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn push(response: &mut HttpResponse, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers.push((HeaderName::from_static(name), value));
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
#[must_use]
pub(crate) fn is_preflight(method: &str, headers: &HeaderMap) -> bool {
    method == "OPTIONS" && headers.contains_key("origin") && headers.contains_key("access-control-request-method")
}

/// The `Access-Control-Allow-Methods` SAM writes for a path when `Cors` names none: the path's
/// methods and OPTIONS, or every method when one route is `ANY`.
#[must_use]
pub(crate) fn path_methods<'a>(methods: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = vec!["OPTIONS".to_owned()];
    for method in methods {
        if method.eq_ignore_ascii_case("ANY") {
            return ALL_METHODS.iter().map(|m| (*m).to_owned()).collect();
        }
        out.push(method.to_ascii_uppercase());
    }
    out.sort();
    out.dedup();
    out
}

/// A REST API's OPTIONS mock for a path: `200 {}` with the configured headers.
#[must_use]
pub(crate) fn rest_mock(cors: &Cors, methods: &[String]) -> HttpResponse {
    let mut response = HttpResponse {
        status: StatusCode::OK,
        headers: vec![(HeaderName::from_static("content-type"), HeaderValue::from_static("application/json"))],
        body: Bytes::from_static(b"{}"),
    };
    push(&mut response, "access-control-allow-origin", &cors.allow_origins.join(","));
    if !cors.allow_headers.is_empty() {
        push(&mut response, "access-control-allow-headers", &cors.allow_headers.join(","));
    }
    let methods = if cors.allow_methods.is_empty() { methods } else { cors.allow_methods.as_slice() };
    push(&mut response, "access-control-allow-methods", &methods.join(","));
    if let Some(max_age) = &cors.max_age {
        push(&mut response, "access-control-max-age", max_age);
    }
    if cors.allow_credentials {
        push(&mut response, "access-control-allow-credentials", "true");
    }
    response
}

/// The `Access-Control-Allow-Origin` an HTTP API sends for `origin`: `*` when every origin is
/// allowed, the origin itself when it is listed (or its scheme is, as `https://*`), else none.
fn allowed_origin(cors: &Cors, origin: &str) -> Option<String> {
    let matches = |allowed: &String| {
        allowed.eq_ignore_ascii_case(origin)
            || allowed.strip_suffix('*').is_some_and(|scheme| {
                scheme.ends_with("://") && origin.get(..scheme.len()).is_some_and(|o| o.eq_ignore_ascii_case(scheme))
            })
    };
    if cors.allow_origins.iter().any(|o| o == "*") {
        Some("*".to_owned())
    } else {
        cors.allow_origins.iter().any(matches).then(|| origin.to_owned())
    }
}

fn listed(allowed: &[String], wanted: &str) -> bool {
    allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(wanted))
}

/// An HTTP API's own answer to a preflight no route takes: `204`, with the CORS headers only
/// when the origin, the method and every requested header are allowed.
#[must_use]
pub(crate) fn http_preflight(cors: &Cors, headers: &HeaderMap) -> HttpResponse {
    let mut response = HttpResponse { status: StatusCode::NO_CONTENT, headers: Vec::new(), body: Bytes::new() };
    let origin = header(headers, "origin").unwrap_or_default();
    let method = header(headers, "access-control-request-method").unwrap_or_default();
    let requested = header(headers, "access-control-request-headers").unwrap_or_default();
    let Some(allowed) = allowed_origin(cors, &origin) else { return response };
    let method_ok = listed(&cors.allow_methods, method.trim());
    let headers_ok =
        requested.split(',').map(str::trim).filter(|h| !h.is_empty()).all(|h| listed(&cors.allow_headers, h));
    if !(method_ok && headers_ok) {
        return response;
    }
    push(&mut response, "access-control-allow-origin", &allowed);
    if !cors.allow_methods.is_empty() {
        push(&mut response, "access-control-allow-methods", &cors.allow_methods.join(","));
    }
    if !cors.allow_headers.is_empty() {
        push(&mut response, "access-control-allow-headers", &cors.allow_headers.join(","));
    }
    if let Some(max_age) = &cors.max_age {
        push(&mut response, "access-control-max-age", max_age);
    }
    if cors.allow_credentials {
        push(&mut response, "access-control-allow-credentials", "true");
    }
    response
}

/// An HTTP API's CORS headers on a response: the function's own `Access-Control-*` headers go,
/// and an allowed origin gets `Allow-Origin`, `Allow-Credentials` and `Expose-Headers`.
pub(crate) fn http_decorate(cors: &Cors, request: &HeaderMap, response: &mut HttpResponse) {
    response.headers.retain(|(name, _)| !name.as_str().starts_with("access-control-"));
    let Some(allowed) = header(request, "origin").and_then(|origin| allowed_origin(cors, &origin)) else { return };
    push(response, "access-control-allow-origin", &allowed);
    if cors.allow_credentials {
        push(response, "access-control-allow-credentials", "true");
    }
    if !cors.expose_headers.is_empty() {
        push(response, "access-control-expose-headers", &cors.expose_headers.join(","));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(response: &'a HttpResponse, name: &str) -> Option<&'a str> {
        response.headers.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.to_str().ok())
    }

    fn request(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (HeaderName::from_static(n), v.parse().expect("value"))).collect()
    }

    fn http() -> Cors {
        Cors {
            allow_origins: vec!["https://app.example".into(), "http://*".into()],
            allow_methods: vec!["GET".into(), "PUT".into()],
            allow_headers: vec!["content-type".into(), "x-token".into()],
            expose_headers: vec!["x-request-id".into()],
            max_age: Some("600".into()),
            allow_credentials: true,
        }
    }

    #[test]
    fn http_preflights_match_origin_method_and_headers() {
        let cors = http();
        let ok = http_preflight(
            &cors,
            &request(&[
                ("origin", "https://app.example"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "Content-Type, X-Token"),
            ]),
        );
        assert_eq!(ok.status, 204);
        assert_eq!(value(&ok, "access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(value(&ok, "access-control-allow-methods"), Some("GET,PUT"));
        assert_eq!(value(&ok, "access-control-max-age"), Some("600"));
        assert_eq!(value(&ok, "access-control-allow-credentials"), Some("true"));
        let scheme = http_preflight(
            &cors,
            &request(&[("origin", "http://localhost:5173"), ("access-control-request-method", "GET")]),
        );
        assert_eq!(value(&scheme, "access-control-allow-origin"), Some("http://localhost:5173"), "http://* allows it");
        for refused in [
            request(&[("origin", "https://evil.example"), ("access-control-request-method", "GET")]),
            request(&[("origin", "https://app.example.evil"), ("access-control-request-method", "GET")]),
            request(&[("origin", "https://app.example"), ("access-control-request-method", "DELETE")]),
            request(&[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ]),
        ] {
            let response = http_preflight(&cors, &refused);
            assert_eq!(response.status, 204);
            assert!(response.headers.is_empty(), "{refused:?}");
        }
    }

    #[test]
    fn http_responses_get_the_headers_and_lose_the_functions_own() {
        let cors = http();
        let mut response = HttpResponse {
            status: StatusCode::OK,
            headers: vec![(HeaderName::from_static("access-control-allow-origin"), HeaderValue::from_static("*"))],
            body: Bytes::new(),
        };
        http_decorate(&cors, &request(&[("origin", "https://app.example")]), &mut response);
        assert_eq!(value(&response, "access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(value(&response, "access-control-expose-headers"), Some("x-request-id"));
        assert_eq!(response.headers.iter().filter(|(n, _)| n == "access-control-allow-origin").count(), 1);
        let mut other = HttpResponse { status: StatusCode::OK, headers: Vec::new(), body: Bytes::new() };
        http_decorate(&cors, &request(&[("origin", "https://evil.example")]), &mut other);
        assert!(other.headers.is_empty());
        let any = Cors { allow_origins: vec!["*".into()], ..Cors::default() };
        let mut star = HttpResponse { status: StatusCode::OK, headers: Vec::new(), body: Bytes::new() };
        http_decorate(&any, &request(&[("origin", "https://x.example")]), &mut star);
        assert_eq!(value(&star, "access-control-allow-origin"), Some("*"));
    }

    #[test]
    fn rest_mocks_send_what_sam_configured() {
        let cors = Cors { allow_origins: vec!["https://app.example".into()], ..Cors::default() };
        let mock = rest_mock(&cors, &path_methods(["get", "POST"]));
        assert_eq!((mock.status.as_u16(), mock.body.as_ref()), (200, b"{}".as_slice()));
        assert_eq!(value(&mock, "access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(value(&mock, "access-control-allow-methods"), Some("GET,OPTIONS,POST"));
        assert_eq!(value(&mock, "access-control-allow-headers"), None);
        assert_eq!(path_methods(["GET", "ANY"]).join(","), "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT");
    }
}
