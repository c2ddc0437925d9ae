//! The Lambda Invoke API that `local start-lambda` serves, so AWS SDKs and
//! `aws lambda invoke --endpoint-url` work against local functions.

// Refusals are the HTTP response itself, made once per request; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts as _, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use crate::pool::{FunctionPool, Reservation};
use crate::sandbox::{ErrorDocument, MAX_RESPONSE_BYTES, Outcome, Request, new_uuid};

/// Functions by name.
pub type Pools = Arc<HashMap<String, Arc<FunctionPool>>>;

/// The Invoke API's routes over `pools`.
pub fn router(pools: Pools) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .merge(crate::invoke_stream::routes())
        .layer(DefaultBodyLimit::max(2 * MAX_RESPONSE_BYTES))
        .with_state(pools)
}

/// Lambda's limit on an `Event` invocation's payload (1 MB since 2025).
pub(crate) const ASYNC_PAYLOAD_LIMIT: usize = 1_048_576;

/// The account id in the ARNs the emulator makes (SAM CLI's).
const ACCOUNT_ID: &str = "123456789012";

/// An error as the Lambda service sends it: `x-amzn-ErrorType` and a `{Type, message}` body.
pub(crate) fn service_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    error_response(status, error_type, &json!({ "Type": "User", "message": message }))
}

fn error_response(status: StatusCode, error_type: &str, body: &serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

/// Lambda's 404 for a function, version or alias it does not have (`Message`, capitalised, as
/// Lambda spells it in this error).
fn not_found(arn: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &json!({ "Type": "User", "Message": format!("Function not found: {arn}") }),
    )
}

/// Lambda's 429 past a function's reserved concurrency.
pub(crate) fn throttled() -> Response {
    error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        &json!({
            "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
            "Type": "User",
            "message": "Rate Exceeded.",
        }),
    )
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `name`, `name:qualifier`, a partial ARN `account:function:name[:qualifier]` or an ARN
/// `arn:aws:lambda:…:function:name[:qualifier]`: the function's name and the qualifier.
fn split_name(name: &str) -> (&str, Option<&str>) {
    let name = name.split_once(":function:").map_or(name, |(_, rest)| rest);
    match name.split_once(':') {
        Some((function, qualifier)) => (function, Some(qualifier)),
        None => (name, None),
    }
}

/// The function `name` names in `pools`: by logical id, or by its `FunctionName`.
pub(crate) fn find_pool(pools: &Pools, name: &str) -> Option<Arc<FunctionPool>> {
    let (name, _) = split_name(name);
    pools.get(name).or_else(|| pools.values().find(|p| p.config().function_name.as_deref() == Some(name))).cloned()
}

fn region(pools: &Pools) -> &str {
    pools.values().next().map_or("us-east-1", |pool| pool.region())
}

/// A function resolved from an Invoke API request, with the version that runs.
pub(crate) struct Resolved {
    pub(crate) pool: Arc<FunctionPool>,
    /// The unqualified ARN, named as the caller named the function.
    arn: String,
    /// `$LATEST`, an alias or a version, as asked.
    qualifier: String,
    /// What `X-Amz-Executed-Version` says.
    pub(crate) executed_version: String,
}

/// The function and version a request names, or Lambda's error.
pub(crate) fn resolve(pools: &Pools, name: &str, query_qualifier: Option<&str>) -> Result<Resolved, Response> {
    let (function, derived) = split_name(name);
    let qualifier = match (derived, query_qualifier) {
        (Some(derived), Some(given)) if derived != given => {
            return Err(service_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "The derived qualifier from the function name does not match the specified qualifier.",
            ));
        }
        (Some(q), _) | (None, Some(q)) => Some(q),
        (None, None) => None,
    };
    let arn = |name: &str| format!("arn:aws:lambda:{}:{ACCOUNT_ID}:function:{name}", region(pools));
    let Some(pool) = find_pool(pools, function) else {
        return Err(not_found(&arn(function)));
    };
    // Lambda names a function by its name (`FunctionName`; SAM CLI's is its logical id) however it was called.
    let arn = arn(pool.config().function_name.as_deref().unwrap_or(pool.name()));
    let settings = &pool.config().settings;
    let executed_version = match qualifier {
        None | Some("$LATEST") => "$LATEST".to_owned(),
        Some(q) => match settings.aliases.iter().find(|(alias, _)| alias == q) {
            Some((_, version)) => version.clone(),
            // The template's code is the only version a local run has: version 1, once published.
            None if q == "1" && settings.published => "1".to_owned(),
            None => return Err(not_found(&format!("{arn}:{q}"))),
        },
    };
    let qualifier = qualifier.unwrap_or("$LATEST").to_owned();
    Ok(Resolved { pool, arn, qualifier, executed_version })
}

