//! HTTP events of functions (`Api`, `HttpApi`, function URLs), and the authorizers and CORS
//! settings of `AWS::Serverless::Api` and `AWS::Serverless::HttpApi` resources.

use std::collections::BTreeMap;

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
    /// The event format its function gets: `PayloadFormatVersion` of an `HttpApi` event
    /// (`2.0` unless it says `1.0`); `1.0` for `Api` events.
    pub payload_format_version: String,
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

/// What a Lambda authorizer is sent: the token alone, or the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaAuthorizerType {
    /// `FunctionPayloadType: TOKEN` (REST APIs only): `{type, authorizationToken, methodArn}`.
    Token,
    /// `FunctionPayloadType: REQUEST`, and every HTTP API Lambda authorizer.
    Request,
}

/// Where an identity source is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// A header (names are case-insensitive).
    Header(String),
    /// A query string parameter (case-sensitive).
    QueryString(String),
    /// A stage variable.
    StageVariable(String),
    /// A context variable (`$context.routeKey`, `context.httpMethod`).
    Context(String),
}

/// A Lambda authorizer of an `Api` or `HttpApi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaAuthorizer {
    /// Its name under `Auth.Authorizers`.
    pub name: String,
    /// `FunctionArn`, as resolved (`!GetAtt Fn.Arn` gives the function's ARN).
    pub function_arn: String,
    /// TOKEN or REQUEST.
    pub payload_type: LambdaAuthorizerType,
    /// `AuthorizerPayloadFormatVersion` of an HTTP API's authorizer (`1.0`/`2.0`); REST
    /// authorizers speak `1.0`.
    pub payload_version: String,
    /// `EnableSimpleResponses` (HTTP APIs, payload 2.0): `{isAuthorized, context}`.
    pub simple_responses: bool,
    /// Where the identity is read; every one must be present or the request gets a 401.
    pub identity: Vec<IdentitySource>,
    /// `Identity.ValidationExpression` (TOKEN authorizers): a token it does not match gets a
    /// 401 without invoking the authorizer.
    pub validation_expression: Option<String>,
    /// `Identity.ReauthorizeEvery` in seconds: how long a result is cached (0: never). REST
    /// APIs default to 300, HTTP APIs to 0.
    pub ttl_seconds: u64,
}

/// A Cognito user pool authorizer of a REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoAuthorizer {
    /// Its name under `Auth.Authorizers`.
    pub name: String,
    /// `UserPoolArn` (one or more).
    pub user_pool_arns: Vec<String>,
    /// `Identity.Header` (default `Authorization`).
    pub header: String,
    /// `Identity.ValidationExpression`.
    pub validation_expression: Option<String>,
    /// `AuthorizationScopes`: the default scopes of routes that name none.
    pub scopes: Vec<String>,
}

/// An authorizer of an API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authorizer {
    /// A JWT authorizer (HTTP APIs).
    Jwt(JwtAuthorizer),
    /// A Lambda authorizer.
    Lambda(LambdaAuthorizer),
    /// A Cognito user pool authorizer (REST APIs).
    Cognito(CognitoAuthorizer),
}

impl Authorizer {
    /// Its name under `Auth.Authorizers`.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Authorizer::Jwt(a) => &a.name,
            Authorizer::Lambda(a) => &a.name,
            Authorizer::Cognito(a) => &a.name,
        }
    }
}

/// An API's CORS settings: a REST API's `Cors` (the header values of the OPTIONS mock SAM adds,
/// quotes removed) or an HTTP API's `CorsConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cors {
    /// `AllowOrigin` (REST: one value, sent as is) or `AllowOrigins` (HTTP).
    pub allow_origins: Vec<String>,
    /// `AllowMethods`; REST APIs without one answer with the path's own methods.
    pub allow_methods: Vec<String>,
    /// `AllowHeaders`.
    pub allow_headers: Vec<String>,
    /// `ExposeHeaders` (HTTP).
    pub expose_headers: Vec<String>,
    /// `MaxAge` in seconds.
    pub max_age: Option<String>,
    /// `AllowCredentials`.
    pub allow_credentials: bool,
}

