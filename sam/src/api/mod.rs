//! `local start-api`: API Gateway in front of the template's functions: `Api` (REST, payload
//! 1.0) and `HttpApi` (payload 2.0) routes, and function URLs.

mod authorizer;
mod payload;
mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub use authorizer::{Authorizers, RouteAuth};
pub use payload::{HttpRequest, HttpResponse, Routed, bad_gateway, event_v1, event_v2, http_response, message};
pub use routes::{Match, Route, find};

use crate::invoke_api::Pools;
use crate::sandbox::{MAX_RESPONSE_BYTES, Outcome, Request};
use crate::template::{ApiKind, Template};

/// Where a route leads.
#[derive(Debug, Clone)]
pub struct Target {
    /// The function's logical id.
    pub function: String,
    /// REST or HTTP API.
    pub kind: ApiKind,
    /// What the route asks of its caller.
    pub auth: RouteAuth,
}

/// Routes and function URLs of a template.
#[derive(Debug)]
pub struct Gateway {
    routes: Vec<Route<Target>>,
    /// Lower-case logical id → logical id, for function URLs (`http://<id>.localhost:PORT/`).
    function_urls: HashMap<String, String>,
    pools: Pools,
    authorizers: Authorizers,
}

impl Gateway {
    /// The gateway for a template's events, over its functions' pools, with its JWT
    /// authorizers' keys fetched from their issuers.
    ///
    /// # Errors
    /// A [`CliError`](crate::CliError) naming an authorizer whose issuer cannot be used.
    pub async fn connect(template: &Template, pools: Pools) -> Result<Self, crate::CliError> {
        let mut gateway = Self::new(template, pools);
        gateway.authorizers = Authorizers::connect(template).await?;
        Ok(gateway)
    }

    /// The gateway without its authorizers (routes that name one are let through).
    #[must_use]
    pub fn new(template: &Template, pools: Pools) -> Self {
        let mut routes = Vec::new();
        let mut function_urls = HashMap::new();
        for function in &template.functions {
            for event in &function.http_events {
                let auth = RouteAuth {
                    api: event.api.clone(),
                    authorizer: event.authorizer.clone(),
                    scopes: event.scopes.clone(),
                };
                let target = Target { function: function.logical_id.clone(), kind: event.kind, auth };
                routes.push(Route::new(&event.method, &event.path, target));
            }
            if function.function_url {
                function_urls.insert(function.logical_id.to_ascii_lowercase(), function.logical_id.clone());
            }
        }
        Gateway { routes, function_urls, pools, authorizers: Authorizers::default() }
    }

    /// The routes, as `METHOD /path → Function`, for the startup banner.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .routes
            .iter()
            .map(|r| {
                format!(
                    "{} {} → {} ({})",
                    r.method,
                    r.path,
                    r.target.function,
                    match r.target.kind {
                        ApiKind::Rest => "Api",
                        ApiKind::Http => "HttpApi",
                    }
                )
            })
            .collect();
        lines.extend(
            self.function_urls.iter().map(|(host, name)| format!("function URL http://{host}.localhost → {name}")),
        );
        lines.sort();
        lines
    }

    fn has_http_api(&self) -> bool {
        self.routes.iter().any(|r| r.target.kind == ApiKind::Http)
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
    let no_params = Default::default();
    let (target, event) = if let Some(function) = url_function {
        let routed = Routed {
            route: None,
            params: &no_params,
            authorizer: None,
            domain: format!("{host_name}.lambda-url.us-east-1.on.aws"),
        };
        (Target { function, kind: ApiKind::Http, auth: RouteAuth::default() }, event_v2(&request, &routed))
    } else {
        let Some(found) = find(&gateway.routes, method.as_str(), uri.path()) else {
            return into_response(if gateway.has_http_api() {
                payload::message(StatusCode::NOT_FOUND, "Not Found")
            } else {
                payload::message(StatusCode::FORBIDDEN, "Missing Authentication Token")
            });
        };
        let authorizer = if found.route.target.kind == ApiKind::Http {
            match gateway.authorizers.authorize(&found.route.target.auth, &headers).await {
                Ok(context) => context,
                Err(refusal) => return into_response(refusal),
            }
        } else {
            None
        };
        let routed = Routed {
            route: Some(&found.route.path),
            params: &found.params,
            authorizer,
            domain: "localhost".to_owned(),
        };
        let event = match found.route.target.kind {
            ApiKind::Rest => event_v1(&request, &routed),
            ApiKind::Http => event_v2(&request, &routed),
        };
        (found.route.target.clone(), event)
    };
    let Some(pool) = gateway.pools.get(&target.function).cloned() else {
        return into_response(payload::bad_gateway());
    };
    match pool.invoke(Request::new(Bytes::from(event.to_string()))).await {
        Ok(Outcome::Response(output)) => into_response(http_response(target.kind, &output)),
        Ok(Outcome::Error(error)) | Err(error) => {
            eprintln!("intercept-sam: {} failed: {}: {}", target.function, error.error_type, error.error_message);
            into_response(payload::bad_gateway())
        }
    }
}