/// The `Qualifier` query parameter of an Invoke API request.
pub(crate) fn invocation_qualifier(uri: &Uri) -> Option<String> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "Qualifier")
        .map(|(_, value)| value.into_owned())
}

/// The request an Invoke API call makes, its payload checked as Lambda checks it: within
/// `limit` bytes, JSON (blank means `{}`), and a base64 `X-Amz-Client-Context`.
pub(crate) fn event_request(
    headers: &HeaderMap,
    body: Bytes,
    limit: usize,
    invocation_type: &str,
) -> Result<Request, Response> {
    if body.len() > limit {
        return Err(service_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            &format!(
                "{} byte payload is too large for the {invocation_type} invocation type (limit {limit} bytes)",
                body.len()
            ),
        ));
    }
    let event = if body.iter().all(u8::is_ascii_whitespace) { Bytes::from_static(b"{}") } else { body };
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&event) {
        return Err(service_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            &format!("Could not parse request body into json: {error}"),
        ));
    }
    let client_context = match header(headers, "x-amz-client-context") {
        None => None,
        Some(encoded) => match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(decoded) => Some(String::from_utf8_lossy(&decoded).into_owned()),
            Err(_) => {
                return Err(service_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    "X-Amz-Client-Context must be base64",
                ));
            }
        },
    };
    let mut request = Request::new(event);
    request.client_context = client_context;
    Ok(request)
}

/// The invocation types a route takes, for [`Call`].
pub(crate) trait InvocationTypes {
    /// The values of `X-Amz-Invocation-Type` the route accepts.
    const ALLOWED: &'static [&'static str];
}

/// `Invoke`'s invocation types.
pub(crate) struct Invoke;

impl InvocationTypes for Invoke {
    const ALLOWED: &'static [&'static str] = &["RequestResponse", "Event", "DryRun"];
}

/// What `Invoke` and `InvokeWithResponseStream` read alike from a call, as an extractor: the
/// function, the event, the invocation type (one of `T`'s) and whether `X-Amz-Log-Type: Tail`
/// asks for the log tail. Rejected with Lambda's error document.
pub(crate) struct Call<T> {
    pub(crate) target: Resolved,
    pub(crate) request: Request,
    /// `X-Amz-Invocation-Type` (default `RequestResponse`), one of `T::ALLOWED`.
    pub(crate) invocation_type: &'static str,
    pub(crate) tail: bool,
    pub(crate) types: std::marker::PhantomData<T>,
}

impl<T: InvocationTypes> FromRequest<Pools> for Call<T> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, pools: &Pools) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Path(name) =
            Path::<String>::from_request_parts(&mut parts, pools).await.map_err(IntoResponse::into_response)?;
        // The body limit (`DefaultBodyLimit`) travels in the extensions; the URI and headers stay
        // here, read in place.
        let mut body_only = axum::extract::Request::new(body);
        *body_only.extensions_mut() = std::mem::take(&mut parts.extensions);
        let body = Bytes::from_request(body_only, pools).await.map_err(IntoResponse::into_response)?;
        Call::read(pools, &name, &parts.uri, &parts.headers, body)
    }
}

