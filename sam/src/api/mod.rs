//! `local start-api`: API Gateway in front of the template's functions: `Api` (REST, payload
//! 1.0) and `HttpApi` (payload 2.0) routes, and function URLs; their authorizers (JWT, Cognito
//! and Lambda) and CORS.

mod authorizer;
mod cors;
mod iam_policy;
mod identity;
pub(crate) mod lambda_authorizer;
mod payload;
mod routes;
mod streaming;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub use authorizer::{AuthorizerOptions, Authorizers, RouteAuth};
pub(crate) use payload::fuzz as fuzz_payloads;
pub use payload::{
    HttpRequest, HttpResponse, PayloadVersion, Routed, api_event, api_response, bad_gateway, event_v1, event_v2,
    gateway_error, http_response, is_binary_media, message,
};
pub use routes::{Match, Route, find, find_path};

use crate::invoke_api::Pools;
use crate::sandbox::{MAX_RESPONSE_BYTES, Outcome, Request};
use crate::template::{ApiKind, ApiStage, Cors, InvokeMode, Template};

/// What a route runs.
#[derive(Debug, Clone)]
pub enum Integration {
    /// The function with this logical id.
    Function(String),
    /// The OPTIONS mock SAM adds to a REST API's paths for `Cors`: this response.
    CorsMock(HttpResponse),
}

/// Where a route leads.
#[derive(Debug, Clone)]
pub struct Target {
    /// What runs.
    pub integration: Integration,
    /// REST or HTTP API.
    pub kind: ApiKind,
    /// What the route asks of its caller.
    pub auth: RouteAuth,
    /// An HTTP API's `CorsConfiguration`, added to its responses.
    pub cors: Option<Arc<Cors>>,
    /// The event format its function gets.
    pub payload: PayloadVersion,
}

/// Routes and function URLs of a template.
#[derive(Debug)]
pub struct Gateway {
    routes: Vec<Route<Target>>,
    /// Lower-case logical id → logical id and invoke mode, for function URLs
    /// (`http://<id>.localhost:PORT/`).
    function_urls: HashMap<String, (String, InvokeMode)>,
    pools: Pools,
    authorizers: Authorizers,
    /// The HTTP APIs' CORS settings (their preflights for paths no route owns).
    http_cors: Vec<Arc<Cors>>,
    /// Each API's stage, by logical id.
    stages: HashMap<String, ApiStage>,
}

impl Gateway {
    /// The gateway for a template's events, over its functions' pools, with its authorizers:
    /// JWT and Cognito keys fetched from their issuers, Lambda authorizers over their pools.
    ///
    /// # Errors
    /// A [`CliError`](crate::CliError) naming an authorizer whose issuer cannot be used.
    pub async fn connect(template: &Template, pools: Pools) -> Result<Self, crate::CliError> {
        Self::connect_with(template, pools, &AuthorizerOptions::default()).await
    }

    /// Like [`Gateway::connect`], with `options` for the authorizers.
    ///
    /// # Errors
    /// A [`CliError`](crate::CliError) naming an authorizer whose issuer cannot be used.
    pub async fn connect_with(
        template: &Template,
        pools: Pools,
        options: &AuthorizerOptions,
    ) -> Result<Self, crate::CliError> {
        let mut gateway = Self::new(template, pools);
        gateway.authorizers = Authorizers::connect(template, &gateway.pools, options).await?;
        Ok(gateway)
    }

