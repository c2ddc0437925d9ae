//! HTTP requests to API Gateway events (payload formats 1.0 and 2.0), and function responses
//! back to HTTP, as API Gateway and function URLs translate them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use base64::Engine as _;
use serde_json::{Map, Value as Json, json};

use crate::sandbox::{Prelude, split_prelude};
use crate::template::{ApiKind, ApiStage};

/// What API Gateway knows of a request when it builds the event.
#[derive(Debug)]
pub struct HttpRequest<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a Bytes,
    /// The client's address.
    pub source_ip: String,
}

/// Where the request was routed.
#[derive(Debug)]
pub struct Routed<'a> {
    /// The route template (`/orders/{id}`), or `None` for a function URL.
    pub route: Option<&'a str>,
    /// `{name}` values.
    pub params: &'a BTreeMap<String, String>,
    /// The authorizer's context (`{"jwt": {"claims": …, "scopes": …}}`), if one ran.
    pub authorizer: Option<Json>,
    /// The domain name the function believes it is served on.
    pub domain: String,
}

fn body_field(body: &Bytes) -> (Json, bool) {
    if body.is_empty() {
        return (Json::Null, false);
    }
    match std::str::from_utf8(body) {
        Ok(text) => (Json::String(text.to_owned()), false),
        Err(_) => (Json::String(base64::engine::general_purpose::STANDARD.encode(body)), true),
    }
}

/// The event format a route's function gets (`PayloadFormatVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadVersion {
    /// `1.0`: REST APIs, and HTTP APIs that ask for it.
    V1,
    /// `2.0`: HTTP APIs (their default) and function URLs.
    V2,
}

impl PayloadVersion {
    /// The version a route's `PayloadFormatVersion` names (`1.0`, else `2.0`).
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        if name == "1.0" { PayloadVersion::V1 } else { PayloadVersion::V2 }
    }
}

