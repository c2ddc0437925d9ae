//! HTTP events of functions (`Api`, `HttpApi`, function URLs) and the JWT authorizers of
//! `AWS::Serverless::HttpApi` resources.

use serde_json::Value as Json;

/// Which API Gateway flavour serves a route, which decides the event's payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// `Type: Api`: a REST API, payload format 1.0.
    Rest,
    /// `Type: HttpApi`: an HTTP API, payload format 2.0.
    Http,
}

/// One `Api`/`HttpApi` event of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEvent {
    /// The event's name under `Events`.
    pub name: String,
    /// REST or HTTP API.
    pub kind: ApiKind,
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// The path template (`/orders/{id}`, `/{proxy+}`).
    pub path: String,
    /// The API's logical id (`RestApiId`/`ApiId`), or the implicit one.
    pub api: String,
    /// The authorizer named on the event, if any (`NONE` turns the API's default off).
    pub authorizer: Option<String>,
    /// Scopes the route requires (`AuthorizationScopes`).
    pub scopes: Vec<String>,
}

/// A JWT authorizer of an HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    /// Its name under `Auth.Authorizers`.
    pub name: String,
    /// `JwtConfiguration.issuer`.
    pub issuer: String,
    /// `JwtConfiguration.audience`.
    pub audience: Vec<String>,
    /// `IdentitySource`, e.g. `$request.header.Authorization`.
    pub identity_source: String,
}

/// An HTTP API's authorization settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpApiAuth {
    /// The API's logical id.
    pub api: String,
    /// Its JWT authorizers.
    pub authorizers: Vec<JwtAuthorizer>,
    /// `DefaultAuthorizer`.
    pub default_authorizer: Option<String>,
}

/// The implicit APIs SAM creates for events that name none.
pub const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";
/// The implicit REST API.
pub const IMPLICIT_REST_API: &str = "ServerlessRestApi";

fn text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    }
}

/// The `Api`/`HttpApi` events in a function's resolved `Events` property; others are ignored.
///
/// # Errors
/// A message naming the event and property at fault.
pub(crate) fn http_events(events: &Json) -> Result<Vec<HttpEvent>, String> {
    let Some(events) = events.as_object() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (name, event) in events {
        let kind = match event["Type"].as_str() {
            Some("Api") => ApiKind::Rest,
            Some("HttpApi") => ApiKind::Http,
            _ => continue,
        };
        let properties = &event["Properties"];
        let (path, method) = match kind {
            ApiKind::Rest => {
                let path =
                    text(&properties["Path"]).ok_or_else(|| format!("Events.{name}.Properties.Path is missing"))?;
                let method =
                    text(&properties["Method"]).ok_or_else(|| format!("Events.{name}.Properties.Method is missing"))?;
                (path, method)
            }
            // An HttpApi event without Path and Method is the `$default` route.
            ApiKind::Http => (
                text(&properties["Path"]).unwrap_or_else(|| "/{proxy+}".to_owned()),
                text(&properties["Method"]).unwrap_or_else(|| "ANY".to_owned()),
            ),
        };
        if !path.starts_with('/') {
            return Err(format!("Events.{name}.Properties.Path `{path}` must start with /"));
        }
        let api_key = if kind == ApiKind::Rest { "RestApiId" } else { "ApiId" };
        let api = text(&properties[api_key])
            .unwrap_or_else(|| (if kind == ApiKind::Rest { IMPLICIT_REST_API } else { IMPLICIT_HTTP_API }).to_owned());
        let auth = &properties["Auth"];
        out.push(HttpEvent {
            name: name.clone(),
            kind,
            method: method.to_ascii_uppercase(),
            path,
            api,
            authorizer: text(&auth["Authorizer"]),
            scopes: auth["AuthorizationScopes"]
                .as_array()
                .map(|scopes| scopes.iter().filter_map(text).collect())
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The JWT authorizers in an HTTP API's resolved `Auth` property.
///
/// # Errors
/// A message naming the authorizer and property at fault.
pub(crate) fn http_api_auth(api: &str, auth: &Json) -> Result<HttpApiAuth, String> {
    let mut authorizers = Vec::new();
    if let Some(all) = auth["Authorizers"].as_object() {
        for (name, authorizer) in all {
            let jwt = &authorizer["JwtConfiguration"];
            if jwt.is_null() {
                // Lambda authorizers run functions of their own; they are not emulated yet.
                continue;
            }
            let issuer = text(&jwt["issuer"])
                .ok_or_else(|| format!("Auth.Authorizers.{name}.JwtConfiguration.issuer is missing"))?;
            let audience = match &jwt["audience"] {
                Json::Array(values) => values.iter().filter_map(text).collect(),
                Json::Null => Vec::new(),
                other => vec![text(other).unwrap_or_default()],
            };
            authorizers.push(JwtAuthorizer {
                name: name.clone(),
                issuer,
                audience,
                identity_source: text(&authorizer["IdentitySource"])
                    .unwrap_or_else(|| "$request.header.Authorization".to_owned()),
            });
        }
    }
    Ok(HttpApiAuth { api: api.to_owned(), authorizers, default_authorizer: text(&auth["DefaultAuthorizer"]) })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_api_and_http_api_events() {
        let events = http_events(&json!({
            "Get": {"Type": "HttpApi", "Properties": {"Path": "/orders/{id}", "Method": "get",
                "Auth": {"Authorizer": "Cognito", "AuthorizationScopes": ["orders/read"]}}},
            "Rest": {"Type": "Api", "Properties": {"Path": "/{proxy+}", "Method": "ANY", "RestApiId": "MyApi"}},
            "Default": {"Type": "HttpApi"},
            "Queue": {"Type": "SQS", "Properties": {"Queue": "arn"}},
        }))
        .expect("valid");
        assert_eq!(events.len(), 3);
        let get = events.iter().find(|e| e.name == "Get").expect("Get");
        assert_eq!((get.kind, get.method.as_str(), get.api.as_str()), (ApiKind::Http, "GET", IMPLICIT_HTTP_API));
        assert_eq!(get.scopes, ["orders/read"]);
        let rest = events.iter().find(|e| e.name == "Rest").expect("Rest");
        assert_eq!((rest.kind, rest.api.as_str()), (ApiKind::Rest, "MyApi"));
        let default = events.iter().find(|e| e.name == "Default").expect("Default");
        assert_eq!((default.method.as_str(), default.path.as_str()), ("ANY", "/{proxy+}"));
        let error =
            http_events(&json!({"Bad": {"Type": "Api", "Properties": {"Method": "GET"}}})).expect_err("no path");
        assert!(error.contains("Events.Bad.Properties.Path"), "{error}");
    }

    #[test]
    fn reads_jwt_authorizers() {
        let auth = http_api_auth(
            "Api",
            &json!({"DefaultAuthorizer": "Main", "Authorizers": {"Main": {
                "IdentitySource": "$request.header.Authorization",
                "JwtConfiguration": {"issuer": "https://id.example", "audience": ["api"]}}}}),
        )
        .expect("valid");
        assert_eq!(auth.default_authorizer.as_deref(), Some("Main"));
        assert_eq!(auth.authorizers[0].issuer, "https://id.example");
        assert_eq!(auth.authorizers[0].audience, ["api"]);
    }
}