/// An API's authorizers and CORS settings, Globals merged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The API's logical id.
    pub api: String,
    /// REST or HTTP API.
    pub kind: ApiKind,
    /// Its authorizers.
    pub authorizers: Vec<Authorizer>,
    /// `DefaultAuthorizer`.
    pub default_authorizer: Option<String>,
    /// `AddDefaultAuthorizerToCorsPreflight` (REST APIs; SAM's default is true): the CORS
    /// preflight goes through the default authorizer too.
    pub default_authorizer_on_preflight: bool,
    /// `Cors` / `CorsConfiguration`.
    pub cors: Option<Cors>,
    /// Its stage: `StageName`, stage variables and `BinaryMediaTypes`.
    pub stage: ApiStage,
}

/// An API's stage as its events show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiStage {
    /// `StageName`: a REST API's (the implicit one's is `Prod`), or an HTTP API's (`$default`
    /// unless it names one).
    pub name: String,
    /// `Variables` (REST) or `StageVariables` (HTTP): `stageVariables` in events.
    pub variables: BTreeMap<String, String>,
    /// `BinaryMediaTypes` (REST APIs), `~1` read as `/` as SAM does: request bodies of these
    /// content types reach the function in base64, and base64 responses of them are decoded.
    pub binary_media_types: Vec<String>,
}

impl ApiStage {
    /// The stage of an API that names none: `Prod` (SAM's implicit REST API) or `$default`.
    #[must_use]
    pub fn default_for(kind: ApiKind) -> Self {
        let name = if kind == ApiKind::Rest { "Prod" } else { "$default" };
        ApiStage { name: name.to_owned(), variables: BTreeMap::new(), binary_media_types: Vec::new() }
    }
}

/// An API's stage from its resolved `StageName`, stage variables and `BinaryMediaTypes`.
///
/// # Errors
/// A message naming the property at fault.
pub(crate) fn api_stage(
    kind: ApiKind,
    stage_name: &Json,
    variables: &Json,
    binary_media_types: &Json,
) -> Result<ApiStage, String> {
    let mut stage = ApiStage::default_for(kind);
    if let Some(name) = text(stage_name).filter(|n| !n.is_empty()) {
        stage.name = name;
    }
    let key = if kind == ApiKind::Rest { "Variables" } else { "StageVariables" };
    match variables {
        Json::Null => {}
        Json::Object(entries) => {
            stage.variables = entries.iter().map(|(k, v)| (k.clone(), text(v).unwrap_or_default())).collect();
        }
        _ => return Err(format!("{key} must be a mapping of names to values")),
    }
    stage.binary_media_types = match binary_media_types {
        Json::Null => Vec::new(),
        Json::Array(types) => {
            types.iter().filter_map(text).map(|t| t.replace("~1", "/").to_ascii_lowercase()).collect()
        }
        _ => return Err("BinaryMediaTypes must be a list of media types".to_owned()),
    };
    Ok(stage)
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
        let payload_format_version = match (kind, text(&properties["PayloadFormatVersion"]).as_deref()) {
            (ApiKind::Rest, _) => "1.0".to_owned(),
            (ApiKind::Http, None | Some("2.0")) => "2.0".to_owned(),
            (ApiKind::Http, Some("1.0")) => "1.0".to_owned(),
            (ApiKind::Http, Some(other)) => {
                return Err(format!(
                    "Events.{name}.Properties.PayloadFormatVersion `{other}` must be \"1.0\" or \"2.0\""
                ));
            }
        };
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
            payload_format_version,
        });
    }
    Ok(out)
}

fn strings(value: &Json) -> Vec<String> {
    match value {
        Json::Array(values) => values.iter().filter_map(text).collect(),
        Json::Null => Vec::new(),
        other => text(other).into_iter().collect(),
    }
}

/// A REST API's CORS value: a string expression, which SAM requires quoted (`"'*'"`).
fn quoted(value: &Json, property: &str) -> Result<Option<String>, String> {
    let Some(raw) = text(value) else { return Ok(None) };
    match raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(inner) => Ok(Some(inner.to_owned())),
        None => Err(format!("Cors.{property} `{raw}` must be a quoted string (\"'*'\" is right, \"*\" is not)")),
    }
}