/// A `Content-Type` or `Accept` entry's media type: lower case, parameters dropped.
fn media_type(value: &str) -> String {
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Whether `media` is one of an API's `BinaryMediaTypes` (`image/png`, `image/*`, `*/*`).
#[must_use]
pub fn is_binary_media(binary_media_types: &[String], media: &str) -> bool {
    let media = media_type(media);
    !media.is_empty()
        && binary_media_types.iter().any(|pattern| {
            pattern == "*/*"
                || *pattern == media
                || pattern.strip_suffix("/*").is_some_and(|kind| media.split('/').next() == Some(kind))
        })
}

/// Whether an HTTP API passes a body of this content type as text: `text/*`, JSON, XML,
/// JavaScript and YAML; any other is binary to it, and reaches the function in base64.
fn is_text_media(media: &str) -> bool {
    let media = media_type(media);
    media.starts_with("text/")
        || media.ends_with("+json")
        || media.ends_with("+xml")
        || matches!(
            media.as_str(),
            "application/json" | "application/javascript" | "application/xml" | "application/yaml"
        )
}

/// The request body as API Gateway puts it in the event: a REST API base64-encodes it when its
/// content type is one of the API's `BinaryMediaTypes` (and passes any other as UTF-8 text); an
/// HTTP API when its content type is not text (without one, when it is not UTF-8).
fn gateway_body(kind: ApiKind, stage: &ApiStage, request: &HttpRequest<'_>) -> (Json, bool) {
    let body = request.body;
    if body.is_empty() {
        return (Json::Null, false);
    }
    let content_type = request.headers.get("content-type").and_then(|v| v.to_str().ok());
    let binary = match (kind, content_type) {
        (ApiKind::Rest, content_type) => is_binary_media(&stage.binary_media_types, content_type.unwrap_or_default()),
        (ApiKind::Http, Some(content_type)) => !is_text_media(content_type),
        (ApiKind::Http, None) => return body_field(body),
    };
    if binary {
        (Json::String(base64::engine::general_purpose::STANDARD.encode(body)), true)
    } else {
        (Json::String(String::from_utf8_lossy(body).into_owned()), false)
    }
}

fn stage_variables(stage: &ApiStage) -> Json {
    if stage.variables.is_empty() { Json::Null } else { json!(stage.variables) }
}

/// The event an API route's function gets: payload format `version` of a `kind` API, with its
/// stage (`requestContext.stage`, `stageVariables`) and its binary media types.
#[must_use]
pub fn api_event(
    kind: ApiKind,
    version: PayloadVersion,
    stage: &ApiStage,
    request: &HttpRequest<'_>,
    routed: &Routed<'_>,
) -> Json {
    let body = gateway_body(kind, stage, request);
    match version {
        PayloadVersion::V2 => {
            let mut event = event_v2(request, routed);
            event["requestContext"]["stage"] = Json::String(stage.name.clone());
            if !stage.variables.is_empty() {
                event["stageVariables"] = stage_variables(stage);
            }
            match body {
                (Json::Null, _) => {}
                (body, is_base64) => {
                    event["body"] = body;
                    event["isBase64Encoded"] = Json::Bool(is_base64);
                }
            }
            event
        }
        PayloadVersion::V1 => {
            let mut event = event_v1(request, routed);
            let context = &mut event["requestContext"];
            context["stage"] = Json::String(stage.name.clone());
            context["path"] = Json::String(if stage.name == "$default" {
                request.path.to_owned()
            } else {
                format!("/{}{}", stage.name, request.path)
            });
            event["stageVariables"] = stage_variables(stage);
            event["body"] = body.0;
            event["isBase64Encoded"] = Json::Bool(body.1);
            if kind == ApiKind::Http {
                // An HTTP API's 1.0 events say which format they are; a REST API's do not.
                if let Json::Object(fields) = &mut event {
                    fields.insert("version".to_owned(), Json::String("1.0".to_owned()));
                }
            }
            event
        }
    }
}

fn now_fields() -> (String, u64) {
    let now = SystemTime::now();
    let epoch_ms = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    (humantime::format_rfc3339_seconds(now).to_string(), epoch_ms)
}

fn request_id() -> String {
    let bytes: [u8; 8] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The event for payload format 2.0 (HTTP APIs and function URLs).
#[must_use]
pub fn event_v2(request: &HttpRequest<'_>, routed: &Routed<'_>) -> Json {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in request.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Json::String(c.trim().to_owned())).filter(|c| c != ""));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Json::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Json::String(value));
            }
        }
    }
    let mut query = Map::new();
    for (key, value) in form_urlencoded::parse(request.query.as_bytes()) {
        match query.get_mut(key.as_ref()) {
            Some(Json::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                query.insert(key.into_owned(), Json::String(value.into_owned()));
            }
        }
    }
    let route_key = routed.route.map_or_else(|| "$default".to_owned(), |route| format!("{} {route}", request.method));
    let (time, epoch_ms) = now_fields();
    let (body, is_base64) = body_field(request.body);
    let user_agent = request.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": routed.domain,
        "domainPrefix": routed.domain.split('.').next().unwrap_or_default(),
        "http": {
            "method": request.method, "path": request.path, "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip, "userAgent": user_agent,
        },
        "requestId": request_id(),
        "routeKey": route_key,
        "stage": "$default",
        "time": time,
        "timeEpoch": epoch_ms,
    });
    if let Some(authorizer) = &routed.authorizer {
        context["authorizer"] = authorizer.clone();
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = Json::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Json::Object(query);
    }
    if !routed.params.is_empty() {
        event["pathParameters"] = json!(routed.params);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// The event for payload format 1.0 (REST APIs).
#[must_use]
pub fn event_v1(request: &HttpRequest<'_>, routed: &Routed<'_>) -> Json {
    let mut headers = Map::new();
    let mut multi_headers: Map<String, Json> = Map::new();
    for (name, value) in request.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert(name.as_str().to_owned(), Json::String(value.clone()));
        if let Json::Array(values) =
            multi_headers.entry(name.as_str().to_owned()).or_insert_with(|| Json::Array(Vec::new()))
        {
            values.push(Json::String(value));
        }
    }
    let mut query = Map::new();
    let mut multi_query: Map<String, Json> = Map::new();
    for (key, value) in form_urlencoded::parse(request.query.as_bytes()) {
        query.insert(key.clone().into_owned(), Json::String(value.clone().into_owned()));
        if let Json::Array(values) = multi_query.entry(key.into_owned()).or_insert_with(|| Json::Array(Vec::new())) {
            values.push(Json::String(value.into_owned()));
        }
    }
    let resource = routed.route.unwrap_or(request.path);
    let (_, epoch_ms) = now_fields();
    let (body, is_base64) = body_field(request.body);
    let user_agent = request.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let or_null = |map: Map<String, Json>| if map.is_empty() { Json::Null } else { Json::Object(map) };
    json!({
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": or_null(headers),
        "multiValueHeaders": or_null(multi_headers),
        "queryStringParameters": or_null(query),
        "multiValueQueryStringParameters": or_null(multi_query),
        "pathParameters": if routed.params.is_empty() { Json::Null } else { json!(routed.params) },
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "resourcePath": resource,
            "httpMethod": request.method, "path": format!("/Prod{}", request.path), "stage": "Prod",
            "protocol": "HTTP/1.1", "requestId": request_id(), "requestTimeEpoch": epoch_ms,
            "identity": { "sourceIp": request.source_ip, "userAgent": user_agent },
            "domainName": routed.domain,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// An HTTP response to send back.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers, repeated names allowed.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body.
    pub body: Bytes,
}

/// API Gateway's answer when the integration fails: `502 {"message":"Internal server error"}`.
#[must_use]
pub fn bad_gateway() -> HttpResponse {
    message(StatusCode::BAD_GATEWAY, "Internal server error")
}

/// A `{"message": …}` response, as API Gateway sends its own errors.
#[must_use]
pub fn message(status: StatusCode, text: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![(HeaderName::from_static("content-type"), HeaderValue::from_static("application/json"))],
        body: Bytes::from(json!({ "message": text }).to_string()),
    }
}

/// A response API Gateway makes itself: `body` as JSON, with `x-amzn-ErrorType` when it names one.
#[must_use]
pub fn gateway_error(status: StatusCode, body: &Json, error_type: Option<&str>) -> HttpResponse {
    let mut headers = vec![(HeaderName::from_static("content-type"), HeaderValue::from_static("application/json"))];
    if let Some(value) = error_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.push((HeaderName::from_static("x-amzn-errortype"), value));
    }
    HttpResponse { status, headers, body: Bytes::from(body.to_string()) }
}

