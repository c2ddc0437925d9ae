//! Lambda authorizers run as the template's functions they name (each in its own warm
//! environments, with its own cold start and REPORT): TOKEN and REQUEST authorizers of REST
//! APIs, REQUEST authorizers of HTTP APIs (payload 1.0 and 2.0, simple responses or IAM
//! policies), with results cached by identity for `ReauthorizeEvery` seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Map, Value as Json, json};
use tokio::time::Instant;

use super::iam_policy::{self, Decision};
use super::identity;
use super::payload::{HttpRequest, HttpResponse, PayloadVersion, Routed, event_v1, event_v2, gateway_error};
use crate::pool::FunctionPool;
use crate::sandbox::{Outcome, Request};
use crate::template::{ApiKind, LambdaAuthorizer, LambdaAuthorizerType};

/// Cached results beyond this many are dropped, oldest identities first to go being the
/// expired ones.
const CACHE_LIMIT: usize = 10_000;

/// The method ARN API Gateway sends and matches policies against: the request's own method
/// and path under the API's stage.
#[must_use]
pub(crate) fn method_arn(kind: ApiKind, method: &str, path: &str) -> String {
    let stage = match kind {
        ApiKind::Rest => "Prod",
        ApiKind::Http => "$default",
    };
    format!("arn:aws:execute-api:us-east-1:123456789012:local/{stage}/{method}{path}")
}

/// `401 {"message":"Unauthorized"}`: a missing identity, or an authorizer that failed with
/// the error message `Unauthorized`.
pub(crate) fn unauthorized() -> HttpResponse {
    gateway_error(StatusCode::UNAUTHORIZED, &json!({ "message": "Unauthorized" }), Some("UnauthorizedException"))
}

fn denied(kind: ApiKind, explicitly: bool) -> HttpResponse {
    match (kind, explicitly) {
        (ApiKind::Http, _) => gateway_error(StatusCode::FORBIDDEN, &json!({ "message": "Forbidden" }), None),
        (ApiKind::Rest, true) => gateway_error(
            StatusCode::FORBIDDEN,
            &json!({ "Message": "User is not authorized to access this resource with an explicit deny" }),
            Some("AccessDeniedException"),
        ),
        (ApiKind::Rest, false) => gateway_error(
            StatusCode::FORBIDDEN,
            &json!({ "Message": "User is not authorized to access this resource" }),
            Some("AccessDeniedException"),
        ),
    }
}

fn failed(kind: ApiKind) -> HttpResponse {
    match kind {
        ApiKind::Rest => gateway_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "message": null }),
            Some("AuthorizerConfigurationException"),
        ),
        ApiKind::Http => {
            gateway_error(StatusCode::INTERNAL_SERVER_ERROR, &json!({ "message": "Internal Server Error" }), None)
        }
    }
}

struct Cached {
    until: Instant,
    response: Arc<Json>,
}

/// One Lambda authorizer of an API, over its function's pool.
pub(crate) struct LambdaCheck {
    settings: LambdaAuthorizer,
    /// The function's logical id and pool; `None` when `FunctionArn` names no function of the template.
    function: Option<(String, Arc<FunctionPool>)>,
    validation: Option<regex_lite::Regex>,
    cache: Mutex<HashMap<Vec<String>, Cached>>,
}

impl std::fmt::Debug for LambdaCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaCheck").field("authorizer", &self.settings.name).finish_non_exhaustive()
    }
}

impl LambdaCheck {
    /// The check for `settings`, running `function` (the logical id and pool its `FunctionArn`
    /// names, if any).
    pub(crate) fn new(settings: LambdaAuthorizer, function: Option<(String, Arc<FunctionPool>)>) -> Self {
        // Anchored: API Gateway validates the whole token.
        let validation = settings
            .validation_expression
            .as_deref()
            .and_then(|expression| regex_lite::Regex::new(&format!("^(?:{expression})$")).ok());
        LambdaCheck { settings, function, validation, cache: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, key: &[String]) -> Option<Arc<Json>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(key).filter(|c| c.until > Instant::now()).map(|c| c.response.clone())
    }

    fn remember(&self, key: Vec<String>, response: Arc<Json>) {
        let until = Instant::now() + Duration::from_secs(self.settings.ttl_seconds);
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(key, Cached { until, response });
    }