impl<T: InvocationTypes> Call<T> {
    /// Resolves the function `name` (and the `Qualifier`), checks the event (within 256 KB for
    /// `Event`, 6 MB otherwise) and the invocation type against `T::ALLOWED`; or Lambda's error,
    /// in that order.
    fn read(pools: &Pools, name: &str, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Result<Self, Response> {
        let allowed = T::ALLOWED;
        let given = header(headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
        let known = allowed.iter().find(|allowed| **allowed == given).copied();
        let checked_as = known.unwrap_or("RequestResponse");
        let limit = if checked_as == "Event" { ASYNC_PAYLOAD_LIMIT } else { MAX_RESPONSE_BYTES };
        let target = resolve(pools, name, invocation_qualifier(uri).as_deref())?;
        let request = event_request(headers, body, limit, checked_as)?;
        let Some(invocation_type) = known else {
            return Err(service_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("X-Amz-Invocation-Type `{given}` is not one of {}", allowed.join(", ")),
            ));
        };
        let tail = header(headers, "x-amz-log-type") == Some("Tail");
        Ok(Call { target, request, invocation_type, tail, types: std::marker::PhantomData })
    }
}

/// Runs `request` in the execution `reservation` holds: its outcome, and with `tail` its log tail,
/// which ends with the invocation's END and REPORT lines, as Lambda's does.
pub(crate) async fn run_reserved(
    pool: &Arc<FunctionPool>,
    request: Request,
    reservation: Reservation,
    tail: bool,
) -> Result<(Outcome, Option<String>), ErrorDocument> {
    if tail {
        let completed = pool.invoke_to_end_reserved(request, reservation).await?;
        Ok((completed.invoked.outcome, Some(completed.log_tail)))
    } else {
        Ok((pool.invoke_reserved(request, reservation).await?, None))
    }
}

async fn invoke(State(pools): State<Pools>, call: Call<Invoke>) -> Response {
    let Call { target, request, invocation_type, tail, .. } = call;
    match invocation_type {
        "Event" => {
            let request_id = new_uuid();
            let mut response = StatusCode::ACCEPTED.into_response();
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-amzn-requestid", value);
            }
            tokio::spawn(invoke_async(pools.clone(), target, request, request_id, 1));
            return response;
        }
        "DryRun" => return StatusCode::NO_CONTENT.into_response(),
        _ => {}
    }
    let Some(reservation) = target.pool.try_reserve() else {
        return throttled();
    };
    let (outcome, log_tail) = match run_reserved(&target.pool, request, reservation, tail).await {
        Ok((outcome, log_tail)) => (Ok(outcome), log_tail),
        Err(error) => (Err(error), None),
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
    if let Ok(version) = HeaderValue::from_str(&target.executed_version) {
        headers.insert("x-amz-executed-version", version);
    }
    if let Some(log) = log_tail {
        let tail = &log.as_bytes()[log.len().saturating_sub(4096)..];
        if let Ok(value) = HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(tail)) {
            headers.insert("x-amz-log-result", value);
        }
    }
    response
}

/// Invocations one event may cause through destinations before the next is stopped, as
/// Lambda's recursive loop detection stops an event that invoked functions more than 16 times.
const RECURSION_LIMIT: u32 = 16;

/// Lambda's default `MaximumEventAgeInSeconds`: six hours.
const MAX_EVENT_AGE: Duration = Duration::from_secs(21_600);

/// How long a throttled asynchronous invocation waits before it tries again: from one second,
/// doubling to five minutes, as Lambda's queue does.
const THROTTLE_WAITS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(300));

/// How an asynchronous invocation ended.
struct Ended {
    /// `Success`, `RetriesExhausted` or `EventAgeExceeded`.
    condition: &'static str,
    /// Attempts made.
    attempts: u32,
    /// The last attempt's answer (`None` when none ran).
    outcome: Option<Result<Bytes, ErrorDocument>>,
}

