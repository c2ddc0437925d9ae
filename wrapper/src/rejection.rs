//! Rejections, shaped for the trigger: HTTP responses or invocation errors.

use std::time::Duration;

use lambda_runtime::Diagnostic;
use serde_json::json;

use crate::auth::AuthError;
use crate::canonical::PathProblem;
use crate::invocation::TriggerKind;
use crate::ratelimit::Quota;

/// Why a filter refused an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Authentication failed (401).
    Unauthorized(AuthError),
    /// The principal lacks a scope the route requires (403, `insufficient_scope`).
    Forbidden {
        /// Every scope the route requires.
        required: Vec<String>,
    },
    /// A rate limit was exceeded (429).
    RateLimited {
        /// The refusing rule's name, as in `RateLimit-Policy`.
        policy: String,
        /// The rule's quota.
        quota: Quota,
        /// When a request would pass again.
        retry_after: Duration,
    },
    /// The event has an HTTP trigger's markers but cannot be read (400); says what is wrong.
    MalformedEvent(String),
    /// The request path cannot be normalized safely (400): an encoded slash, a `;` parameter,
    /// `..` above the root, ... (see [`PathProblem`]).
    UnsafePath(PathProblem),
}

impl Rejection {
    /// The HTTP status for HTTP triggers.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            // RFC 6750 §3.1: `invalid_request` (a credential given twice) is a 400.
            Rejection::Unauthorized(
                AuthError::DuplicateHeader(_) | AuthError::DuplicateCookie(_) | AuthError::ConflictingTokens,
            ) => 400,
            Rejection::Unauthorized(_) => 401,
            Rejection::Forbidden { .. } => 403,
            Rejection::RateLimited { .. } => 429,
            Rejection::MalformedEvent(_) | Rejection::UnsafePath(_) => 400,
        }
    }

    /// The stable `errorType` for non-HTTP triggers.
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        match self {
            Rejection::Unauthorized(_) => "Intercept.Unauthorized",
            Rejection::Forbidden { .. } => "Intercept.Forbidden",
            Rejection::RateLimited { .. } => "Intercept.RateLimited",
            Rejection::MalformedEvent(_) => "Intercept.MalformedEvent",
            Rejection::UnsafePath(_) => "Intercept.BadRequest",
        }
    }

    /// A short machine-readable reason for spans, metrics and logs.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Unauthorized(error) => error.reason(),
            Rejection::Forbidden { .. } => "insufficient_scope",
            Rejection::RateLimited { .. } => "rate_limited",
            Rejection::MalformedEvent(_) => "malformed_event",
            Rejection::UnsafePath(PathProblem::MethodOverride) => "method_override",
            Rejection::UnsafePath(_) => "unsafe_path",
        }
    }

    /// A message safe to show the client.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Rejection::Unauthorized(error) => format!("unauthorized: {error}"),
            Rejection::Forbidden { required } => format!("forbidden: requires scope {}", required.join(" ")),
            Rejection::RateLimited { retry_after, .. } => {
                format!("rate limit exceeded: retry after {} s", retry_after_secs(*retry_after))
            }
            Rejection::MalformedEvent(problem) => format!("bad request: malformed HTTP event: {problem}"),
            Rejection::UnsafePath(problem) => format!("bad request: {problem}"),
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        match self {
            Rejection::Unauthorized(AuthError::MissingToken) => {
                // RFC 6750 §3.1: a request without credentials gets no error code.
                headers.push(("www-authenticate", "Bearer".to_owned()));
            }
            Rejection::Unauthorized(
                error @ (AuthError::DuplicateHeader(_) | AuthError::DuplicateCookie(_) | AuthError::ConflictingTokens),
            ) => {
                // RFC 6750 §3.1: a request with its token in more than one place is malformed.
                headers.push((
                    "www-authenticate",
                    format!(r#"Bearer error="invalid_request", error_description="{error}""#),
                ));
            }
            Rejection::Unauthorized(error) => {
                headers.push((
                    "www-authenticate",
                    format!(r#"Bearer error="invalid_token", error_description="{error}""#),
                ));
            }
            Rejection::Forbidden { required } => {
                // RFC 6750 §3: the scope attribute lists what the resource needs.
                headers.push((
                    "www-authenticate",
                    format!(
                        r#"Bearer error="insufficient_scope", error_description="missing a required scope", scope="{}""#,
                        required.join(" ")
                    ),
                ));
            }
            Rejection::RateLimited { policy, quota, retry_after } => {
                let secs = retry_after_secs(*retry_after);
                headers.push(("retry-after", secs.to_string()));
                headers.push((
                    "ratelimit-policy",
                    format!(r#""{policy}";q={};w={}"#, quota.count, quota.period.as_secs().max(1)),
                ));
                headers.push(("ratelimit", format!(r#""{policy}";r=0;t={secs}"#)));
            }
            Rejection::MalformedEvent(_) | Rejection::UnsafePath(_) => {}
        }
        headers
    }

    /// The response for an HTTP trigger, in that trigger's response format.
    #[must_use]
    pub fn to_http_response(&self, kind: TriggerKind) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> =
            self.headers().into_iter().map(|(name, value)| (name.to_owned(), value.into())).collect();
        let body = json!({ "message": self.message(), "reason": self.reason() }).to_string();
        let mut response = json!({
            "statusCode": self.status(),
            "headers": headers,
            "body": body,
            "isBase64Encoded": false,
        });
        if kind == TriggerKind::Alb {
            response["statusDescription"] = format!("{} {}", self.status(), status_text(self.status())).into();
        }
        response
    }

    /// The invocation error for a non-HTTP trigger.
    #[must_use]
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic { error_type: self.error_type().to_owned(), error_message: self.message() }
    }
}

fn retry_after_secs(retry_after: Duration) -> u64 {
    retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_response_follows_rfc_6750() {
        let response = Rejection::Unauthorized(AuthError::Expired).to_http_response(TriggerKind::ApiGatewayHttp);
        assert_eq!(response["statusCode"], 401);
        assert_eq!(
            response["headers"]["www-authenticate"],
            r#"Bearer error="invalid_token", error_description="token expired""#
        );
        let body: serde_json::Value = serde_json::from_str(response["body"].as_str().expect("body")).expect("json");
        assert_eq!(body["reason"], "expired");
        let missing = Rejection::Unauthorized(AuthError::MissingToken).to_http_response(TriggerKind::ApiGatewayRest);
        assert_eq!(missing["headers"]["www-authenticate"], "Bearer");
    }

    #[test]
    fn forbidden_response_names_the_scope() {
        let rejection = Rejection::Forbidden { required: vec!["orders:write".into(), "audit".into()] };
        let response = rejection.to_http_response(TriggerKind::Alb);
        assert_eq!(response["statusCode"], 403);
        assert_eq!(response["statusDescription"], "403 Forbidden");
        assert_eq!(
            response["headers"]["www-authenticate"],
            r#"Bearer error="insufficient_scope", error_description="missing a required scope", scope="orders:write audit""#
        );
        let body: serde_json::Value = serde_json::from_str(response["body"].as_str().expect("body")).expect("json");
        assert_eq!(body["reason"], "insufficient_scope");
        assert_eq!(body["message"], "forbidden: requires scope orders:write audit");
        assert_eq!(rejection.to_diagnostic().error_type, "Intercept.Forbidden");
    }

    #[test]
    fn rate_limited_response_has_retry_after_and_ietf_fields() {
        let rejection = Rejection::RateLimited {
            policy: "source-ip".to_owned(),
            quota: Quota::parse("2/m").expect("valid"),
            retry_after: Duration::from_millis(29_001),
        };
        let response = rejection.to_http_response(TriggerKind::Alb);
        assert_eq!(response["statusCode"], 429);
        assert_eq!(response["statusDescription"], "429 Too Many Requests");
        assert_eq!(response["headers"]["retry-after"], "30");
        assert_eq!(response["headers"]["ratelimit-policy"], r#""source-ip";q=2;w=60"#);
        assert_eq!(response["headers"]["ratelimit"], r#""source-ip";r=0;t=30"#);
        assert_eq!(rejection.to_diagnostic().error_type, "Intercept.RateLimited");
    }
}
