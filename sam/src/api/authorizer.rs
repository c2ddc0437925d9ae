//! The authorizers a route names, enforced before its function runs: JWT authorizers of HTTP
//! APIs and Cognito user pool authorizers of REST APIs with Intercept's own JWT check, and
//! Lambda authorizers run as the template's functions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderName, HeaderValue, StatusCode};
use intercept::Config;
use intercept::auth::{JwtVerifier, Principal};
use serde_json::{Map, Value as Json, json};

use super::lambda_authorizer::{LambdaCheck, unauthorized as lambda_unauthorized};
use super::payload::{HttpRequest, HttpResponse, PayloadVersion, Routed, message};
use crate::invoke_api::Pools;
use crate::local_invoke::CliError;
use crate::template::{ApiKind, Authorizer, CognitoAuthorizer, JwtAuthorizer, Template};

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

/// How the gateway's authorizers are set up.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuthorizerOptions {
    /// Cognito user pool ARN → the issuer to fetch its keys from, in place of
    /// `https://cognito-idp.REGION.amazonaws.com/POOL_ID` (a local OIDC issuer in tests).
    pub cognito_issuers: HashMap<String, String>,
}

impl AuthorizerOptions {
    /// Fetches the keys of the user pool `pool_arn` from `issuer` instead of Cognito.
    #[must_use]
    pub fn with_cognito_issuer(mut self, pool_arn: &str, issuer: &str) -> Self {
        self.cognito_issuers.insert(pool_arn.to_owned(), issuer.to_owned());
        self
    }
}

enum Check {
    Jwt { settings: JwtAuthorizer, verifier: JwtVerifier },
    Cognito { settings: CognitoAuthorizer, verifiers: Vec<JwtVerifier>, validation: Option<regex_lite::Regex> },
    Lambda(LambdaCheck),
}

/// Every authorizer of a template, ready to check requests.
#[derive(Default)]
pub struct Authorizers {
    by_api: HashMap<String, (Option<String>, HashMap<String, Check>)>,
}

impl std::fmt::Debug for Authorizers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizers").field("apis", &self.by_api.keys().collect::<Vec<_>>()).finish()
    }
}

fn now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// A verifier of tokens from `issuer` (its OIDC discovery document gives the keys).
async fn oidc_verifier(issuer: &str, audience: &str) -> Result<JwtVerifier, String> {
    let lookup = |name: &str| -> Option<String> {
        match name {
            "INTERCEPT_AUTH" => Some("jwt".to_owned()),
            "INTERCEPT_JWT_OIDC_ISSUER" | "INTERCEPT_JWT_ISSUER" => Some(issuer.to_owned()),
            "INTERCEPT_JWT_AUDIENCE" => Some(audience.to_owned()),
            "INTERCEPT_JWT_ALGORITHMS" => Some("RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,EdDSA".to_owned()),
            "INTERCEPT_DISABLE" => Some("ratelimit,telemetry".to_owned()),
            _ => None,
        }
    };
    let config = Config::from_lookup(lookup).map_err(|e| e.to_string())?;
    let jwt = config.auth().jwt.as_ref().ok_or_else(|| "no JWT settings".to_owned())?;
    JwtVerifier::connect(jwt, None, now()).await.map_err(|e| e.to_string())
}

/// The issuer of a Cognito user pool: `arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID`.
fn cognito_issuer(pool_arn: &str, options: &AuthorizerOptions) -> Result<String, String> {
    if let Some(issuer) = options.cognito_issuers.get(pool_arn) {
        return Ok(issuer.clone());
    }
    let mut parts = pool_arn.split(':');
    let region = parts.nth(3).filter(|r| !r.is_empty());
    let pool = pool_arn.rsplit_once("userpool/").map(|(_, id)| id).filter(|id| !id.is_empty());
    match (region, pool) {
        (Some(region), Some(pool)) => Ok(format!("https://cognito-idp.{region}.amazonaws.com/{pool}")),
        _ => Err(format!("UserPoolArn `{pool_arn}` is not a Cognito user pool ARN")),
    }
}

/// The template function a Lambda authorizer's `FunctionArn` names: an ARN ending in
/// `:function:NAME`, where NAME is a logical id or `STACK-LogicalId`.
fn authorizer_function(function_arn: &str, pools: &Pools) -> Option<(String, Arc<crate::pool::FunctionPool>)> {
    let name = function_arn.split_once(":function:").map_or(function_arn, |(_, rest)| rest);
    let name = name.split(':').next().unwrap_or(name);
    let exact = pools.get_key_value(name);
    let by_suffix = || pools.iter().find(|(id, _)| name.strip_suffix(id.as_str()).is_some_and(|p| p.ends_with('-')));
    exact.or_else(by_suffix).map(|(id, pool)| (id.clone(), pool.clone()))
}