/// Runs an `Event` invocation as Lambda's queue does: throttled attempts wait for a free
/// execution, a function error (or timeout) is retried after the configured waits up to
/// `MaximumRetryAttempts` times and within `MaximumEventAgeInSeconds`, and the record goes to
/// the `OnSuccess`/`OnFailure` destination. `chain` counts the invocations the triggering event
/// has caused so far, this one included (1 for a client's `Event` invocation).
fn invoke_async(
    pools: Pools,
    target: Resolved,
    request: Request,
    request_id: String,
    chain: u32,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let pool = target.pool.clone();
        let config = pool.config().clone();
        let max_age = config.settings.max_event_age_seconds.map_or(MAX_EVENT_AGE, Duration::from_secs);
        let retries = config.settings.max_retry_attempts.unwrap_or(2);
        let received = Instant::now();
        let mut attempts = 0;
        let mut outcome = None;
        let ended = loop {
            let mut wait = THROTTLE_WAITS.0;
            let reservation = loop {
                if let Some(reservation) = pool.try_reserve() {
                    break Some(reservation);
                }
                if received.elapsed() + wait > max_age {
                    break None;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(THROTTLE_WAITS.1);
            };
            let Some(reservation) = reservation else {
                break Ended { condition: "EventAgeExceeded", attempts, outcome };
            };
            attempts += 1;
            let mut attempt = Request::new(request.event.clone());
            attempt.client_context.clone_from(&request.client_context);
            match pool.invoke_reserved(attempt, reservation).await {
                Ok(Outcome::Response(body)) => {
                    break Ended { condition: "Success", attempts, outcome: Some(Ok(body)) };
                }
                Ok(Outcome::Error(error)) | Err(error) => outcome = Some(Err(error)),
            }
            if attempts > retries {
                break Ended { condition: "RetriesExhausted", attempts, outcome };
            }
            let delay = config.retry_delays[(attempts as usize - 1).min(1)];
            if received.elapsed() + delay > max_age {
                break Ended { condition: "EventAgeExceeded", attempts, outcome };
            }
            eprintln!(
                "intercept-sam: {}: asynchronous invocation {request_id} failed (attempt {attempts}); retrying in {}",
                pool.name(),
                humantime::format_duration(delay)
            );
            tokio::time::sleep(delay).await;
        };
        deliver(&pools, &target, &request, &request_id, ended, chain).await;
    })
}

/// Lambda's invocation record for a destination.
fn record(target: &Resolved, request: &Request, request_id: &str, ended: &Ended) -> serde_json::Value {
    let payload = |bytes: &Bytes| {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into()))
    };
    let mut record = json!({
        "version": "1.0",
        "timestamp": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("{}:{}", target.arn, target.qualifier),
            "condition": ended.condition,
            "approximateInvokeCount": ended.attempts,
        },
        "requestPayload": payload(&request.event),
    });
    match &ended.outcome {
        Some(Ok(body)) => {
            record["responseContext"] = json!({ "statusCode": 200, "executedVersion": target.executed_version });
            record["responsePayload"] = payload(body);
        }
        Some(Err(error)) => {
            record["responseContext"] =
                json!({ "statusCode": 200, "executedVersion": target.executed_version, "functionError": "Unhandled" });
            record["responsePayload"] = error.body.clone();
        }
        None => {}
    }
    record
}

/// The payload of a record to deliver to a destination, or why it is not delivered (a line for
/// the log): past Lambda's asynchronous payload limit, or the next invocation in a chain that
/// has already caused [`RECURSION_LIMIT`] of them.
fn record_payload(
    record: &serde_json::Value,
    chain: u32,
    name: &str,
    which: &str,
    request_id: &str,
) -> Result<Bytes, String> {
    if chain >= RECURSION_LIMIT {
        return Err(format!(
            "intercept-sam: {name}: {which} record of request {request_id} not delivered: the event has caused {chain} invocations through destinations, and Lambda stops a recursive loop after {RECURSION_LIMIT}"
        ));
    }
    let payload = Bytes::from(record.to_string());
    if payload.len() > ASYNC_PAYLOAD_LIMIT {
        return Err(format!(
            "intercept-sam: {name}: {which} record of request {request_id} not delivered: {} bytes is over the asynchronous payload limit ({ASYNC_PAYLOAD_LIMIT} bytes)",
            payload.len()
        ));
    }
    Ok(payload)
}

