//! The Lambda Invoke API that `local start-lambda` serves, so AWS SDKs and
//! `aws lambda invoke --endpoint-url` work against local functions.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use crate::pool::FunctionPool;
use crate::sandbox::{MAX_RESPONSE_BYTES, Outcome, Request};

/// Functions by name.
pub type Pools = Arc<HashMap<String, Arc<FunctionPool>>>;

/// The Invoke API's routes over `pools`.
pub fn router(pools: Pools) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .layer(DefaultBodyLimit::max(2 * MAX_RESPONSE_BYTES))
        .with_state(pools)
}

/// An error as the Lambda service sends it: `x-amzn-ErrorType` and a `{Type, message}` body.
fn service_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({ "Type": "User", "message": message }))).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `name`, `name:qualifier` or an ARN `arn:aws:lambda:…:function:name[:qualifier]`.
fn function_name(name: &str) -> &str {
    let name = name.split_once(":function:").map_or(name, |(_, rest)| rest);
    name.split(':').next().unwrap_or(name)
}

async fn invoke(State(pools): State<Pools>, Path(name): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(pool) = pools.get(function_name(&name)).cloned() else {
        return service_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        );
    };
    if body.len() > MAX_RESPONSE_BYTES {
        return service_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            &format!(
                "{} byte payload is too large for the RequestResponse invocation type (limit {MAX_RESPONSE_BYTES} bytes)",
                body.len()
            ),
        );
    }
    let event = if body.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { body };
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&event) {
        return service_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            &format!("Could not parse request body into json: {error}"),
        );
    }
    let client_context = match header(&headers, "x-amz-client-context") {
        None => None,
        Some(encoded) => match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(decoded) => Some(String::from_utf8_lossy(&decoded).into_owned()),
            Err(_) => {
                return service_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    "X-Amz-Client-Context must be base64",
                );
            }
        },
    };
    let mut request = Request::new(event);
    request.client_context = client_context;
    match header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse") {
        "RequestResponse" => {}
        "Event" => {
            tokio::spawn(async move {
                if let Err(error) = pool.invoke(request).await {
                    eprintln!("intercept-sam: {} failed to initialise: {}", pool.name(), error.error_message);
                }
            });
            return StatusCode::ACCEPTED.into_response();
        }
        "DryRun" => return StatusCode::NO_CONTENT.into_response(),
        other => {
            return service_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("X-Amz-Invocation-Type `{other}` is not one of RequestResponse, Event, DryRun"),
            );
        }
    }
    let tail = header(&headers, "x-amz-log-type") == Some("Tail");
    let (outcome, log_tail) = if tail {
        match pool.invoke_to_end(request).await {
            // The tail ends with the invocation's END and REPORT lines, as Lambda's does.
            Ok(completed) => (Ok(completed.invoked.outcome), Some(completed.log_tail)),
            Err(error) => (Err(error), None),
        }
    } else {
        (pool.invoke(request).await, None)
    };
    let mut response = match outcome {
        Ok(Outcome::Response(body)) => (StatusCode::OK, body).into_response(),
        Ok(Outcome::Error(error)) | Err(error) => {
            let mut response = (StatusCode::OK, axum::Json(error.body)).into_response();
            response.headers_mut().insert("x-amz-function-error", HeaderValue::from_static("Unhandled"));
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert("x-amz-executed-version", HeaderValue::from_static("$LATEST"));
    if let Some(log) = log_tail {
        let tail = &log.as_bytes()[log.len().saturating_sub(4096)..];
        if let Ok(value) = HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(tail)) {
            headers.insert("x-amz-log-result", value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn function_names_from_names_and_arns() {
        assert_eq!(super::function_name("Hello"), "Hello");
        assert_eq!(super::function_name("Hello:$LATEST"), "Hello");
        assert_eq!(super::function_name("arn:aws:lambda:us-east-1:123456789012:function:Hello"), "Hello");
        assert_eq!(super::function_name("arn:aws:lambda:us-east-1:123456789012:function:Hello:live"), "Hello");
    }
}