fn rest_cors(cors: &Json) -> Result<Option<Cors>, String> {
    let list = |value: Option<String>| -> Vec<String> {
        value.map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    };
    match cors {
        Json::Null | Json::Bool(false) => Ok(None),
        Json::Object(_) => {
            let origin = quoted(&cors["AllowOrigin"], "AllowOrigin")?.unwrap_or_else(|| "*".to_owned());
            Ok(Some(Cors {
                allow_origins: vec![origin],
                allow_methods: list(quoted(&cors["AllowMethods"], "AllowMethods")?),
                allow_headers: list(quoted(&cors["AllowHeaders"], "AllowHeaders")?),
                expose_headers: Vec::new(),
                max_age: quoted(&cors["MaxAge"], "MaxAge").ok().flatten().or_else(|| text(&cors["MaxAge"])),
                allow_credentials: cors["AllowCredentials"].as_bool().unwrap_or(false)
                    || text(&cors["AllowCredentials"]).as_deref() == Some("true"),
            }))
        }
        other => {
            Ok(Some(Cors { allow_origins: vec![quoted(other, "AllowOrigin")?.unwrap_or_default()], ..Cors::default() }))
        }
    }
}

fn http_cors(cors: &Json) -> Option<Cors> {
    match cors {
        Json::Null | Json::Bool(false) => None,
        // `CorsConfiguration: true` allows every origin, and nothing else.
        Json::Bool(true) => Some(Cors { allow_origins: vec!["*".to_owned()], ..Cors::default() }),
        Json::Object(_) => Some(Cors {
            allow_origins: strings(&cors["AllowOrigins"]),
            allow_methods: strings(&cors["AllowMethods"]),
            allow_headers: strings(&cors["AllowHeaders"]),
            expose_headers: strings(&cors["ExposeHeaders"]),
            max_age: text(&cors["MaxAge"]),
            allow_credentials: cors["AllowCredentials"].as_bool().unwrap_or(false)
                || text(&cors["AllowCredentials"]).as_deref() == Some("true"),
        }),
        other => Some(Cors { allow_origins: strings(other), ..Cors::default() }),
    }
}

fn identity_sources(identity: &Json) -> Vec<IdentitySource> {
    let mut sources = Vec::new();
    for (key, make) in [
        ("Headers", IdentitySource::Header as fn(String) -> IdentitySource),
        ("QueryStrings", IdentitySource::QueryString),
        ("StageVariables", IdentitySource::StageVariable),
        ("Context", IdentitySource::Context),
    ] {
        sources.extend(strings(&identity[key]).into_iter().map(make));
    }
    sources
}

