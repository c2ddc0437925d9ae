//! A Lambda authorizer's identity sources read from a request: every one must be there, or API
//! Gateway answers 401 without invoking the authorizer.

use serde_json::Value as Json;

use super::payload::HttpRequest;
use crate::template::IdentitySource;

/// The value of one identity source, or `None` when the request lacks it (or it is empty).
fn value(source: &IdentitySource, request: &HttpRequest<'_>, context: &Json) -> Option<String> {
    let found = match source {
        IdentitySource::Header(name) => {
            let values: Vec<&str> =
                request.headers.get_all(name.as_str()).iter().filter_map(|v| v.to_str().ok()).collect();
            (!values.is_empty()).then(|| values.join(","))
        }
        IdentitySource::QueryString(name) => {
            let values: Vec<String> = form_urlencoded::parse(request.query.as_bytes())
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
                .collect();
            (!values.is_empty()).then(|| values.join(","))
        }
        // Stage variables are not emulated: an authorizer that needs one is never satisfied.
        IdentitySource::StageVariable(_) => None,
        IdentitySource::Context(name) => {
            let mut value = context;
            for key in name.split('.') {
                value = value.get(key)?;
            }
            match value {
                Json::Null => None,
                Json::String(text) => Some(text.clone()),
                other => Some(other.to_string()),
            }
        }
    };
    found.filter(|value| !value.trim().is_empty())
}

/// Every identity source's value in order, or `None` if one is missing. `context` is the
/// event's `requestContext`, which `$context.*` sources read.
pub(crate) fn values(sources: &[IdentitySource], request: &HttpRequest<'_>, context: &Json) -> Option<Vec<String>> {
    sources.iter().map(|source| value(source, request, context)).collect()
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_headers_query_and_context() {
        let mut headers = HeaderMap::new();
        headers.insert("x-token", "abc".parse().expect("header"));
        headers.insert("x-blank", " ".parse().expect("header"));
        let body = Bytes::new();
        let request = HttpRequest {
            method: "GET",
            path: "/a",
            query: "q=1&q=2&r=",
            headers: &headers,
            body: &body,
            source_ip: "127.0.0.1".to_owned(),
        };
        let context = json!({"routeKey": "GET /a", "http": {"method": "GET"}});
        let sources = [
            IdentitySource::Header("X-Token".to_owned()),
            IdentitySource::QueryString("q".to_owned()),
            IdentitySource::Context("routeKey".to_owned()),
            IdentitySource::Context("http.method".to_owned()),
        ];
        assert_eq!(
            values(&sources, &request, &context),
            Some(vec!["abc".into(), "1,2".into(), "GET /a".into(), "GET".into()])
        );
        for missing in [
            IdentitySource::Header("x-other".to_owned()),
            IdentitySource::Header("x-blank".to_owned()),
            IdentitySource::QueryString("r".to_owned()),
            IdentitySource::QueryString("Q".to_owned()),
            IdentitySource::StageVariable("stage".to_owned()),
            IdentitySource::Context("nothing".to_owned()),
        ] {
            assert_eq!(values(std::slice::from_ref(&missing), &request, &context), None, "{missing:?}");
        }
    }
}
