//! Nested applications with a local `Location` (`AWS::Serverless::Application`), loaded as SAM
//! CLI loads them: the child template resolved with the application's `Parameters` (and the
//! parent's region, account and stack name), its functions, layers and APIs added to the
//! template's. A nested function keeps its logical id (its `AWS_LAMBDA_FUNCTION_NAME`, as in SAM
//! CLI) and is also found by SAM CLI's full path, `Application/Function`. Applications from the
//! Serverless Application Repository (`ApplicationId`) or S3 cannot be read locally and are
//! skipped with a warning.

use std::cell::RefCell;
use std::path::PathBuf;

use serde_json::Value as Json;

use super::yaml::Node;
use super::{LoadOptions, Loader, Scope, Template, TemplateError, json_text};

/// How deep applications may nest (CloudFormation's own limit is far above what projects use).
const MAX_DEPTH: usize = 5;

thread_local! {
    /// The templates being loaded on this thread, outermost first: a cycle is refused.
    static LOADING: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

impl Loader {
    /// The child template of an `AWS::Serverless::Application`, or `None` (with a warning in
    /// `warnings`) when its `Location` is not a local file.
    pub(super) fn nested_application(
        &self,
        id: &str,
        resource: &Node,
        scope: &Scope,
        options: &LoadOptions,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Template>, TemplateError> {
        let properties = self.properties(id, resource, scope, None)?;
        let location = Some(format!("Resources.{id}.Properties.Location"));
        let path = match &properties["Location"] {
            Json::String(path) if !path.starts_with("s3://") && !path.starts_with("https://") => path.clone(),
            other => {
                warnings.push(format!(
                    "{}:{}:{}: Resources.{id}: the application at {} cannot be read locally; its functions are not served",
                    self.file.display(),
                    resource.at.line,
                    resource.at.col,
                    json_text(other)
                ));
                return Ok(None);
            }
        };
        let file = self.dir.join(&path);
        if !file.is_file() {
            return Err(self.error(
                Some(resource),
                location,
                format!("`{path}` is not a template file (looked for {})", file.display()),
            ));
        }
        let file = file.canonicalize().unwrap_or(file);
        let cycle = LOADING.with(|loading| {
            let loading = loading.borrow();
            let me = self.file.canonicalize().unwrap_or_else(|_| self.file.clone());
            loading.contains(&file) || me == file || loading.len() >= MAX_DEPTH
        });
        if cycle {
            return Err(self.error(
                Some(resource),
                location,
                format!("`{path}` nests a template that is already being loaded, or nests deeper than {MAX_DEPTH}"),
            ));
        }
        let parameters = match &properties["Parameters"] {
            Json::Null => Vec::new(),
            Json::Object(values) => values.iter().map(|(k, v)| (k.clone(), json_text(v))).collect(),
            _ => {
                return Err(self.error(
                    Some(resource),
                    Some(format!("Resources.{id}.Properties.Parameters")),
                    "must be a mapping of the application's parameters",
                ));
            }
        };
        let child_options = LoadOptions { parameter_overrides: parameters, ..options.clone() };
        LOADING
            .with(|loading| loading.borrow_mut().push(self.file.canonicalize().unwrap_or_else(|_| self.file.clone())));
        let child = Template::load(&file, &child_options);
        LOADING.with(|loading| loading.borrow_mut().pop());
        child.map(Some).map_err(|e| TemplateError {
            message: format!("in the application {id} ({}): {e}", file.display()),
            ..self.error(Some(resource), location, String::new())
        })
    }
}

/// Adds a nested application's functions, layers, APIs and warnings to the template's; a logical
/// id both define is refused (functions and layers are run and built under it).
pub(super) fn adopt(application: &str, child: Template, template: &mut Template) -> Result<(), String> {
    for function in child.functions {
        if template.functions.iter().any(|f| f.logical_id == function.logical_id) {
            return Err(format!(
                "its function {} has the logical id of another function of the template; rename one of them",
                function.logical_id
            ));
        }
        let mut function = function;
        let path = match &function.stack_path {
            Some(inner) => format!("{application}/{inner}"),
            None => application.to_owned(),
        };
        function.stack_path = Some(path);
        template.functions.push(function);
    }
    for layer in child.layers {
        if template.layers.iter().any(|l| l.logical_id == layer.logical_id) {
            return Err(format!(
                "its layer {} has the logical id of another layer of the template; rename one of them",
                layer.logical_id
            ));
        }
        template.layers.push(layer);
    }
    // The child's implicit APIs are the parent's: SAM CLI serves every stack's routes on one port.
    let new: Vec<_> = child.apis.into_iter().filter(|api| !template.apis.iter().any(|a| a.api == api.api)).collect();
    template.apis.extend(new);
    template.warnings.extend(child.warnings);
    template.unavailable.extend(child.unavailable);
    Ok(())
}

impl super::Function {
    /// SAM CLI's full path of the function: `Application/Function` in a nested application, its
    /// logical id otherwise.
    #[must_use]
    pub fn full_path(&self) -> String {
        match &self.stack_path {
            Some(stack) => format!("{stack}/{}", self.logical_id),
            None => self.logical_id.clone(),
        }
    }
}