fn lambda_authorizer(name: &str, kind: ApiKind, authorizer: &Json) -> Result<LambdaAuthorizer, String> {
    let at = |property: &str| format!("Auth.Authorizers.{name}.{property}");
    let function_arn = text(&authorizer["FunctionArn"]).ok_or_else(|| format!("{} is missing", at("FunctionArn")))?;
    let identity = &authorizer["Identity"];
    let ttl = |default: u64| -> Result<u64, String> {
        match text(&identity["ReauthorizeEvery"]) {
            None => Ok(default),
            Some(value) => value
                .parse::<u64>()
                .ok()
                .filter(|ttl| *ttl <= 3600)
                .ok_or_else(|| format!("{} `{value}` is not 0-3600 seconds", at("Identity.ReauthorizeEvery"))),
        }
    };
    let validation_expression = text(&identity["ValidationExpression"]);
    if let Some(expression) = &validation_expression {
        regex_lite::Regex::new(expression).map_err(|e| {
            format!("{} `{expression}` is not a regular expression: {e}", at("Identity.ValidationExpression"))
        })?;
    }
    match kind {
        ApiKind::Rest => {
            let payload_type = match text(&authorizer["FunctionPayloadType"]).as_deref() {
                None | Some("TOKEN") => LambdaAuthorizerType::Token,
                Some("REQUEST") => LambdaAuthorizerType::Request,
                Some(other) => {
                    return Err(format!("{} `{other}` is not TOKEN or REQUEST", at("FunctionPayloadType")));
                }
            };
            let identity_sources = match payload_type {
                LambdaAuthorizerType::Token => vec![IdentitySource::Header(
                    text(&identity["Header"]).unwrap_or_else(|| "Authorization".to_owned()),
                )],
                LambdaAuthorizerType::Request => identity_sources(identity),
            };
            let ttl_seconds = ttl(300)?;
            if payload_type == LambdaAuthorizerType::Request && identity_sources.is_empty() && ttl_seconds > 0 {
                return Err(format!(
                    "{} must name at least one of Headers, QueryStrings, StageVariables or Context",
                    at("Identity")
                ));
            }
            Ok(LambdaAuthorizer {
                name: name.to_owned(),
                function_arn,
                payload_type,
                payload_version: "1.0".to_owned(),
                simple_responses: false,
                identity: identity_sources,
                validation_expression: validation_expression.filter(|_| payload_type == LambdaAuthorizerType::Token),
                ttl_seconds,
            })
        }
        ApiKind::Http => {
            let payload_version = text(&authorizer["AuthorizerPayloadFormatVersion"])
                .ok_or_else(|| format!("{} is missing (1.0 or 2.0)", at("AuthorizerPayloadFormatVersion")))?;
            if payload_version != "1.0" && payload_version != "2.0" {
                return Err(format!("{} `{payload_version}` is not 1.0 or 2.0", at("AuthorizerPayloadFormatVersion")));
            }
            let simple_responses = authorizer["EnableSimpleResponses"].as_bool().unwrap_or(false);
            if simple_responses && payload_version != "2.0" {
                return Err(format!("{} needs AuthorizerPayloadFormatVersion 2.0", at("EnableSimpleResponses")));
            }
            let identity_sources = identity_sources(identity);
            let ttl_seconds = ttl(0)?;
            if ttl_seconds > 0 && identity_sources.is_empty() {
                return Err(format!("{} caches results, so it must name an identity source", at("Identity")));
            }
            Ok(LambdaAuthorizer {
                name: name.to_owned(),
                function_arn,
                payload_type: LambdaAuthorizerType::Request,
                payload_version,
                simple_responses,
                identity: identity_sources,
                validation_expression: None,
                ttl_seconds,
            })
        }
    }
}

