//! CloudFormation's own `AWS::Lambda::Function` and `AWS::Lambda::LayerVersion`, read as SAM CLI
//! reads them: `Code` is a local path (as `sam build` and `sam package` accept it) or inline
//! `ZipFile` source; `Content` is a local path. `Globals` do not apply to them, and they have no
//! `Events`. Code in S3 (`S3Bucket`/`S3Key`) or a container image (`ImageUri`), and layer
//! `Content` in S3, cannot run locally: as SAM CLI does, the resource is left out with one
//! warning naming it and why (the rest of the template still runs), and so is a function using
//! such a layer; invoking one by name says why it cannot run.

use std::path::Path;

use serde_json::Value as Json;

use super::yaml::Node;
use super::{Function, LayerVersion, Loader, Scope, TemplateError};

/// A function of the template that cannot run locally, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// Its logical id.
    pub logical_id: String,
    /// Why it cannot run locally.
    pub reason: String,
}

/// The resources left out while loading a template.
#[derive(Debug, Default)]
pub(super) struct Skipped {
    /// Functions left out.
    pub(super) functions: Vec<Unavailable>,
    /// Layers left out.
    pub(super) layers: Vec<Unavailable>,
    /// One warning per resource left out, `FILE:LINE:COL: Resources.ID: why`.
    pub(super) warnings: Vec<String>,
}

impl Skipped {
    fn skip(&mut self, file: &Path, resource: Option<&Node>, id: &str, reason: String, layer: bool) {
        let at = resource.map_or_else(String::new, |r| format!(":{}:{}", r.at.line, r.at.col));
        self.warnings
            .push(format!("{}{at}: Resources.{id}: {reason}; it cannot run locally and is left out", file.display()));
        let unavailable = Unavailable { logical_id: id.to_owned(), reason };
        if layer { self.layers.push(unavailable) } else { self.functions.push(unavailable) }
    }

    /// Leaves out the functions that use a layer that was left out.
    pub(super) fn functions_on_skipped_layers(&mut self, file: &Path, functions: &mut Vec<Function>) {
        let mut kept = Vec::with_capacity(functions.len());
        for function in functions.drain(..) {
            let skipped = function.layers.iter().find_map(|l| self.layers.iter().find(|s| &s.logical_id == l));
            match skipped {
                Some(layer) => {
                    let reason = format!("its layer {} is left out ({})", layer.logical_id, layer.reason);
                    self.skip(file, None, &function.logical_id.clone(), reason, false);
                }
                None => kept.push(function),
            }
        }
        *functions = kept;
    }
}

impl Loader {
    /// An `AWS::Lambda::Function`, as the function it runs; `None` (recorded in `skipped`) when
    /// its code is in S3 or a container image.
    pub(super) fn lambda_function(
        &self,
        id: &str,
        resource: &Node,
        scope: &Scope,
        skipped: &mut Skipped,
    ) -> Result<Option<Function>, TemplateError> {
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
                let reason =
                    "its Code is a container image (ImageUri), which needs Docker; only Zip functions run here";
                skipped.skip(&self.file, Some(resource), id, reason.to_owned(), false);
                return Ok(None);
            }
            Json::Object(code) if code.contains_key("S3Bucket") || code.contains_key("S3Key") => {
                let reason = "its Code is in S3 (S3Bucket/S3Key); give a local folder (Code: ./src) or inline \
                              ZipFile to run it locally";
                skipped.skip(&self.file, Some(resource), id, reason.to_owned(), false);
                return Ok(None);
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
        Ok(Some(function))
    }

    /// An `AWS::Lambda::LayerVersion` with a local `Content`; `None` (recorded in `skipped`)
    /// when its content is in S3.
    pub(super) fn lambda_layer(
        &self,
        id: &str,
        resource: &Node,
        scope: &Scope,
        skipped: &mut Skipped,
    ) -> Result<Option<LayerVersion>, TemplateError> {
        let mut properties = self.properties(id, resource, scope, None)?;
        // `get_mut`, not an index: Properties may be something other than a mapping (then an
        // index would panic; this way it is the error below, naming the property).
        match properties.get_mut("Content").map_or(Json::Null, Json::take) {
            Json::String(path) => properties["ContentUri"] = Json::String(path),
            Json::Object(content) if content.contains_key("S3Bucket") || content.contains_key("S3Key") => {
                let reason = "its Content is in S3 (S3Bucket/S3Key); give a local path to use it locally";
                skipped.skip(&self.file, Some(resource), id, reason.to_owned(), true);
                return Ok(None);
            }
            _ => {
                return Err(self.error(
                    Some(resource),
                    Some(format!("Resources.{id}.Properties.Content")),
                    "must be a local path, or S3Bucket/S3Key (left out locally)",
                ));
            }
        }
        Ok(Some(LayerVersion {
            logical_id: id.to_owned(),
            content_uri: self.path_property(id, &properties, "ContentUri")?,
            build: self.build_spec(id, resource, scope)?,
        }))
    }
}

/// The file CloudFormation writes inline `ZipFile` source to: `index.py`, `index.js`.
#[must_use]
pub(crate) fn inline_file_name(runtime: &str) -> &'static str {
    if runtime.starts_with("python") { "index.py" } else { "index.js" }
}