    /// The gateway without its authorizers: routes that name one are let through, as SAM CLI's
    /// `--disable-authorizer` does.
    #[must_use]
    pub fn new(template: &Template, pools: Pools) -> Self {
        let apis: HashMap<&str, &crate::template::ApiSettings> =
            template.apis.iter().map(|api| (api.api.as_str(), api)).collect();
        let mut routes = Vec::new();
        let mut function_urls = HashMap::new();
        let mut http_cors: HashMap<&str, Arc<Cors>> = HashMap::new();
        // REST paths by API, with their methods: each gets SAM's OPTIONS mock when the API has `Cors`.
        let mut rest_paths: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for function in &template.functions {
            for event in &function.http_events {
                let auth = RouteAuth {
                    api: event.api.clone(),
                    authorizer: event.authorizer.clone(),
                    scopes: event.scopes.clone(),
                };
                let settings = apis.get(event.api.as_str());
                let cors = match (event.kind, settings.and_then(|s| s.cors.as_ref())) {
                    (ApiKind::Http, Some(cors)) => {
                        Some(http_cors.entry(event.api.as_str()).or_insert_with(|| Arc::new(cors.clone())).clone())
                    }
                    _ => None,
                };
                if event.kind == ApiKind::Rest {
                    match rest_paths.iter_mut().find(|(api, path, _)| *api == event.api && *path == event.path) {
                        Some((_, _, methods)) => methods.push(&event.method),
                        None => rest_paths.push((&event.api, &event.path, vec![&event.method])),
                    }
                }
                let target = Target {
                    integration: Integration::Function(function.logical_id.clone()),
                    kind: event.kind,
                    auth,
                    cors,
                    payload: PayloadVersion::from_name(&event.payload_format_version),
                };
                routes.push(Route::new(&event.method, &event.path, target));
            }
            if let Some(mode) = function.function_url {
                function_urls.insert(function.logical_id.to_ascii_lowercase(), (function.logical_id.clone(), mode));
            }
        }
        for (api, path, methods) in rest_paths {
            let Some(settings) = apis.get(api) else { continue };
            let Some(cors) = &settings.cors else { continue };
            // SAM leaves a path that has its own OPTIONS method alone.
            if methods.iter().any(|m| m.eq_ignore_ascii_case("OPTIONS")) {
                continue;
            }
            let mock = cors::rest_mock(cors, &cors::path_methods(methods));
            let authorizer = (!settings.default_authorizer_on_preflight).then(|| "NONE".to_owned());
            let target = Target {
                integration: Integration::CorsMock(mock),
                kind: ApiKind::Rest,
                auth: RouteAuth { api: api.to_owned(), authorizer, scopes: Vec::new() },
                cors: None,
                payload: PayloadVersion::V1,
            };
            routes.push(Route::new("OPTIONS", path, target));
        }
        let http_cors = http_cors.into_values().collect();
        let stages = template.apis.iter().map(|api| (api.api.clone(), api.stage.clone())).collect();
        Gateway { routes, function_urls, pools, authorizers: Authorizers::default(), http_cors, stages }
    }

    /// The routes, as `METHOD /path → Function`, for the startup banner.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .routes
            .iter()
            .map(|r| {
                let to = match &r.target.integration {
                    Integration::Function(name) => name.as_str(),
                    Integration::CorsMock(_) => "CORS preflight",
                };
                let kind = match r.target.kind {
                    ApiKind::Rest => "Api",
                    ApiKind::Http => "HttpApi",
                };
                format!("{} {} → {to} ({kind} {})", r.method, r.path, r.target.auth.api)
            })
            .collect();
        lines.extend(
            self.function_urls.iter().map(|(host, (name, _))| format!("function URL http://{host}.localhost → {name}")),
        );
        lines.sort();
        lines
    }

    /// The stage of the API a route belongs to.
    fn stage(&self, target: &Target) -> std::borrow::Cow<'_, ApiStage> {
        match self.stages.get(&target.auth.api) {
            Some(stage) => std::borrow::Cow::Borrowed(stage),
            None => std::borrow::Cow::Owned(ApiStage::default_for(target.kind)),
        }
    }

    fn has_http_api(&self) -> bool {
        self.routes.iter().any(|r| r.target.kind == ApiKind::Http)
    }

    /// The CORS settings of the HTTP API that owns `path` (or of the only HTTP API with CORS),
    /// for a preflight no route takes.
    fn http_cors_for(&self, path: &str) -> Option<&Cors> {
        match find_path(&self.routes, path) {
            Some(route) if route.target.kind == ApiKind::Http => route.target.cors.as_deref(),
            Some(_) => None,
            None => match self.http_cors.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        }
    }
}

/// The start-api routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new().fallback(handle).layer(DefaultBodyLimit::max(16 * 1024 * 1024)).with_state(gateway)
}

fn into_response(response: HttpResponse) -> Response {
    let mut out = (response.status, response.body).into_response();
    // The body's default content type gives way to whatever the function set.
    out.headers_mut().remove(axum::http::header::CONTENT_TYPE);
    for (name, value) in response.headers {
        out.headers_mut().append(name, value);
    }
    out
}