/// An API's authorizers and CORS settings from its resolved `Auth` and `Cors`/`CorsConfiguration`
/// properties (Globals already merged in).
///
/// # Errors
/// A message naming the authorizer and property at fault.
pub(crate) fn api_settings(api: &str, kind: ApiKind, auth: &Json, cors: &Json) -> Result<ApiSettings, String> {
    let mut authorizers = Vec::new();
    if let Some(all) = auth["Authorizers"].as_object() {
        for (name, authorizer) in all {
            let jwt = &authorizer["JwtConfiguration"];
            if kind == ApiKind::Http && !jwt.is_null() {
                let issuer = text(&jwt["issuer"])
                    .ok_or_else(|| format!("Auth.Authorizers.{name}.JwtConfiguration.issuer is missing"))?;
                authorizers.push(Authorizer::Jwt(JwtAuthorizer {
                    name: name.clone(),
                    issuer,
                    audience: strings(&jwt["audience"]),
                    identity_source: text(&authorizer["IdentitySource"])
                        .unwrap_or_else(|| "$request.header.Authorization".to_owned()),
                }));
            } else if !authorizer["FunctionArn"].is_null() {
                authorizers.push(Authorizer::Lambda(lambda_authorizer(name, kind, authorizer)?));
            } else if kind == ApiKind::Rest && !authorizer["UserPoolArn"].is_null() {
                let identity = &authorizer["Identity"];
                authorizers.push(Authorizer::Cognito(CognitoAuthorizer {
                    name: name.clone(),
                    user_pool_arns: strings(&authorizer["UserPoolArn"]),
                    header: text(&identity["Header"]).unwrap_or_else(|| "Authorization".to_owned()),
                    validation_expression: text(&identity["ValidationExpression"]),
                    scopes: strings(&authorizer["AuthorizationScopes"]),
                }));
            } else {
                return Err(format!(
                    "Auth.Authorizers.{name}: expected {}",
                    match kind {
                        ApiKind::Rest => "FunctionArn (a Lambda authorizer) or UserPoolArn (Cognito)",
                        ApiKind::Http => "JwtConfiguration (a JWT authorizer) or FunctionArn (a Lambda authorizer)",
                    }
                ));
            }
        }
    }
    let cors = match kind {
        ApiKind::Rest => rest_cors(cors)?,
        ApiKind::Http => http_cors(cors),
    };
    Ok(ApiSettings {
        api: api.to_owned(),
        kind,
        authorizers,
        default_authorizer: text(&auth["DefaultAuthorizer"]),
        default_authorizer_on_preflight: auth["AddDefaultAuthorizerToCorsPreflight"].as_bool().unwrap_or(true),
        cors,
        stage: ApiStage::default_for(kind),
    })
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
        let auth = api_settings(
            "Api",
            ApiKind::Http,
            &json!({"DefaultAuthorizer": "Main", "Authorizers": {"Main": {
                "IdentitySource": "$request.header.Authorization",
                "JwtConfiguration": {"issuer": "https://id.example", "audience": ["api"]}}}}),
            &Json::Null,
        )
        .expect("valid");
        assert_eq!(auth.default_authorizer.as_deref(), Some("Main"));
        let Authorizer::Jwt(jwt) = &auth.authorizers[0] else { panic!("{auth:?}") };
        assert_eq!(jwt.issuer, "https://id.example");
        assert_eq!(jwt.audience, ["api"]);
        assert_eq!(auth.cors, None);
    }

    #[test]
    fn reads_lambda_and_cognito_authorizers() {
        let rest = api_settings(
            "Api",
            ApiKind::Rest,
            &json!({"DefaultAuthorizer": "Token", "AddDefaultAuthorizerToCorsPreflight": false, "Authorizers": {
                "Token": {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:sam-app-Auth",
                    "Identity": {"Header": "X-Token", "ValidationExpression": "^Bearer .+$"}},
                "Request": {"FunctionArn": "arn", "FunctionPayloadType": "REQUEST",
                    "Identity": {"Headers": ["X-A"], "QueryStrings": ["q"], "ReauthorizeEvery": 10}},
                "Pool": {"UserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"}}}),
            &Json::Null,
        )
        .expect("valid");
        assert!(!rest.default_authorizer_on_preflight);
        let find = |name: &str| rest.authorizers.iter().find(|a| a.name() == name).expect(name).clone();
        let Authorizer::Lambda(token) = find("Token") else { panic!() };
        assert_eq!(token.payload_type, LambdaAuthorizerType::Token);
        assert_eq!(token.identity, [IdentitySource::Header("X-Token".to_owned())]);
        assert_eq!((token.ttl_seconds, token.validation_expression.as_deref()), (300, Some("^Bearer .+$")));
        let Authorizer::Lambda(request) = find("Request") else { panic!() };
        assert_eq!(
            request.identity,
            [IdentitySource::Header("X-A".to_owned()), IdentitySource::QueryString("q".to_owned())]
        );
        assert_eq!(request.ttl_seconds, 10);
        let Authorizer::Cognito(pool) = find("Pool") else { panic!() };
        assert_eq!(pool.header, "Authorization");

        let http = api_settings(
            "Http",
            ApiKind::Http,
            &json!({"Authorizers": {"L": {"FunctionArn": "arn", "AuthorizerPayloadFormatVersion": 2.0,
                "EnableSimpleResponses": true, "Identity": {"Headers": ["Authorization"]}}}}),
            &json!(true),
        )
        .expect("valid");
        let Authorizer::Lambda(lambda) = &http.authorizers[0] else { panic!() };
        assert_eq!((lambda.payload_version.as_str(), lambda.simple_responses, lambda.ttl_seconds), ("2.0", true, 0));
        assert_eq!(http.cors.expect("cors").allow_origins, ["*"]);

        let missing =
            api_settings("Http", ApiKind::Http, &json!({"Authorizers": {"L": {"FunctionArn": "arn"}}}), &Json::Null);
        assert!(missing.expect_err("no version").contains("Auth.Authorizers.L.AuthorizerPayloadFormatVersion"));
        let no_identity = api_settings(
            "Api",
            ApiKind::Rest,
            &json!({"Authorizers": {"R": {"FunctionArn": "arn", "FunctionPayloadType": "REQUEST"}}}),
            &Json::Null,
        );
        assert!(no_identity.expect_err("no identity").contains("Auth.Authorizers.R.Identity"));
    }

    #[test]
    fn reads_cors_as_sam_writes_it() {
        let rest = api_settings(
            "Api",
            ApiKind::Rest,
            &Json::Null,
            &json!({"AllowOrigin": "'https://app.example'", "AllowHeaders": "'Content-Type,X-Token'",
                "MaxAge": "'600'", "AllowCredentials": true}),
        )
        .expect("valid")
        .cors
        .expect("cors");
        assert_eq!(rest.allow_origins, ["https://app.example"]);
        assert_eq!(rest.allow_headers, ["Content-Type", "X-Token"]);
        assert!(rest.allow_methods.is_empty(), "the path's methods are used");
        assert_eq!((rest.max_age.as_deref(), rest.allow_credentials), (Some("600"), true));
        let origin_only = api_settings("Api", ApiKind::Rest, &Json::Null, &json!("'*'")).expect("valid");
        assert_eq!(origin_only.cors.expect("cors").allow_origins, ["*"]);
        let unquoted = api_settings("Api", ApiKind::Rest, &Json::Null, &json!("*")).expect_err("unquoted");
        assert!(unquoted.contains("quoted"), "{unquoted}");
        let http = api_settings(
            "Http",
            ApiKind::Http,
            &Json::Null,
            &json!({"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 60,
                "ExposeHeaders": ["x-id"]}),
        )
        .expect("valid")
        .cors
        .expect("cors");
        assert_eq!(http.allow_methods, ["GET", "POST"]);
        assert_eq!(
            (http.max_age.as_deref(), http.expose_headers.as_slice()),
            (Some("60"), ["x-id".to_owned()].as_slice())
        );
    }

    #[test]
    fn reads_payload_format_versions() {
        let events = http_events(&json!({
            "V1": {"Type": "HttpApi", "Properties": {"Path": "/v1", "Method": "get", "PayloadFormatVersion": "1.0"}},
            "V2": {"Type": "HttpApi", "Properties": {"Path": "/v2", "Method": "get"}},
            "Rest": {"Type": "Api", "Properties": {"Path": "/rest", "Method": "get"}},
        }))
        .expect("events");
        let version = |name: &str| events.iter().find(|e| e.name == name).map(|e| e.payload_format_version.as_str());
        assert_eq!((version("V1"), version("V2"), version("Rest")), (Some("1.0"), Some("2.0"), Some("1.0")));
        let bad = json!({"E": {"Type": "HttpApi", "Properties": {"PayloadFormatVersion": "3.0"}}});
        let error = http_events(&bad).expect_err("3.0");
        assert!(error.contains("Events.E.Properties.PayloadFormatVersion `3.0`"), "{error}");
    }

    #[test]
    fn reads_stages_as_sam_writes_them() {
        let rest = api_stage(
            ApiKind::Rest,
            &json!("dev"),
            &json!({"table": "orders", "limit": 5}),
            &json!(["image~1png", "application/octet-stream"]),
        )
        .expect("stage");
        assert_eq!(rest.name, "dev");
        assert_eq!(rest.variables["table"], "orders");
        assert_eq!(rest.variables["limit"], "5");
        assert_eq!(rest.binary_media_types, ["image/png", "application/octet-stream"]);
        let implicit = api_stage(ApiKind::Http, &Json::Null, &Json::Null, &Json::Null).expect("stage");
        assert_eq!(implicit, ApiStage::default_for(ApiKind::Http));
        assert_eq!(implicit.name, "$default");
        assert_eq!(ApiStage::default_for(ApiKind::Rest).name, "Prod");
        let error = api_stage(ApiKind::Http, &Json::Null, &json!(["x"]), &Json::Null).expect_err("a list");
        assert!(error.contains("StageVariables"), "{error}");
    }
}
