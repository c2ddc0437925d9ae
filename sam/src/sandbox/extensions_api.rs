//! The Extensions API (`/2020-01-01`): registration and lifecycle events for extensions.

// Handlers answer refusals with the HTTP response itself; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::error_response;
use super::state::{ErrorDocument, ExtensionState, Shared};

/// Lambda's limit on registered extensions.
const MAX_EXTENSIONS: usize = 10;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/2020-01-01/extension/register", post(register))
        .route("/2020-01-01/extension/event/next", get(next))
        .route("/2020-01-01/extension/init/error", post(init_error))
        .route("/2020-01-01/extension/exit/error", post(exit_error))
}

#[derive(Deserialize)]
struct Registration {
    events: Vec<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty())
}

async fn register(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = header(&headers, "lambda-extension-name").map(str::to_owned) else {
        return error_response(StatusCode::BAD_REQUEST, "InvalidRequest", "missing Lambda-Extension-Name header");
    };
    let registration: Registration = match serde_json::from_slice(&body) {
        Ok(registration) => registration,
        Err(error) => {
            return error_response(StatusCode::BAD_REQUEST, "InvalidRequest", &format!("registration body: {error}"));
        }
    };
    if let Some(bad) = registration.events.iter().find(|e| *e != "INVOKE" && *e != "SHUTDOWN") {
        return error_response(StatusCode::BAD_REQUEST, "InvalidRequest", &format!("unknown event type {bad}"));
    }
    let accept_account = header(&headers, "lambda-extension-accept-feature")
        .is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId"));
    let id = super::new_uuid();
    let registered = shared.update(|state| {
        if !state.registration_open {
            return Err(error_response(
                StatusCode::FORBIDDEN,
                "Extension.RegistrationClosed",
                "registration is open only during init",
            ));
        }
        if state.runtime_started && registration.events.iter().any(|e| e == "SHUTDOWN") {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                "Extension.InvalidEvents",
                "internal extensions (registered from the runtime process) cannot register for SHUTDOWN",
            ));
        }
        if state.extensions.len() >= MAX_EXTENSIONS {
            return Err(error_response(
                StatusCode::FORBIDDEN,
                "Extension.TooManyExtensions",
                "at most 10 extensions may register",
            ));
        }
        if state.extensions.iter().any(|e| e.name == name) {
            return Err(error_response(
                StatusCode::CONFLICT,
                "Extension.AlreadyRegistered",
                &format!("an extension named {name} is already registered"),
            ));
        }
        let (queue, inbox) = mpsc::unbounded_channel();
        state.extensions.push(ExtensionState {
            id: id.clone(),
            name: name.clone(),
            events: registration.events.clone(),
            next_calls: 0,
            queue,
            inbox: Arc::new(tokio::sync::Mutex::new(inbox)),
            error: None,
        });
        Ok(())
    });
    if let Err(response) = registered {
        return response;
    }
    shared.telemetry.emit(
        "platform",
        "platform.extension",
        serde_json::json!({ "name": name, "state": "Ready", "events": registration.events }),
    );
    let function = &shared.function;
    let mut body = serde_json::json!({
        "functionName": function.name,
        "functionVersion": function.version,
        "handler": function.handler,
    });
    if accept_account {
        body["accountId"] = function.account_id.clone().into();
    }
    (StatusCode::OK, [("lambda-extension-identifier", id)], axum::Json(body)).into_response()
}

fn unknown_extension() -> Response {
    error_response(
        StatusCode::FORBIDDEN,
        "Extension.InvalidExtensionIdentifier",
        "unknown or missing Lambda-Extension-Identifier",
    )
}

async fn next(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let Some(id) = header(&headers, "lambda-extension-identifier").map(str::to_owned) else {
        return unknown_extension();
    };
    let inbox = shared.update(|state| {
        let extension = state.extensions.iter_mut().find(|e| e.id == id)?;
        extension.next_calls += 1;
        Some(extension.inbox.clone())
    });
    let Some(inbox) = inbox else {
        return unknown_extension();
    };
    let Some(event) = inbox.lock().await.recv().await else {
        return error_response(StatusCode::GONE, "Extension.Shutdown", "the environment is gone");
    };
    (StatusCode::OK, [("lambda-extension-event-identifier", super::new_uuid())], axum::Json(event)).into_response()
}

async fn report(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(id) = header(headers, "lambda-extension-identifier") else {
        return unknown_extension();
    };
    let document = ErrorDocument::from_runtime(header(headers, "lambda-extension-function-error-type"), body);
    let found = shared.update(|state| {
        state.extensions.iter_mut().find(|e| e.id == id).map(|extension| extension.error = Some(document)).is_some()
    });
    if found {
        (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "status": "OK" }))).into_response()
    } else {
        unknown_extension()
    }
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    report(&shared, &headers, &body).await
}

async fn exit_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    report(&shared, &headers, &body).await
}