fn push_header(headers: &mut Vec<(HeaderName, HeaderValue)>, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        headers.push((name, value));
    }
}

/// Turns what an API route's function returned into the HTTP response API Gateway sends: a 1.0
/// answer must have the proxy shape (a 2.0 answer without `statusCode` is a 200 JSON body); an
/// HTTP API decodes a base64 body (`isBase64Encoded`) whatever its type, a REST API only when
/// the first media type of the request's `Accept` or the response's `Content-Type` is one of its
/// `BinaryMediaTypes` (else the base64 text is the body, as API Gateway sends it).
#[must_use]
pub fn api_response(
    kind: ApiKind,
    version: PayloadVersion,
    stage: &ApiStage,
    request_headers: &HeaderMap,
    output: &Bytes,
) -> HttpResponse {
    let Ok(value) = serde_json::from_slice::<Json>(output) else { return bad_gateway() };
    if version == PayloadVersion::V1 && value.get("statusCode").is_none() {
        return bad_gateway();
    }
    let mut response = http_response(ApiKind::Http, output);
    let encoded = value["isBase64Encoded"].as_bool().unwrap_or(false);
    if kind == ApiKind::Rest && encoded {
        // API Gateway honours only the first media type of the request's Accept header.
        let accepted = request_headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|media| is_binary_media(&stage.binary_media_types, media));
        let content_type = response
            .headers
            .iter()
            .find(|(name, _)| name == "content-type")
            .and_then(|(_, v)| v.to_str().ok())
            .is_some_and(|media| is_binary_media(&stage.binary_media_types, media));
        if !accepted
            && !content_type
            && let Json::String(text) = &value["body"]
        {
            response.body = Bytes::from(text.clone());
        }
    }
    response
}

/// The status, headers and cookies of a streamed HTTP response's JSON prelude (the bytes before
/// its eight NUL bytes; a prelude without a valid `statusCode` is a 502), or `None` when the
/// prelude is not JSON.
pub(crate) fn prelude_response(prelude: &[u8]) -> Option<HttpResponse> {
    let prelude = serde_json::from_slice::<Json>(prelude).ok()?;
    Some(structured(&prelude, Bytes::new()).unwrap_or_else(bad_gateway))
}