    /// The event the authorizer is invoked with. `event` is the route's own event (payload 1.0
    /// for REST APIs; for HTTP APIs the route's `PayloadFormatVersion`, which the event's
    /// `version` names): an HTTP API's authorizer gets its own `AuthorizerPayloadFormatVersion`
    /// whatever the route's.
    fn event(
        &self,
        kind: ApiKind,
        identity: &[String],
        arn: &str,
        request: &HttpRequest<'_>,
        routed: &Routed<'_>,
        event: &Json,
    ) -> Json {
        if self.settings.payload_type == LambdaAuthorizerType::Token {
            let token = identity.first().cloned().unwrap_or_default();
            return json!({ "type": "TOKEN", "authorizationToken": token, "methodArn": arn });
        }
        let v1 = kind == ApiKind::Rest || self.settings.payload_version == "1.0";
        let route_v1 = event["version"] != "2.0";
        let converted = match (kind, v1, route_v1) {
            (ApiKind::Http, true, false) => Some(event_v1(request, routed)),
            (ApiKind::Http, false, true) => Some(event_v2(request, routed)),
            _ => None,
        };
        let mut out = match converted {
            Some(mut other) => {
                // The route's stage, in the other format's event.
                other["requestContext"]["stage"] = event["requestContext"]["stage"].clone();
                if !event["stageVariables"].is_null() {
                    other["stageVariables"] = event["stageVariables"].clone();
                }
                other
            }
            None => event.clone(),
        };
        if let Some(fields) = out.as_object_mut() {
            fields.remove("body");
            fields.remove("isBase64Encoded");
            fields.insert("type".to_owned(), json!("REQUEST"));
            match (kind, v1) {
                (ApiKind::Rest, _) => {
                    fields.insert("methodArn".to_owned(), json!(arn));
                }
                (ApiKind::Http, true) => {
                    let joined = identity.join(",");
                    fields.insert("version".to_owned(), json!("1.0"));
                    fields.insert("methodArn".to_owned(), json!(arn));
                    fields.insert("identitySource".to_owned(), json!(joined));
                    fields.insert("authorizationToken".to_owned(), json!(joined));
                }
                (ApiKind::Http, false) => {
                    fields.insert("routeArn".to_owned(), json!(arn));
                    fields.insert("identitySource".to_owned(), json!(identity));
                }
            }
        }
        out
    }

    async fn invoke(&self, kind: ApiKind, event: &Json) -> Result<Arc<Json>, HttpResponse> {
        let name = &self.settings.name;
        let Some((function, pool)) = &self.function else {
            eprintln!(
                "intercept-sam: authorizer {name}: FunctionArn `{}` names no function of the template",
                self.settings.function_arn
            );
            return Err(failed(kind));
        };
        match pool.invoke(Request::new(Bytes::from(event.to_string()))).await {
            Ok(Outcome::Response(output)) => match serde_json::from_slice::<Json>(&output) {
                Ok(response @ Json::Object(_)) => Ok(Arc::new(response)),
                _ => {
                    eprintln!(
                        "intercept-sam: authorizer {name} ({function}) returned something other than a JSON object"
                    );
                    Err(failed(kind))
                }
            },
            // The one error API Gateway turns into a 401.
            Ok(Outcome::Error(error)) if error.error_message == "Unauthorized" => Err(unauthorized()),
            Ok(Outcome::Error(error)) | Err(error) => {
                eprintln!(
                    "intercept-sam: authorizer {name} ({function}) failed: {}: {}",
                    error.error_type, error.error_message
                );
                Err(failed(kind))
            }
        }
    }

    /// Authorizes a request: `Ok` with `requestContext.authorizer` for the route's event (of
    /// payload format `version`), or the response API Gateway sends instead.
    ///
    /// # Errors
    /// 401 for a missing identity or an `Unauthorized` error, 403 for a denial, 500 when the
    /// authorizer fails or answers in the wrong shape.
    pub(crate) async fn authorize(
        &self,
        kind: ApiKind,
        version: PayloadVersion,
        request: &HttpRequest<'_>,
        routed: &Routed<'_>,
        event: &Json,
    ) -> Result<Json, HttpResponse> {
        let Some(identity) = identity::values(&self.settings.identity, request, &event["requestContext"]) else {
            return Err(unauthorized());
        };
        if let (Some(validation), Some(token)) = (&self.validation, identity.first())
            && !validation.is_match(token)
        {
            return Err(unauthorized());
        }
        let arn = method_arn(kind, request.method, request.path);
        let caching = self.settings.ttl_seconds > 0 && !identity.is_empty();
        let started = Instant::now();
        let response = match self.cached(&identity).filter(|_| caching) {
            Some(response) => response,
            None => {
                let response = self.invoke(kind, &self.event(kind, &identity, &arn, request, routed, event)).await?;
                if caching {
                    self.remember(identity, response.clone());
                }
                response
            }
        };
        let latency = started.elapsed().as_millis() as u64;
        self.judge(kind, version, &response, &arn, latency)
    }