impl Authorizers {
    /// Every authorizer of the template: JWT and Cognito keys fetched from their issuers, Lambda
    /// authorizers over their functions' pools.
    ///
    /// # Errors
    /// A [`CliError`] naming the authorizer whose issuer cannot be used.
    pub async fn connect(template: &Template, pools: &Pools, options: &AuthorizerOptions) -> Result<Self, CliError> {
        let mut by_api = HashMap::new();
        for api in &template.apis {
            let mut checks = HashMap::new();
            for authorizer in &api.authorizers {
                let fail =
                    |problem: String| CliError(format!("authorizer {} of {}: {problem}", authorizer.name(), api.api));
                let check = match authorizer {
                    Authorizer::Jwt(settings) => {
                        // An authorizer the template gives no audience checks none (the core
                        // otherwise refuses an OIDC source without one); `*` says so deliberately.
                        let audience =
                            if settings.audience.is_empty() { "*".to_owned() } else { settings.audience.join(",") };
                        let verifier = oidc_verifier(&settings.issuer, &audience)
                            .await
                            .map_err(|e| fail(format!("issuer {}: {e}", settings.issuer)))?;
                        Check::Jwt { settings: settings.clone(), verifier }
                    }
                    Authorizer::Cognito(settings) => {
                        let mut verifiers = Vec::new();
                        for pool in &settings.user_pool_arns {
                            let issuer = cognito_issuer(pool, options).map_err(fail)?;
                            // Any app client of the pool may call: no audience is checked.
                            verifiers.push(
                                oidc_verifier(&issuer, "*").await.map_err(|e| fail(format!("issuer {issuer}: {e}")))?,
                            );
                        }
                        let validation = settings
                            .validation_expression
                            .as_deref()
                            .and_then(|e| regex_lite::Regex::new(&format!("^(?:{e})$")).ok());
                        Check::Cognito { settings: settings.clone(), verifiers, validation }
                    }
                    Authorizer::Lambda(settings) => {
                        let function = authorizer_function(&settings.function_arn, pools);
                        if function.is_none() {
                            eprintln!(
                                "intercept-sam: authorizer {} of {}: FunctionArn `{}` names no function of the template; its routes answer 500",
                                settings.name, api.api, settings.function_arn
                            );
                        }
                        Check::Lambda(LambdaCheck::new(settings.clone(), function))
                    }
                };
                checks.insert(authorizer.name().to_owned(), check);
            }
            by_api.insert(api.api.clone(), (api.default_authorizer.clone(), checks));
        }
        Ok(Authorizers { by_api })
    }

    /// Checks a request against its route's authorizer: `Ok(None)` when the route has none,
    /// `Ok(Some(context))` with `requestContext.authorizer` as API Gateway fills it for the
    /// route's payload format `version`, or the response API Gateway answers with instead.
    /// `event` is the route's event so far.
    ///
    /// # Errors
    /// The response to send instead of invoking the function.
    pub async fn authorize(
        &self,
        route: &RouteAuth,
        kind: ApiKind,
        version: PayloadVersion,
        request: &HttpRequest<'_>,
        routed: &Routed<'_>,
        event: &Json,
    ) -> Result<Option<Json>, HttpResponse> {
        let Some((default, checks)) = self.by_api.get(&route.api) else { return Ok(None) };
        let name = match (&route.authorizer, default) {
            (Some(name), _) if name == "NONE" => return Ok(None),
            (Some(name), _) => name,
            (None, Some(default)) => default,
            (None, None) => return Ok(None),
        };
        match checks.get(name) {
            Some(Check::Jwt { settings, verifier }) => {
                let header = settings.identity_source.strip_prefix("$request.header.").unwrap_or("authorization");
                jwt(verifier, bearer(request, header), &route.scopes)
                    .await
                    .map(|context| Some(jwt_context(context, version)))
            }
            Some(Check::Cognito { settings, verifiers, validation }) => {
                cognito(settings, verifiers, validation.as_ref(), request, &route.scopes).await.map(Some)
            }
            Some(Check::Lambda(check)) => check.authorize(kind, version, request, routed, event).await.map(Some),
            None => {
                // `AWS_IAM` and authorizers the template does not define: nothing to run locally.
                eprintln!(
                    "intercept-sam: authorizer {name} of {} is not emulated; the request is let through",
                    route.api
                );
                Ok(None)
            }
        }
    }
}