/// Turns what the function returned into the HTTP response API Gateway would send.
#[must_use]
pub fn http_response(kind: ApiKind, output: &Bytes) -> HttpResponse {
    // A streamed HTTP response starts with a JSON prelude and eight NUL bytes.
    if let Prelude::Complete(prelude, body) = split_prelude(output)
        && let Some(mut response) = prelude_response(&prelude)
    {
        response.body = body;
        return response;
    }
    let Ok(value) = serde_json::from_slice::<Json>(output) else { return bad_gateway() };
    if value.get("statusCode").is_some() {
        let body = match (&value["body"], value["isBase64Encoded"].as_bool().unwrap_or(false)) {
            (Json::String(text), true) => match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(bytes) => Bytes::from(bytes),
                Err(_) => return bad_gateway(),
            },
            (Json::String(text), false) => Bytes::from(text.clone()),
            (Json::Null, _) => Bytes::new(),
            (other, _) => Bytes::from(other.to_string()),
        };
        return structured(&value, body).unwrap_or_else(bad_gateway);
    }
    match kind {
        // REST APIs need the proxy response shape.
        ApiKind::Rest => bad_gateway(),
        // HTTP APIs infer a 200 with the JSON as the body.
        ApiKind::Http => HttpResponse {
            status: StatusCode::OK,
            headers: vec![(HeaderName::from_static("content-type"), HeaderValue::from_static("application/json"))],
            body: match &value {
                Json::String(text) => Bytes::from(text.clone()),
                other => Bytes::from(other.to_string()),
            },
        },
    }
}

fn structured(value: &Json, body: Bytes) -> Option<HttpResponse> {
    let status = StatusCode::from_u16(u16::try_from(value["statusCode"].as_u64()?).ok()?).ok()?;
    let mut headers = Vec::new();
    if let Some(single) = value["headers"].as_object() {
        for (name, value) in single {
            push_header(&mut headers, name, &crate::template::json_text(value));
        }
    }
    if let Some(multi) = value["multiValueHeaders"].as_object() {
        for (name, values) in multi {
            for value in values.as_array().into_iter().flatten() {
                push_header(&mut headers, name, &crate::template::json_text(value));
            }
        }
    }
    for cookie in value["cookies"].as_array().into_iter().flatten().filter_map(Json::as_str) {
        push_header(&mut headers, "set-cookie", cookie);
    }
    Some(HttpResponse { status, headers, body })
}

