//! The Runtime API (`/2018-06-01`): what the function's runtime client talks to.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::error_response;
use super::state::{ErrorDocument, Outcome, Shared};

/// Lambda's limit for a buffered response.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.update(|state| {
        state.runtime_next_calls += 1;
        // Registration closes once the runtime is initialised, which its first `next` says.
        state.registration_open = false;
    });
    let Some(invoke) = shared.runtime_inbox.lock().await.recv().await else {
        return error_response(
            StatusCode::GONE,
            "Runtime.Shutdown",
            "the environment is shutting down",
        );
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &invoke.request_id);
    set(
        "lambda-runtime-deadline-ms",
        &invoke.deadline_ms.to_string(),
    );
    set("lambda-runtime-invoked-function-arn", &shared.function.arn);
    set("lambda-runtime-trace-id", &invoke.trace_header);
    set("content-type", "application/json");
    (StatusCode::OK, headers, invoke.body).into_response()
}

/// Records the outcome for `id`, or answers as Lambda does for unknown ids and second answers.
fn record(shared: &Shared, id: &str, outcome: Outcome) -> Result<(), Response> {
    shared.update(|state| match state.invocations.get_mut(id) {
        None => Err(error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("Invalid request ID: {id}"),
        )),
        Some(Some(_)) => Err(error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            &format!("invocation {id} has already been answered"),
        )),
        Some(slot) => {
            *slot = Some(outcome);
            Ok(())
        }
    })
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_RESPONSE_BYTES {
        let message = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
            body.len()
        );
        let outcome = Outcome::Error(ErrorDocument::new(
            "Function.ResponseSizeTooLarge",
            &message,
        ));
        return match record(&shared, &id, outcome) {
            Ok(()) => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &message,
            ),
            Err(response) => response,
        };
    }
    match record(&shared, &id, Outcome::Response(body)) {
        Ok(()) => accepted(),
        Err(response) => response,
    }
}

fn error_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let document = ErrorDocument::from_runtime(error_type(&headers), &body);
    match record(&shared, &id, Outcome::Error(document)) {
        Ok(()) => accepted(),
        Err(response) => response,
    }
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let document = ErrorDocument::from_runtime(error_type(&headers), &body);
    shared.update(|state| state.init_error = Some(document));
    accepted()
}
