//! Routes declared in an API's OpenAPI document (`DefinitionBody`, or a local `DefinitionUri`
//! file), read as SAM CLI's swagger parser reads them for `start-api`: every operation whose
//! `x-amazon-apigateway-integration` invokes a function of this template (its `uri` naming the
//! function's ARN, usually through `Fn::Sub` and `${Function.Arn}`) is a route of that API to
//! that function; `x-amazon-apigateway-any-method` is `ANY`; the integration's
//! `payloadFormatVersion` and the operation's `security` are kept. Operations that integrate
//! with anything else are left out, as in SAM CLI.

use serde_json::{Map, Value as Json, json};

use super::yaml::{self, Key, Node, Value};
use super::{ApiKind, Function, Loader, Scope, TemplateError};

/// The HTTP methods an OpenAPI path item may hold, and API Gateway's any-method extension.
const METHODS: [&str; 8] =
    ["get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"];

/// The function an integration `uri` invokes: the name after `:function:` in
/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations` (or in a bare
/// function ARN), without a qualifier.
pub(crate) fn integration_function(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once(":function:")?;
    let name = rest.split(['/', ':']).next()?;
    (!name.is_empty()).then_some(name)
}

/// The routes of one OpenAPI document, as SAM events of `api` (`Events` JSON for
/// [`super::events::http_events`]), keyed by the function's name as the `uri` gives it.
pub(crate) fn routes(api: &str, kind: ApiKind, definition: &Json) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    let Some(paths) = definition["paths"].as_object() else { return out };
    for (path, item) in paths {
        let Some(item) = item.as_object() else { continue };
        for (method, operation) in item {
            let method = method.to_ascii_lowercase();
            if !METHODS.contains(&method.as_str()) {
                continue; // `parameters`, `summary`, other extensions.
            }
            let integration = &operation["x-amazon-apigateway-integration"];
            let Some(function) = integration["uri"].as_str().and_then(integration_function) else { continue };
            let method =
                if method == "x-amazon-apigateway-any-method" { "ANY".to_owned() } else { method.to_uppercase() };
            let mut properties = Map::new();
            properties.insert("Path".to_owned(), json!(path));
            properties.insert("Method".to_owned(), json!(method));
            let (event_type, api_key) = match kind {
                ApiKind::Rest => ("Api", "RestApiId"),
                ApiKind::Http => ("HttpApi", "ApiId"),
            };
            properties.insert(api_key.to_owned(), json!(api));
            if kind == ApiKind::Http
                && let Some(version) = integration["payloadFormatVersion"].as_str()
            {
                properties.insert("PayloadFormatVersion".to_owned(), json!(version));
            }
            // `security: [{Name: [scopes]}]` names the authorizer; an empty requirement turns the
            // API's default off.
            if let Json::Array(requirements) = &operation["security"] {
                let auth = match requirements.first().and_then(Json::as_object) {
                    Some(requirement) if !requirement.is_empty() => {
                        let (name, scopes) = requirement.iter().next().expect("not empty");
                        let mut auth = json!({"Authorizer": name});
                        if scopes.as_array().is_some_and(|s| !s.is_empty()) {
                            auth["AuthorizationScopes"] = scopes.clone();
                        }
                        auth
                    }
                    _ => json!({"Authorizer": "NONE"}),
                };
                properties.insert("Auth".to_owned(), auth);
            }
            let event = json!({"Type": event_type, "Properties": Json::Object(properties)});
            out.push((function.to_owned(), event));
        }
    }
    out
}

impl Loader {
    /// Adds the routes of every API's OpenAPI document to the functions they invoke.
    pub(super) fn openapi_routes(
        &self,
        resources: &[(Key, Node)],
        api_globals: Option<&Node>,
        scope: &Scope,
        functions: &mut [Function],
    ) -> Result<(), TemplateError> {
        for (Key { name: id, .. }, resource) in resources {
            let kind = match scope.resources.get(id).map(String::as_str) {
                Some("AWS::Serverless::Api") => ApiKind::Rest,
                Some("AWS::Serverless::HttpApi") => ApiKind::Http,
                _ => continue,
            };
            if !self.condition_holds(id, resource, scope)? {
                continue;
            }
            // `Globals.Api` may give REST APIs their DefinitionUri (never a DefinitionBody).
            let globals = if kind == ApiKind::Rest { api_globals } else { None };
            let Some(definition) = self.definition(id, resource, globals, scope)? else { continue };
            let mut events: Vec<(usize, Map<String, Json>)> = Vec::new();
            for (index, (function, event)) in routes(id, kind, &definition).into_iter().enumerate() {
                let Some(at) = functions
                    .iter()
                    .position(|f| f.logical_id == function || f.function_name.as_deref() == Some(function.as_str()))
                else {
                    continue; // A function of another stack, as in SAM CLI.
                };
                let mut one = Map::new();
                one.insert(format!("{id}OpenApi{index}"), event);
                events.push((at, one));
            }
            for (at, event) in events {
                let found = super::events::http_events(&Json::Object(event)).map_err(|m| {
                    self.error(Some(resource), Some(format!("Resources.{id}.Properties.DefinitionBody")), m)
                })?;
                functions[at].http_events.extend(found);
            }
        }
        Ok(())
    }

    /// The API's OpenAPI document: `DefinitionBody` resolved, or the local `DefinitionUri` file
    /// read (YAML or JSON) and resolved the same way.
    fn definition(
        &self,
        id: &str,
        resource: &Node,
        globals: Option<&Node>,
        scope: &Scope,
    ) -> Result<Option<Json>, TemplateError> {
        let properties = resource.get("Properties");
        if let Some(body) = properties.and_then(|p| p.get("DefinitionBody")) {
            let location = format!("Resources.{id}.Properties.DefinitionBody");
            return scope.resolve(body).map(Some).map_err(|e| self.resolve_error(e, location));
        }
        let own = properties.and_then(|p| p.get("DefinitionUri"));
        let Some(uri) = own.or_else(|| globals.and_then(|g| g.get("DefinitionUri"))) else { return Ok(None) };
        let location = Some(format!("Resources.{id}.Properties.DefinitionUri"));
        let Value::Str(uri) = &uri.value else {
            return Err(self.error(Some(uri), location, "must be a local file (S3 locations cannot be read locally)"));
        };
        if uri.starts_with("s3://") {
            return Err(self.error(None, location, format!("`{uri}` is in S3; point it at a local file")));
        }
        let path = self.dir.join(uri);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.error(None, location.clone(), format!("cannot read {}: {e}", path.display())))?;
        let document = yaml::parse(&text).map_err(|e| {
            self.error(
                None,
                location.clone(),
                format!("{}:{}:{}: not valid YAML or JSON: {}", path.display(), e.at.line, e.at.col, e.message),
            )
        })?;
        scope.resolve(&document).map(Some).map_err(|e| self.resolve_error(e, format!("{}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_uris_name_their_function() {
        let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:Orders/invocations";
        assert_eq!(integration_function(uri), Some("Orders"));
        assert_eq!(integration_function("arn:aws:lambda:us-east-1:123456789012:function:Orders:live"), Some("Orders"));
        assert_eq!(integration_function("https://example.com/orders"), None);
        assert_eq!(integration_function("arn:aws:lambda:us-east-1:123456789012:function:"), None);
    }

    #[test]
    fn operations_become_events_with_method_version_and_security() {
        let definition = json!({
            "openapi": "3.0.1",
            "paths": {
                "/orders/{id}": {
                    "parameters": [],
                    "get": {"x-amazon-apigateway-integration": {"uri": "arn:aws:lambda:r:1:function:Orders", "payloadFormatVersion": "1.0"}},
                    "x-amazon-apigateway-any-method": {
                        "security": [{"Jwt": ["orders/write"]}],
                        "x-amazon-apigateway-integration": {"uri": "arn:aws:lambda:r:1:function:Orders"}
                    },
                    "delete": {"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "https://example.com"}},
                    "put": {"security": [], "x-amazon-apigateway-integration": {"uri": "arn:aws:lambda:r:1:function:Other"}}
                },
                "/bad": "not an object"
            }
        });
        let found = routes("Api", ApiKind::Http, &definition);
        let summary: Vec<(String, String, Json)> = found
            .iter()
            .map(|(f, e)| {
                (f.clone(), e["Properties"]["Method"].as_str().unwrap_or_default().to_owned(), e["Properties"].clone())
            })
            .collect();
        assert_eq!(summary.len(), 3, "{summary:#?}");
        assert_eq!(summary[0].0, "Orders");
        assert_eq!(summary[0].1, "GET");
        assert_eq!(summary[0].2["PayloadFormatVersion"], "1.0");
        assert_eq!(summary[0].2["ApiId"], "Api");
        assert_eq!(summary[1].1, "PUT");
        assert_eq!(summary[1].2["Auth"]["Authorizer"], "NONE");
        assert_eq!(summary[2].1, "ANY");
        assert_eq!(summary[2].2["Auth"], json!({"Authorizer": "Jwt", "AuthorizationScopes": ["orders/write"]}));
        assert!(routes("Api", ApiKind::Rest, &json!({"paths": []})).is_empty());
        assert_eq!(routes("Api", ApiKind::Rest, &definition)[0].1["Properties"]["RestApiId"], "Api");
    }
}