/// The fuzz target's checks (see `crate::fuzzing::api_payloads`): `data` is
/// `content-type\naccept\nbytes`, the bytes both a request body and a function's answer.
pub(crate) fn fuzz(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (content_type, accept) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let bytes = Bytes::copy_from_slice(parts.next().unwrap_or_default());
    let mut headers = HeaderMap::new();
    for (name, value) in [("content-type", content_type), ("accept", accept)] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(name, value);
        }
    }
    let request = HttpRequest {
        method: "POST",
        path: "/p",
        query: "",
        headers: &headers,
        body: &bytes,
        source_ip: "127.0.0.1".into(),
    };
    let params = BTreeMap::new();
    let routed = Routed { route: Some("/p"), params: &params, authorizer: None, domain: "localhost".into() };
    for kind in [ApiKind::Rest, ApiKind::Http] {
        let mut stage = ApiStage::default_for(kind);
        stage.binary_media_types = vec!["image/*".to_owned(), "application/octet-stream".to_owned()];
        for version in [PayloadVersion::V1, PayloadVersion::V2] {
            let event = api_event(kind, version, &stage, &request, &routed);
            match (&event["body"], event["isBase64Encoded"].as_bool()) {
                (Json::Null, _) => assert!(bytes.is_empty(), "a body went missing"),
                (Json::String(body), Some(true)) => {
                    let decoded = base64::engine::general_purpose::STANDARD.decode(body).expect("base64");
                    assert_eq!(decoded, bytes.as_ref(), "the base64 body is not the request's");
                }
                (Json::String(body), Some(false)) => assert_eq!(*body, String::from_utf8_lossy(&bytes)),
                other => panic!("body and isBase64Encoded disagree: {other:?}"),
            }
            let response = api_response(kind, version, &stage, &headers, &bytes);
            let shaped = serde_json::from_slice::<Json>(&bytes).is_ok_and(|v| v.get("statusCode").is_some());
            if version == PayloadVersion::V1 && !shaped {
                assert_eq!(response.status, StatusCode::BAD_GATEWAY, "a 1.0 answer without statusCode");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest_stage() -> ApiStage {
        let mut stage = ApiStage::default_for(ApiKind::Rest);
        stage.binary_media_types = vec!["image/*".to_owned(), "application/octet-stream".to_owned()];
        stage
    }

    #[test]
    fn fuzz_checks_hold_for_sample_inputs() {
        fuzz(b"image/png\n*/*\n\x00\xff");
        fuzz(b"text/plain\nimage/png\n{\"statusCode\":200,\"body\":\"AAE=\",\"isBase64Encoded\":true}");
        fuzz(b"\n\n");
        fuzz(b"application/octet-stream");
    }

    #[test]
    fn binary_media_types_match_as_api_gateway_matches_them() {
        let types = rest_stage().binary_media_types;
        assert!(is_binary_media(&types, "image/png"));
        assert!(is_binary_media(&types, "Application/Octet-Stream; charset=binary"));
        assert!(!is_binary_media(&types, "text/plain"));
        assert!(!is_binary_media(&types, "*/*"), "a caller's */* is not a binary type");
        assert!(!is_binary_media(&types, ""));
        assert!(is_binary_media(&["*/*".to_owned()], "text/html"), "*/* makes every type binary");
        assert!(is_text_media("text/csv") && is_text_media("application/problem+json"));
        assert!(!is_text_media("application/x-www-form-urlencoded") && !is_text_media("application/pdf"));
    }

    #[test]
    fn rest_responses_are_decoded_only_for_binary_media_types() {
        let answer = |content_type: &str| {
            Bytes::from(
                json!({"statusCode": 200, "headers": {"content-type": content_type}, "body": "AAEC/w==", "isBase64Encoded": true})
                    .to_string(),
            )
        };
        let stage = rest_stage();
        let none = HeaderMap::new();
        let png = api_response(ApiKind::Rest, PayloadVersion::V1, &stage, &none, &answer("image/png"));
        assert_eq!(png.body.as_ref(), [0u8, 1, 2, 255]);
        let text = api_response(ApiKind::Rest, PayloadVersion::V1, &stage, &none, &answer("text/plain"));
        assert_eq!(text.body.as_ref(), b"AAEC/w==");
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("accept", HeaderValue::from_static(value));
            headers
        };
        let accepted = api_response(
            ApiKind::Rest,
            PayloadVersion::V1,
            &stage,
            &accept("image/webp, text/html"),
            &answer("text/plain"),
        );
        assert_eq!(accepted.body.as_ref(), [0u8, 1, 2, 255], "the first Accept media type is binary");
        let later = api_response(
            ApiKind::Rest,
            PayloadVersion::V1,
            &stage,
            &accept("text/html, image/webp"),
            &answer("text/plain"),
        );
        assert_eq!(
            later.body.as_ref(),
            b"AAEC/w==",
            "only the first Accept media type counts, as API Gateway reads it"
        );
        let mut two_lines = accept("text/html");
        two_lines.append("accept", HeaderValue::from_static("image/webp"));
        let second_line = api_response(ApiKind::Rest, PayloadVersion::V1, &stage, &two_lines, &answer("text/plain"));
        assert_eq!(second_line.body.as_ref(), b"AAEC/w==", "a second Accept header line does not count");
        let http = api_response(ApiKind::Http, PayloadVersion::V1, &stage, &none, &answer("text/plain"));
        assert_eq!(http.body.as_ref(), [0u8, 1, 2, 255], "an HTTP API decodes whatever the type");
        let bare = Bytes::from_static(br#"{"hello":"plain"}"#);
        assert_eq!(api_response(ApiKind::Http, PayloadVersion::V1, &stage, &none, &bare).status, 502);
        assert_eq!(api_response(ApiKind::Http, PayloadVersion::V2, &stage, &none, &bare).status, 200);
    }
}