/// Invokes `function` with `event`; `respond` turns its answer into HTTP.
async fn invoke(
    gateway: &Gateway,
    function: &str,
    event: &serde_json::Value,
    respond: impl FnOnce(&Bytes) -> HttpResponse,
) -> HttpResponse {
    let Some(pool) = gateway.pools.get(function).cloned() else {
        return payload::bad_gateway();
    };
    match pool.invoke(Request::new(Bytes::from(event.to_string()))).await {
        Ok(Outcome::Response(output)) => respond(&output),
        Ok(Outcome::Error(error)) | Err(error) => {
            eprintln!("intercept-sam: {function} failed: {}: {}", error.error_type, error.error_message);
            payload::bad_gateway()
        }
    }
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_RESPONSE_BYTES {
        return into_response(payload::message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"));
    }
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let host_name = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
    let url_function = host_name.strip_suffix(".localhost").and_then(|id| gateway.function_urls.get(id)).cloned();
    let request = HttpRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or_default(),
        headers: &headers,
        body: &body,
        source_ip: peer.ip().to_string(),
    };
    if let Some((function, mode)) = url_function {
        let no_params = Default::default();
        let routed = Routed {
            route: None,
            params: &no_params,
            authorizer: None,
            domain: format!("{host_name}.lambda-url.us-east-1.on.aws"),
        };
        let event = event_v2(&request, &routed);
        if mode == InvokeMode::ResponseStream
            && let Some(pool) = gateway.pools.get(&function).cloned()
        {
            return streaming::stream_function_url(pool, Bytes::from(event.to_string())).await;
        }
        let respond = |output: &Bytes| http_response(ApiKind::Http, output);
        return into_response(invoke(&gateway, &function, &event, respond).await);
    }
    let Some(found) = find(&gateway.routes, method.as_str(), uri.path()) else {
        // An HTTP API with CORS answers the preflights no route takes itself.
        if cors::is_preflight(method.as_str(), &headers)
            && let Some(cors) = gateway.http_cors_for(uri.path())
        {
            return into_response(cors::http_preflight(cors, &headers));
        }
        return into_response(if gateway.has_http_api() {
            payload::message(StatusCode::NOT_FOUND, "Not Found")
        } else {
            payload::message(StatusCode::FORBIDDEN, "Missing Authentication Token")
        });
    };
    let target = &found.route.target;
    let routed = Routed {
        route: Some(&found.route.path),
        params: &found.params,
        authorizer: None,
        domain: "localhost".to_owned(),
    };
    let stage = gateway.stage(target);
    let mut event = api_event(target.kind, target.payload, &stage, &request, &routed);
    let authorized =
        gateway.authorizers.authorize(&target.auth, target.kind, target.payload, &request, &routed, &event).await;
    let mut response = match authorized {
        Err(refusal) => refusal,
        Ok(context) => {
            if let Some(context) = context {
                event["requestContext"]["authorizer"] = context;
            }
            match &target.integration {
                Integration::CorsMock(mock) => mock.clone(),
                Integration::Function(function) => {
                    let respond = |output: &Bytes| api_response(target.kind, target.payload, &stage, &headers, output);
                    invoke(&gateway, function, &event, respond).await
                }
            }
        }
    };
    if let Some(cors) = &target.cors {
        cors::http_decorate(cors, &headers, &mut response);
    }
    into_response(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::LoadOptions;

    fn gateway(api_auth: &str) -> Gateway {
        let source = format!(
            r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Events:
        Get: {{Type: Api, Properties: {{RestApiId: !Ref Rest, Path: /items, Method: GET}}}}
        Any: {{Type: Api, Properties: {{RestApiId: !Ref Rest, Path: /any, Method: ANY}}}}
        Own: {{Type: Api, Properties: {{RestApiId: !Ref Rest, Path: /own, Method: OPTIONS}}}}
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Cors: "'https://app.example'"
      Auth:
        DefaultAuthorizer: Token
        {api_auth}
        Authorizers:
          Token: {{FunctionArn: !GetAtt Fn.Arn}}
"#
        );
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml");
        let template = Template::from_source(&path, &source, &LoadOptions::default()).expect("template");
        Gateway::new(&template, Arc::new(HashMap::new()))
    }

    fn preflight<'a>(gateway: &'a Gateway, path: &str) -> Option<&'a Target> {
        find(&gateway.routes, "OPTIONS", path)
            .map(|found| &found.route.target)
            .filter(|target| matches!(target.integration, Integration::CorsMock(_)))
    }

    #[test]
    fn rest_cors_mocks_carry_the_default_authorizer_unless_told_not_to() {
        let guarded = gateway("");
        let target = preflight(&guarded, "/items").expect("a mock on /items");
        assert_eq!(target.auth.authorizer, None, "SAM puts the default authorizer on the preflight");
        let Integration::CorsMock(mock) = &target.integration else { unreachable!() };
        let methods = mock.headers.iter().find(|(n, _)| n == "access-control-allow-methods").map(|(_, v)| v.clone());
        assert_eq!(methods.as_ref().and_then(|v| v.to_str().ok()), Some("GET,OPTIONS"));
        let any = preflight(&guarded, "/any").expect("the mock wins over ANY");
        let Integration::CorsMock(mock) = &any.integration else { unreachable!() };
        assert!(mock.headers.iter().any(|(_, v)| v == "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT"));
        assert!(preflight(&guarded, "/own").is_none(), "a path with its own OPTIONS route keeps it");

        let open = gateway("AddDefaultAuthorizerToCorsPreflight: false");
        assert_eq!(preflight(&open, "/items").expect("mock").auth.authorizer.as_deref(), Some("NONE"));
    }
}