/// The token in `header`, without a `Bearer ` prefix.
fn bearer<'a>(request: &'a HttpRequest<'_>, header: &str) -> &'a str {
    let raw = request.headers.get(header).and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
    raw.strip_prefix("Bearer ").or_else(|| raw.strip_prefix("bearer ")).unwrap_or(raw).trim()
}

async fn jwt(verifier: &JwtVerifier, token: &str, scopes: &[String]) -> Result<Json, HttpResponse> {
    if token.is_empty() {
        return Err(challenge(message(StatusCode::UNAUTHORIZED, "Unauthorized"), "Bearer"));
    }
    let principal = verifier.verify(token, now()).await.map_err(|error| {
        let challenge_text = format!(r#"Bearer error="invalid_token", error_description="{error}""#);
        challenge(message(StatusCode::UNAUTHORIZED, "Unauthorized"), &challenge_text)
    })?;
    if !scopes.is_empty() && !scopes.iter().any(|scope| principal.scopes.contains(scope)) {
        return Err(challenge(message(StatusCode::FORBIDDEN, "Forbidden"), r#"Bearer error="insufficient_scope""#));
    }
    Ok(json!({ "claims": string_claims(&principal), "scopes": principal.scopes }))
}

/// A JWT authorizer's claims and scopes where API Gateway puts them: under `jwt` in a 2.0
/// event, directly in `requestContext.authorizer` in a route's 1.0 event.
fn jwt_context(context: Json, version: PayloadVersion) -> Json {
    match version {
        PayloadVersion::V2 => json!({ "jwt": context }),
        PayloadVersion::V1 => context,
    }
}

/// API Gateway passes every claim as a string.
fn string_claims(principal: &Principal) -> Map<String, Json> {
    principal.claims.iter().map(|(k, v)| (k.clone(), Json::String(crate::template::json_text(v)))).collect()
}

/// A REST API's Cognito authorizer: an ID token, or an access token holding one of the
/// route's scopes when it names some; every failure is API Gateway's plain 401.
async fn cognito(
    settings: &CognitoAuthorizer,
    verifiers: &[JwtVerifier],
    validation: Option<&regex_lite::Regex>,
    request: &HttpRequest<'_>,
    route_scopes: &[String],
) -> Result<Json, HttpResponse> {
    let token = bearer(request, &settings.header);
    if token.is_empty() || validation.is_some_and(|v| !v.is_match(token)) {
        return Err(lambda_unauthorized());
    }
    let mut principal = None;
    for verifier in verifiers {
        if let Ok(verified) = verifier.verify(token, now()).await {
            principal = Some(verified);
            break;
        }
    }
    let principal = principal.ok_or_else(lambda_unauthorized)?;
    let scopes = if route_scopes.is_empty() { settings.scopes.as_slice() } else { route_scopes };
    let token_use = principal.claims.get("token_use").and_then(Json::as_str);
    let fits = if scopes.is_empty() {
        token_use.is_none_or(|u| u == "id")
    } else {
        token_use.is_none_or(|u| u == "access") && scopes.iter().any(|s| principal.scopes.contains(s))
    };
    if !fits {
        return Err(lambda_unauthorized());
    }
    let mut context = json!({ "claims": string_claims(&principal) });
    if !scopes.is_empty() {
        context["scopes"] = json!(principal.scopes);
    }
    Ok(context)
}

fn challenge(mut response: HttpResponse, value: &str) -> HttpResponse {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers.push((HeaderName::from_static("www-authenticate"), value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_claims_sit_where_the_payload_version_puts_them() {
        let context = json!({"claims": {"sub": "alice"}, "scopes": ["orders/read"]});
        assert_eq!(jwt_context(context.clone(), PayloadVersion::V2), json!({"jwt": context}));
        assert_eq!(
            jwt_context(context.clone(), PayloadVersion::V1),
            context,
            "1.0: claims and scopes under authorizer"
        );
    }

    #[test]
    fn cognito_issuers_from_pool_arns() {
        let options = AuthorizerOptions::default();
        assert_eq!(
            cognito_issuer("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC", &options),
            Ok("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC".to_owned())
        );
        assert!(cognito_issuer("not-an-arn", &options).is_err());
        let options = options.with_cognito_issuer("arn:pool", "http://127.0.0.1:1/issuer");
        assert_eq!(cognito_issuer("arn:pool", &options), Ok("http://127.0.0.1:1/issuer".to_owned()));
    }
}
