//! CloudFormation's own `AWS::Lambda::Function` and `AWS::Lambda::LayerVersion`, read as SAM CLI
//! reads them: `Code` is a local path (as `sam build` and `sam package` accept it) or inline
//! `ZipFile` source; `Content` is a local path. `Globals` do not apply to them, and they have no
//! `Events`.

use serde_json::Value as Json;

use super::yaml::Node;
use super::{Function, LayerVersion, Loader, Scope, TemplateError};

impl Loader {
    /// An `AWS::Lambda::Function`, as the function it runs.
    pub(super) fn lambda_function(&self, id: &str, resource: &Node, scope: &Scope) -> Result<Function, TemplateError> {
        let mut properties = self.properties(id, resource, scope, None)?;
        let location = Some(format!("Resources.{id}.Properties.Code"));
        let mut inline_code = None;
        match properties["Code"].take() {
            // `sam package` uploads a local folder given as Code; locally it runs from there.
            Json::String(path) => properties["CodeUri"] = Json::String(path),
            Json::Object(code) if code.contains_key("ZipFile") => {
                let Some(source) = code["ZipFile"].as_str() else {
                    return Err(self.error(Some(resource), location, "ZipFile must be the function's source text"));
                };
                inline_code = Some(source.to_owned());
                properties["CodeUri"] = Json::String(".".to_owned());
            }
            Json::Object(code) if code.contains_key("ImageUri") => {
                return Err(self.error(
                    Some(resource),
                    location,
                    "container image functions need Docker; only Zip functions run here",
                ));
            }
            Json::Object(code) if code.contains_key("S3Bucket") => {
                return Err(self.error(
                    Some(resource),
                    location,
                    "is in S3; give a local folder (Code: ./src) or inline ZipFile to run it locally",
                ));
            }
            Json::Null => return Err(self.error(Some(resource), location, "is missing")),
            other => {
                return Err(self.error(
                    Some(resource),
                    location,
                    format!("`{other}` is neither a local path nor ZipFile, S3Bucket or ImageUri"),
                ));
            }
        }
        // SAM's events do not exist on the CloudFormation type: its triggers are other resources.
        properties.as_object_mut().map(|p| p.remove("Events"));
        let mut function = self.function_with(id, resource, properties, scope)?;
        if inline_code.is_some() {
            // Inline code is the deployed code as it is: nothing to build.
            function.build = None;
            function.inline_code = inline_code;
        }
        Ok(function)
    }

    /// An `AWS::Lambda::LayerVersion` with a local `Content`.
    pub(super) fn lambda_layer(&self, id: &str, resource: &Node, scope: &Scope) -> Result<LayerVersion, TemplateError> {
        let mut properties = self.properties(id, resource, scope, None)?;
        match properties["Content"].take() {
            Json::String(path) => properties["ContentUri"] = Json::String(path),
            _ => {
                return Err(self.error(
                    Some(resource),
                    Some(format!("Resources.{id}.Properties.Content")),
                    "must be a local path (S3Bucket/S3Key content cannot run locally)",
                ));
            }
        }
        Ok(LayerVersion {
            logical_id: id.to_owned(),
            content_uri: self.path_property(id, &properties, "ContentUri")?,
            build: self.build_spec(id, resource, scope)?,
        })
    }
}

/// The file CloudFormation writes inline `ZipFile` source to: `index.py`, `index.js`.
#[must_use]
pub(crate) fn inline_file_name(runtime: &str) -> &'static str {
    if runtime.starts_with("python") { "index.py" } else { "index.js" }
}
