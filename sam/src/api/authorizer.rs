//! JWT authorizers of HTTP APIs, enforced with Intercept's own JWT check: the authorizer's
//! issuer (its OIDC discovery document gives the keys) and audience, and the route's scopes.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use intercept::{Config, JwtVerifier};
use serde_json::{Map, Value as Json, json};

use super::payload::{HttpResponse, message};
use crate::local_invoke::CliError;
use crate::template::{JwtAuthorizer, Template};

/// What a route asks of its caller.
#[derive(Debug, Clone, Default)]
pub struct RouteAuth {
    /// The API's logical id.
    pub api: String,
    /// The event's own authorizer (`NONE` turns the API's default off).
    pub authorizer: Option<String>,
    /// `AuthorizationScopes`: the token must hold at least one.
    pub scopes: Vec<String>,
}

struct Checker {
    settings: JwtAuthorizer,
    verifier: JwtVerifier,
}

/// Every JWT authorizer of a template, with its keys fetched.
#[derive(Default)]
pub struct Authorizers {
    by_api: HashMap<String, (Option<String>, HashMap<String, Checker>)>,
}

impl std::fmt::Debug for Authorizers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizers").field("apis", &self.by_api.keys().collect::<Vec<_>>()).finish()
    }
}

fn now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

impl Authorizers {
    /// Fetches the keys of every JWT authorizer in the template from its issuer.
    ///
    /// # Errors
    /// A [`CliError`] naming the authorizer whose issuer cannot be used.
    pub async fn connect(template: &Template) -> Result<Self, CliError> {
        let mut by_api = HashMap::new();
        for api in &template.http_apis {
            let mut checkers = HashMap::new();
            for authorizer in &api.authorizers {
                // An authorizer the template gives no audience checks none (the core otherwise
                // refuses an OIDC source without one); `*` says so deliberately.
                let audience =
                    if authorizer.audience.is_empty() { "*".to_owned() } else { authorizer.audience.join(",") };
                let lookup = |name: &str| -> Option<String> {
                    match name {
                        "INTERCEPT_AUTH" => Some("jwt".to_owned()),
                        "INTERCEPT_JWT_OIDC_ISSUER" | "INTERCEPT_JWT_ISSUER" => Some(authorizer.issuer.clone()),
                        "INTERCEPT_JWT_AUDIENCE" => Some(audience.clone()),
                        "INTERCEPT_JWT_ALGORITHMS" => {
                            Some("RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,EdDSA".to_owned())
                        }
                        "INTERCEPT_DISABLE" => Some("ratelimit,telemetry".to_owned()),
                        _ => None,
                    }
                };
                let fail = |problem: String| {
                    CliError(format!(
                        "authorizer {} of {} (issuer {}): {problem}",
                        authorizer.name, api.api, authorizer.issuer
                    ))
                };
                let config = Config::from_lookup(lookup).map_err(|e| fail(e.to_string()))?;
                let jwt = config.auth().jwt.as_ref().ok_or_else(|| fail("no JWT settings".to_owned()))?;
                let verifier = JwtVerifier::connect(jwt, None, now()).await.map_err(|e| fail(e.to_string()))?;
                checkers.insert(authorizer.name.clone(), Checker { settings: authorizer.clone(), verifier });
            }
            by_api.insert(api.api.clone(), (api.default_authorizer.clone(), checkers));
        }
        Ok(Authorizers { by_api })
    }

    /// Checks a request against its route's authorizer: `Ok(None)` when the route has none,
    /// `Ok(Some(context))` with `requestContext.authorizer` as API Gateway fills it, or the
    /// 401/403 API Gateway answers with.
    ///
    /// # Errors
    /// The response to send instead of invoking the function.
    pub async fn authorize(&self, route: &RouteAuth, headers: &HeaderMap) -> Result<Option<Json>, HttpResponse> {
        let Some((default, checkers)) = self.by_api.get(&route.api) else { return Ok(None) };
        let name = match (&route.authorizer, default) {
            (Some(name), _) if name == "NONE" => return Ok(None),
            (Some(name), _) => name,
            (None, Some(default)) => default,
            (None, None) => return Ok(None),
        };
        let Some(checker) = checkers.get(name) else {
            // An authorizer that is not a JWT one (a Lambda authorizer) is not emulated.
            eprintln!("intercept-sam: authorizer {name} is not a JWT authorizer; the request is let through");
            return Ok(None);
        };
        let header = checker.settings.identity_source.strip_prefix("$request.header.").unwrap_or("authorization");
        let raw = headers.get(header).and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
        let token = raw.strip_prefix("Bearer ").or_else(|| raw.strip_prefix("bearer ")).unwrap_or(raw).trim();
        if token.is_empty() {
            return Err(unauthorized(r#"Bearer"#));
        }
        let principal = match checker.verifier.verify(token, now()).await {
            Ok(principal) => principal,
            Err(error) => {
                return Err(unauthorized(&format!(r#"Bearer error="invalid_token", error_description="{error}""#)));
            }
        };
        if !route.scopes.is_empty() && !route.scopes.iter().any(|scope| principal.scopes.contains(scope)) {
            let mut response = message(StatusCode::FORBIDDEN, "Forbidden");
            push(&mut response, r#"Bearer error="insufficient_scope""#);
            return Err(response);
        }
        // API Gateway passes every claim as a string.
        let claims: Map<String, Json> =
            principal.claims.iter().map(|(k, v)| (k.clone(), Json::String(crate::template::json_text(v)))).collect();
        Ok(Some(json!({ "jwt": { "claims": claims, "scopes": principal.scopes } })))
    }
}

fn push(response: &mut HttpResponse, challenge: &str) {
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response.headers.push((HeaderName::from_static("www-authenticate"), value));
    }
}

fn unauthorized(challenge: &str) -> HttpResponse {
    let mut response = message(StatusCode::UNAUTHORIZED, "Unauthorized");
    push(&mut response, challenge);
    response
}