    /// Reads the authorizer's answer for this method ARN, into `requestContext.authorizer` of a
    /// route event of payload format `version`.
    fn judge(
        &self,
        kind: ApiKind,
        version: PayloadVersion,
        response: &Json,
        arn: &str,
        latency_ms: u64,
    ) -> Result<Json, HttpResponse> {
        let name = &self.settings.name;
        let invalid = |problem: &str| {
            eprintln!("intercept-sam: authorizer {name} returned an invalid response: {problem}");
            failed(kind)
        };
        let context = match &response["context"] {
            Json::Null => Map::new(),
            Json::Object(context) => context.clone(),
            _ => return Err(invalid("context is not an object")),
        };
        let principal = if self.settings.simple_responses {
            match response["isAuthorized"] {
                Json::Bool(true) => None,
                Json::Bool(false) => return Err(denied(kind, false)),
                _ => return Err(invalid("isAuthorized is missing or not a boolean")),
            }
        } else {
            let principal = response["principalId"].as_str().ok_or_else(|| invalid("principalId is missing"))?;
            match iam_policy::evaluate(&response["policyDocument"], arn).map_err(|problem| invalid(&problem))? {
                Decision::Allow => {}
                Decision::ExplicitDeny => return Err(denied(kind, true)),
                Decision::NotAllowed => return Err(denied(kind, false)),
            }
            Some(principal.to_owned())
        };
        match kind {
            // REST APIs pass context values on as strings, and refuse objects and arrays.
            ApiKind::Rest => {
                let mut authorizer = Map::new();
                for (key, value) in context {
                    let text = match value {
                        Json::String(text) => text,
                        Json::Number(_) | Json::Bool(_) => value.to_string(),
                        Json::Null => continue,
                        _ => return Err(invalid(&format!("context.{key} is an object or array"))),
                    };
                    authorizer.insert(key, Json::String(text));
                }
                if let Some(principal) = principal {
                    authorizer.insert("principalId".to_owned(), Json::String(principal));
                }
                authorizer.insert("integrationLatency".to_owned(), json!(latency_ms));
                Ok(Json::Object(authorizer))
            }
            // An HTTP API puts the context under `lambda` in a 2.0 event, and directly under
            // `authorizer` (as SAM CLI does) in a route's 1.0 event.
            ApiKind::Http => {
                let mut lambda = context;
                if let Some(principal) = principal {
                    lambda.insert("principalId".to_owned(), Json::String(principal));
                }
                Ok(match version {
                    PayloadVersion::V2 => json!({ "lambda": lambda }),
                    PayloadVersion::V1 => Json::Object(lambda),
                })
            }
        }
    }
}

/// The fuzz target's checks (see `crate::fuzzing::lambda_authorizer_response`).
pub(crate) fn fuzz_response(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some((pattern, subject)) = text.split_once('\n') {
        let reference = regex_lite::escape(pattern).replace("\\*", ".*").replace("\\?", ".");
        if let Ok(reference) = regex_lite::Regex::new(&format!("(?s)^(?:{reference})$")) {
            assert_eq!(
                iam_policy::wildcard_match(pattern, subject, false),
                reference.is_match(subject),
                "{pattern:?} against {subject:?}"
            );
        }
    }
    let Ok(response) = serde_json::from_str::<Json>(text) else { return };
    let arn = method_arn(ApiKind::Rest, "GET", "/orders/1");
    let explicit_deny = iam_policy::evaluate(&response["policyDocument"], &arn) == Ok(Decision::ExplicitDeny);
    for (kind, version, simple, route) in [
        (ApiKind::Rest, "1.0", false, PayloadVersion::V1),
        (ApiKind::Http, "1.0", false, PayloadVersion::V2),
        (ApiKind::Http, "2.0", true, PayloadVersion::V2),
        (ApiKind::Http, "2.0", true, PayloadVersion::V1),
    ] {
        let settings = LambdaAuthorizer {
            name: "Fuzz".to_owned(),
            function_arn: String::new(),
            payload_type: LambdaAuthorizerType::Request,
            payload_version: version.to_owned(),
            simple_responses: simple,
            identity: Vec::new(),
            validation_expression: None,
            ttl_seconds: 0,
        };
        let judged = LambdaCheck::new(settings, None).judge(kind, route, &response, &arn, 0);
        if explicit_deny && !simple {
            assert!(judged.is_err(), "an explicit Deny let through: {response}");
        }
        if let Ok(context) = judged {
            assert!(context.is_object(), "{context}");
        }
    }
}

#[cfg(test)]
mod tests;