/// Sends an asynchronous invocation's record where the template says: a `Lambda` destination
/// in the template is invoked (asynchronously) with it, within Lambda's asynchronous payload
/// limit and recursive loop detection; other destinations and the dead-letter queue are named
/// in the log, not delivered.
async fn deliver(pools: &Pools, target: &Resolved, request: &Request, request_id: &str, ended: Ended, chain: u32) {
    let name = target.pool.name();
    let settings = &target.pool.config().settings;
    let succeeded = ended.condition == "Success";
    let destination = if succeeded { &settings.on_success } else { &settings.on_failure };
    if !succeeded {
        eprintln!(
            "intercept-sam: {name}: asynchronous invocation {request_id} ended after {} attempt(s): {}",
            ended.attempts, ended.condition
        );
        if let Some(dead_letter) = &settings.dead_letter {
            eprintln!(
                "intercept-sam: {name}: DeadLetterQueue {} {}: event of request {request_id} not delivered (only Lambda destinations run locally)",
                dead_letter.kind, dead_letter.arn
            );
        }
    }
    let Some(destination) = destination else { return };
    let which = if succeeded { "OnSuccess" } else { "OnFailure" };
    let local = (destination.kind == "Lambda").then(|| resolve(pools, &destination.arn, None).ok()).flatten();
    let Some(function) = local else {
        eprintln!(
            "intercept-sam: {name}: {which} destination {} {}: record of request {request_id} not delivered (only Lambda destinations in the template run locally)",
            destination.kind, destination.arn
        );
        return;
    };
    let record = record(target, request, request_id, &ended);
    let payload = match record_payload(&record, chain, name, which, request_id) {
        Ok(payload) => payload,
        Err(line) => {
            eprintln!("{line}");
            return;
        }
    };
    eprintln!("intercept-sam: {name}: {which} record of request {request_id} → {}", function.pool.name());
    // A task of its own, as Lambda queues the destination's invocation: a chain of records
    // does not nest futures.
    tokio::spawn(invoke_async(pools.clone(), function, Request::new(payload), new_uuid(), chain + 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_names_partial_and_full_arns() {
        assert_eq!(split_name("Hello"), ("Hello", None));
        assert_eq!(split_name("Hello:$LATEST"), ("Hello", Some("$LATEST")));
        assert_eq!(split_name("123456789012:function:Hello:live"), ("Hello", Some("live")));
        assert_eq!(split_name("arn:aws:lambda:us-east-1:123456789012:function:Hello"), ("Hello", None));
        assert_eq!(split_name("arn:aws:lambda:us-east-1:123456789012:function:Hello:7"), ("Hello", Some("7")));
    }

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = new_uuid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12], "{id}");
        assert!(parts[2].starts_with('4') && "89ab".contains(&parts[3][..1]), "{id}");
        assert_ne!(id, new_uuid());
    }

    #[test]
    fn records_stop_at_the_recursion_limit_and_the_async_payload_limit() {
        let record = json!({"version": "1.0", "requestPayload": {"case": "loop"}});
        for chain in 1..RECURSION_LIMIT {
            let payload = record_payload(&record, chain, "Ping", "OnFailure", "req-1").expect("delivered");
            assert_eq!(payload, Bytes::from(record.to_string()));
        }
        let stopped = record_payload(&record, RECURSION_LIMIT, "Ping", "OnFailure", "req-16").expect_err("stopped");
        assert!(stopped.contains("Ping") && stopped.contains("req-16") && stopped.contains("16"), "{stopped}");

        let big = json!({"requestPayload": "x".repeat(ASYNC_PAYLOAD_LIMIT)});
        let refused = record_payload(&big, 1, "Failing", "OnFailure", "req-big").expect_err("too large");
        assert!(refused.contains("Failing") && refused.contains("req-big"), "{refused}");
        assert!(refused.contains("asynchronous payload limit (1048576 bytes)"), "{refused}");
        let fits = json!({"requestPayload": "x".repeat(ASYNC_PAYLOAD_LIMIT - 100)});
        assert!(record_payload(&fits, 1, "Failing", "OnFailure", "req-fits").is_ok());
    }
}
