//! The SAM template model: parameters, globals, functions and layers, with intrinsics resolved.

mod events;
mod globals;
mod intrinsics;
mod invoke;
mod lambda;
mod names;
mod nested;
mod openapi;
mod yaml;

pub use events::{
    ApiKind, ApiSettings, ApiStage, Authorizer, CognitoAuthorizer, Cors, HttpEvent, IMPLICIT_HTTP_API,
    IMPLICIT_REST_API, IdentitySource, JwtAuthorizer, LambdaAuthorizer, LambdaAuthorizerType,
};
pub(crate) use intrinsics::json_text;
pub use invoke::{Destination, InvokeSettings};
pub use lambda::Unavailable;
pub(crate) use lambda::inline_file_name;
pub(crate) use names::is_logical_id;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;

use intrinsics::Scope;
use yaml::{Key, Node, Value};

/// A template problem: which file, where, which resource and property, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The template file.
    pub file: PathBuf,
    /// Line and column (1-based) where the YAML parser or resolver gives one.
    pub position: Option<(usize, usize)>,
    /// The path to the property (`Resources.Hello.Properties.CodeUri`), when known.
    pub location: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(location) = &self.location {
            write!(f, ": {location}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TemplateError {}

/// `Metadata.BuildMethod`: how SAM builds a function or layer, and so how this emulator does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildMethod {
    /// `rust-cargolambda`: the Rust package at `CodeUri`, built with cargo.
    RustCargoLambda,
    /// `makefile`: `make --makefile <CodeUri>/Makefile build-<LogicalId>` writes the artifacts
    /// into `$ARTIFACTS_DIR`.
    Makefile,
    /// `esbuild`: dependencies installed with npm, the entry points bundled with esbuild
    /// (`Metadata.BuildProperties` gives its options).
    Esbuild,
    /// A Python runtime's name (`python3.12`), and what Python functions get with no
    /// `BuildMethod`: the source copied and its `requirements.txt` installed with pip.
    PythonPip,
    /// A Node.js runtime's name (`nodejs20.x`), and what Node.js functions get with no
    /// `BuildMethod`: the source copied and its `package.json` dependencies installed with npm.
    NodejsNpm,
}

impl BuildMethod {
    /// The method named in a template, or `None` for one this emulator does not build.
    #[must_use]
    pub fn from_name(name: &str) -> Option<BuildMethod> {
        match name {
            "rust-cargolambda" => Some(BuildMethod::RustCargoLambda),
            "makefile" => Some(BuildMethod::Makefile),
            "esbuild" => Some(BuildMethod::Esbuild),
            python if python.starts_with("python3") => Some(BuildMethod::PythonPip),
            node if node.starts_with("nodejs") => Some(BuildMethod::NodejsNpm),
            _ => None,
        }
    }
}

/// How a function or layer is built from source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// `Metadata.BuildMethod`.
    pub method: BuildMethod,
    /// `Metadata.BuildProperties.Binary`, when set (rust-cargolambda).
    pub binary: Option<String>,
}

/// An `AWS::Serverless::Function`, with globals merged and intrinsics resolved.
#[derive(Debug, Clone)]
pub struct Function {
    /// Logical id in `Resources`.
    pub logical_id: String,
    /// `CodeUri`, absolute.
    pub code_uri: PathBuf,
    /// `Handler`.
    pub handler: Option<String>,
    /// `Runtime`.
    pub runtime: String,
    /// `MemorySize` in MB (default 128).
    pub memory_mb: u32,
    /// `Timeout` (default 3 s).
    pub timeout: Duration,
    /// `Environment.Variables`.
    pub environment: BTreeMap<String, String>,
    /// `Layers`: logical ids of layers in this template, or ARNs.
    pub layers: Vec<String>,
    /// How to build it, from `Metadata` (for Python and Node.js functions with none, how
    /// `sam build` builds them by default).
    pub build: Option<BuildSpec>,
    /// `Metadata.BuildProperties` (esbuild's options), or null.
    pub build_properties: Json,
    /// Its `Api` and `HttpApi` events.
    pub http_events: Vec<HttpEvent>,
    /// Its function URL's `InvokeMode`, when it has one (`FunctionUrlConfig`).
    pub function_url: Option<InvokeMode>,
    /// `FunctionName`, when it sets one (an `--env-vars` section may be named after it).
    pub function_name: Option<String>,
    /// `LoggingConfig`.
    pub logging: LoggingConfig,
    /// An `AWS::Lambda::Function`'s inline `Code.ZipFile` source, which runs as `index.py` or
    /// `index.js` (as CloudFormation writes it) in a folder of its own.
    pub inline_code: Option<String>,
    /// The nested application it comes from (`Application`, or `Outer/Inner`), as SAM CLI's
    /// full path `Application/Function` names it; `None` in the template itself.
    pub stack_path: Option<String>,
    /// Aliases, reserved concurrency and asynchronous invocation settings, for the Invoke API.
    pub invoke: InvokeSettings,
}

/// A function URL's `InvokeMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvokeMode {
    /// `BUFFERED` (the default): the response goes out once the function has returned.
    Buffered,
    /// `RESPONSE_STREAM`: the response goes out as the function writes it.
    ResponseStream,
}

/// A function's `LoggingConfig` (from the function or `Globals.Function`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggingConfig {
    /// `LogFormat`: `Text` or `JSON`.
    pub log_format: Option<String>,
    /// `ApplicationLogLevel`: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
    pub application_log_level: Option<String>,
    /// `LogGroup`.
    pub log_group: Option<String>,
}

/// An `AWS::Serverless::LayerVersion`.
#[derive(Debug, Clone)]
pub struct LayerVersion {
    /// Logical id in `Resources`.
    pub logical_id: String,
    /// `ContentUri`, absolute.
    pub content_uri: PathBuf,
    /// How to build it, from `Metadata`.
    pub build: Option<BuildSpec>,
}

/// A loaded template.
#[derive(Debug, Clone)]
pub struct Template {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its functions, in file order.
    pub functions: Vec<Function>,
    /// Its layers.
    pub layers: Vec<LayerVersion>,
    /// Its APIs' authorizers and CORS settings (explicit APIs, and the implicit ones from
    /// `Globals.Api`/`Globals.HttpApi`).
    pub apis: Vec<ApiSettings>,
    /// What only a deployment could know and was left blank (`!ImportValue`, a parameter with
    /// no value, a deployed resource's attribute): one line each, `FILE:LINE:COL: what`.
    pub warnings: Vec<String>,
    /// The functions left out because they cannot run locally (code in S3 or an image, a layer
    /// in S3), each with a warning in `warnings`.
    pub unavailable: Vec<Unavailable>,
}

/// What the template is resolved against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadOptions {
    /// `--parameter-overrides`.
    pub parameter_overrides: Vec<(String, String)>,
    /// `AWS::Region` (`--region`).
    pub region: String,
    /// `AWS::AccountId`.
    pub account_id: String,
    /// `AWS::StackName` (SAM CLI's `local`).
    pub stack_name: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            parameter_overrides: Vec::new(),
            region: "us-east-1".to_owned(),
            account_id: intrinsics::LOCAL_ACCOUNT_ID.to_owned(),
            stack_name: intrinsics::LOCAL_STACK_NAME.to_owned(),
        }
    }
}

impl LoadOptions {
    /// Sets the parameter overrides.
    #[must_use]
    pub fn with_parameter_overrides(self, parameter_overrides: Vec<(String, String)>) -> Self {
        LoadOptions { parameter_overrides, ..self }
    }

    /// Sets the region (`AWS::Region`, and every pseudo parameter and ARN that names one).
    #[must_use]
    pub fn with_region(self, region: impl Into<String>) -> Self {
        LoadOptions { region: region.into(), ..self }
    }
}

impl Template {
    /// Reads and resolves a template file.
    ///
    /// # Errors
    /// A [`TemplateError`] naming the file, position, resource and property at fault.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Template, TemplateError> {
        let source = std::fs::read_to_string(path).map_err(|error| TemplateError {
            file: path.to_owned(),
            position: None,
            location: None,
            message: format!("cannot read the template: {error}"),
        })?;
        Self::from_source(path, &source, options)
    }

    /// Resolves a template's text as if read from `path` (paths in it are relative to its folder).
    pub(crate) fn from_source(path: &Path, source: &str, options: &LoadOptions) -> Result<Template, TemplateError> {
        Loader { file: path.to_owned(), dir: path.parent().unwrap_or(Path::new(".")).to_owned() }.load(source, options)
    }

    /// The function with this logical id; or the only one when `name` is `None`.
    ///
    /// # Errors
    /// A message listing the functions there are.
    pub fn function(&self, name: Option<&str>) -> Result<&Function, String> {
        let names = || self.functions.iter().map(|f| f.logical_id.as_str()).collect::<Vec<_>>().join(", ");
        match name {
            Some(name) => {
                let found = self.functions.iter().find(|f| f.logical_id == name || f.full_path() == name);
                let unavailable = self.unavailable.iter().find(|u| u.logical_id == name);
                found.ok_or_else(|| match unavailable {
                    Some(u) => format!("function `{name}` in {} cannot run locally: {}", self.path.display(), u.reason),
                    None => format!("no function `{name}` in {}; it has: {}", self.path.display(), names()),
                })
            }
            None => match self.functions.as_slice() {
                [only] => Ok(only),
                [] => match self.unavailable.as_slice() {
                    [only] => Err(format!(
                        "function `{}` in {} cannot run locally: {}",
                        only.logical_id,
                        self.path.display(),
                        only.reason
                    )),
                    _ => Err(format!("{} has no AWS::Serverless::Function", self.path.display())),
                },
                _ => Err(format!("{} has several functions; name one of: {}", self.path.display(), names())),
            },
        }
    }
}

/// The Metadata key `sam build` adds to every resource of the template it writes.
const SAM_RESOURCE_ID: &str = "SamResourceId";

struct Loader {
    file: PathBuf,
    dir: PathBuf,
}

impl Loader {
    fn error(&self, node: Option<&Node>, location: Option<String>, message: impl Into<String>) -> TemplateError {
        TemplateError {
            file: self.file.clone(),
            position: node.map(|n| (n.at.line, n.at.col)),
            location,
            message: message.into(),
        }
    }

    fn load(&self, source: &str, options: &LoadOptions) -> Result<Template, TemplateError> {
        let root = yaml::parse(source).map_err(|e| TemplateError {
            file: self.file.clone(),
            position: Some((e.at.line, e.at.col)),
            location: None,
            message: format!("not valid YAML: {}", e.message),
        })?;
        let resources = match root.get("Resources") {
            Some(node @ Node { value: Value::Map(entries), .. }) if !entries.is_empty() => (node, entries),
            Some(node) => {
                return Err(self.error(Some(node), Some("Resources".into()), "must be a mapping of resources"));
            }
            None => return Err(self.error(Some(&root), None, "has no Resources section")),
        };
        let mut scope = self.scope(&root, options)?;
        for (Key { name: id, .. }, resource) in resources.1 {
            // Checked before anything else reads the id: functions and layers name folders after it.
            names::check_logical_id(id).map_err(|m| self.error(Some(resource), Some("Resources".into()), m))?;
            let kind = match resource.get("Type").map(|t| &t.value) {
                Some(Value::Str(kind)) => kind.clone(),
                _ => {
                    return Err(self.error(
                        Some(resource),
                        Some(format!("Resources.{id}.Type")),
                        "is missing or not a string",
                    ));
                }
            };
            scope.resources.insert(id.clone(), kind);
        }
        // SAM creates these for events that name no API; templates refer to them (`!Ref ServerlessHttpApi`).
        scope.resources.entry(IMPLICIT_HTTP_API.to_owned()).or_insert_with(|| "AWS::Serverless::HttpApi".to_owned());
        scope.resources.entry(IMPLICIT_REST_API.to_owned()).or_insert_with(|| "AWS::Serverless::Api".to_owned());
        // And an execution role for each function that names none (`!GetAtt HelloRole.Arn`).
        let functions_ids: Vec<String> = scope
            .resources
            .iter()
            .filter(|(_, kind)| kind.as_str() == "AWS::Serverless::Function")
            .map(|(id, _)| format!("{id}Role"))
            .collect();
        for role in functions_ids {
            scope.resources.entry(role).or_insert_with(|| "AWS::IAM::Role".to_owned());
        }
        self.conditions(&root, &mut scope)?;
        if let Some(globals) = root.get("Globals") {
            globals::check(globals).map_err(|(node, at, message)| self.error(Some(node), Some(at), message))?;
        }
        let globals = root.get("Globals").and_then(|g| g.get("Function"));
        let mut functions = Vec::new();
        let (mut children, mut nested_warnings) = (Vec::new(), Vec::new());
        let mut layers = Vec::new();
        let mut apis = Vec::new();
        let mut skipped = lambda::Skipped::default();
        let api_globals = |key: &str| root.get("Globals").and_then(|g| g.get(key));
        for (Key { name: id, .. }, resource) in resources.1 {
            if !self.condition_holds(id, resource, &scope)? {
                continue; // A resource whose Condition is false is not created.
            }
            match scope.resources.get(id).map(String::as_str) {
                Some("AWS::Serverless::Function") => functions.push(self.function(id, resource, globals, &scope)?),
                Some("AWS::Lambda::Function") => {
                    functions.extend(self.lambda_function(id, resource, &scope, &mut skipped)?);
                }
                Some("AWS::Serverless::LayerVersion") => layers.push(self.layer(id, resource, &scope)?),
                Some("AWS::Lambda::LayerVersion") => {
                    layers.extend(self.lambda_layer(id, resource, &scope, &mut skipped)?);
                }
                Some("AWS::Serverless::Application") => {
                    if let Some(child) = self.nested_application(id, resource, &scope, options, &mut nested_warnings)? {
                        children.push((id.clone(), child));
                    }
                }
                Some("AWS::Serverless::Api") => {
                    apis.push(self.api(id, ApiKind::Rest, Some(resource), api_globals("Api"), &scope)?);
                }
                Some("AWS::Serverless::HttpApi") => {
                    apis.push(self.api(id, ApiKind::Http, Some(resource), api_globals("HttpApi"), &scope)?);
                }
                _ => {} // Tables, queues, roles: read, not run.
            }
        }
        self.openapi_routes(resources.1, api_globals("Api"), &scope, &mut functions)?;
        for (id, kind, globals) in
            [(IMPLICIT_REST_API, ApiKind::Rest, "Api"), (IMPLICIT_HTTP_API, ApiKind::Http, "HttpApi")]
        {
            if !apis.iter().any(|api| api.api == id) {
                apis.push(self.api(id, kind, None, api_globals(globals), &scope)?);
            }
        }
        self.versions_and_aliases(resources.1, &scope, &mut functions)?;
        skipped.functions_on_skipped_layers(&self.file, &mut functions);
        for function in &functions {
            for layer in &function.layers {
                if !layer.starts_with("arn:") && !layers.iter().any(|l| &l.logical_id == layer) {
                    return Err(self.error(
                        None,
                        Some(format!("Resources.{}.Properties.Layers", function.logical_id)),
                        format!("`{layer}` is not a layer in this template"),
                    ));
                }
            }
        }
        let warnings = scope
            .unresolved()
            .into_iter()
            .map(|u| format!("{}:{}:{}: {}", self.file.display(), u.line, u.col, u.message))
            .collect();
        let mut template =
            Template { path: self.file.clone(), functions, layers, apis, warnings, unavailable: skipped.functions };
        template.warnings.extend(skipped.warnings);
        template.warnings.extend(nested_warnings);
        for (id, child) in children {
            nested::adopt(&id, child, &mut template)
                .map_err(|m| self.error(None, Some(format!("Resources.{id}")), m))?;
        }
        Ok(template)
    }

    fn scope(&self, root: &Node, options: &LoadOptions) -> Result<Scope, TemplateError> {
        let mut scope = Scope::new(&options.region, &options.account_id, &options.stack_name);
        scope.mappings = root.get("Mappings").cloned();
        let declared: Vec<(Key, Node)> = match root.get("Parameters").map(|p| &p.value) {
            Some(Value::Map(entries)) => entries.clone(),
            _ => Vec::new(),
        };
        for (name, _) in &options.parameter_overrides {
            if !declared.iter().any(|(declared, _)| declared.name == *name) {
                return Err(self.error(
                    None,
                    Some("--parameter-overrides".into()),
                    format!("`{name}` is not a parameter of this template"),
                ));
            }
        }
        for (Key { name, .. }, declaration) in &declared {
            let overridden = options.parameter_overrides.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone());
            let default = declaration.get("Default").map(|d| scope.resolve(d).map(|v| json_text(&v)));
            let value = match (overridden, default) {
                (Some(value), _) => value,
                (None, Some(Ok(value))) => value,
                (None, Some(Err(e))) => {
                    return Err(self.resolve_error(e, format!("Parameters.{name}.Default")));
                }
                (None, None) => {
                    // A value given at deploy time (a password, another stack's name): blank
                    // where it is used, as in SAM CLI, with a warning there.
                    scope.missing_parameters.insert(name.clone());
                    continue;
                }
            };
            if let Some(Value::Seq(allowed)) = declaration.get("AllowedValues").map(|a| &a.value)
                && !allowed.iter().any(|a| scope.resolve(a).map(|a| json_text(&a) == value).unwrap_or(false))
            {
                return Err(self.error(
                    Some(declaration),
                    Some(format!("Parameters.{name}")),
                    format!("`{value}` is not one of its AllowedValues"),
                ));
            }
            let is_list = matches!(declaration.get("Type").map(|t| &t.value), Some(Value::Str(t)) if t == "CommaDelimitedList" || t.starts_with("List<"));
            let value = if is_list {
                Json::Array(value.split(',').map(|v| Json::String(v.trim().to_owned())).collect())
            } else {
                Json::String(value)
            };
            scope.parameters.insert(name.clone(), value);
        }
        Ok(scope)
    }

    fn conditions(&self, root: &Node, scope: &mut Scope) -> Result<(), TemplateError> {
        let Some(Value::Map(conditions)) = root.get("Conditions").map(|c| &c.value) else {
            return Ok(());
        };
        // Conditions may refer to each other in any order: evaluate until nothing changes.
        let mut pending: Vec<&(Key, Node)> = conditions.iter().collect();
        while !pending.is_empty() {
            let mut last_error = None;
            let before = pending.len();
            pending.retain(|(Key { name, .. }, node)| {
                let result = match &node.value {
                    Value::Tagged(tag, inner) => scope.condition(node, &format!("Fn::{tag}"), inner),
                    Value::Map(entries) if entries.len() == 1 => {
                        scope.condition(node, &entries[0].0.name, &entries[0].1)
                    }
                    _ => Err(intrinsics::ResolveError {
                        line: node.at.line,
                        col: node.at.col,
                        message: "is not a condition".into(),
                    }),
                };
                match result {
                    Ok(value) => {
                        scope.conditions.insert(name.clone(), value);
                        false
                    }
                    Err(error) => {
                        last_error = Some((name.clone(), error));
                        true
                    }
                }
            });
            if pending.len() == before
                && let Some((name, error)) = last_error
            {
                return Err(self.resolve_error(error, format!("Conditions.{name}")));
            }
        }
        Ok(())
    }

    fn resolve_error(&self, error: intrinsics::ResolveError, location: String) -> TemplateError {
        TemplateError {
            file: self.file.clone(),
            position: Some((error.line, error.col)),
            location: Some(location),
            message: error.message,
        }
    }

    fn properties(
        &self,
        id: &str,
        resource: &Node,
        scope: &Scope,
        globals: Option<&Node>,
    ) -> Result<Json, TemplateError> {
        let properties = match (resource.get("Properties"), globals) {
            (Some(properties), Some(globals)) => globals::merge(globals, properties, "Function"),
            (Some(properties), None) => properties.clone(),
            (None, Some(globals)) => globals.clone(),
            (None, None) => {
                return Err(self.error(Some(resource), Some(format!("Resources.{id}")), "has no Properties"));
            }
        };
        scope.resolve(&properties).map_err(|e| self.resolve_error(e, format!("Resources.{id}.Properties")))
    }

    fn build_spec(&self, id: &str, resource: &Node, scope: &Scope) -> Result<Option<BuildSpec>, TemplateError> {
        let Some(metadata) = resource.get("Metadata") else {
            return Ok(None);
        };
        let metadata =
            scope.resolve(metadata).map_err(|e| self.resolve_error(e, format!("Resources.{id}.Metadata")))?;
        // `sam build` keeps each resource's Metadata in the template it writes, adds `SamResourceId`,
        // and points CodeUri/ContentUri at the artifacts it built: that code runs as is.
        if metadata.get(SAM_RESOURCE_ID).is_some() {
            return Ok(None);
        }
        let Some(name) = metadata["BuildMethod"].as_str() else {
            return Ok(None);
        };
        let Some(method) = BuildMethod::from_name(name) else {
            return Err(self.error(
                Some(resource),
                Some(format!("Resources.{id}.Metadata.BuildMethod")),
                format!(
                    "`{name}` is not supported; expected rust-cargolambda, makefile, esbuild or a python3.x or \
                     nodejsNN.x runtime (or no BuildMethod for code used as is)"
                ),
            ));
        };
        let binary = metadata["BuildProperties"]["Binary"].as_str().map(str::to_owned);
        if let Some(binary) = &binary {
            names::check_binary_name(binary).map_err(|m| {
                self.error(Some(resource), Some(format!("Resources.{id}.Metadata.BuildProperties.Binary")), m)
            })?;
        }
        Ok(Some(BuildSpec { method, binary }))
    }

    /// `Metadata.BuildProperties`, resolved; null when absent.
    fn build_properties(&self, id: &str, resource: &Node, scope: &Scope) -> Result<Json, TemplateError> {
        match resource.get("Metadata").and_then(|m| m.get("BuildProperties")) {
            Some(node) => scope
                .resolve(node)
                .map_err(|e| self.resolve_error(e, format!("Resources.{id}.Metadata.BuildProperties"))),
            None => Ok(Json::Null),
        }
    }

    fn path_property(&self, id: &str, properties: &Json, name: &str) -> Result<PathBuf, TemplateError> {
        let location = Some(format!("Resources.{id}.Properties.{name}"));
        let uri = match &properties[name] {
            Json::String(uri) => uri.clone(),
            Json::Null => ".".to_owned(),
            _ => {
                return Err(self.error(None, location, "must be a local path (S3 locations cannot run locally)"));
            }
        };
        if uri.starts_with("s3://") {
            return Err(self.error(
                None,
                location,
                format!("`{uri}` is in S3; point it at a local folder to run it locally"),
            ));
        }
        let path = self.dir.join(&uri);
        if !path.exists() {
            return Err(self.error(None, location, format!("`{uri}` does not exist (looked for {})", path.display())));
        }
        Ok(path.canonicalize().unwrap_or(path))
    }

    fn function(
        &self,
        id: &str,
        resource: &Node,
        globals: Option<&Node>,
        scope: &Scope,
    ) -> Result<Function, TemplateError> {
        let properties = self.properties(id, resource, scope, globals)?;
        self.function_with(id, resource, properties, scope)
    }

    /// A function from its resolved properties, in `AWS::Serverless::Function`'s form.
    fn function_with(
        &self,
        id: &str,
        resource: &Node,
        properties: Json,
        scope: &Scope,
    ) -> Result<Function, TemplateError> {
        let location = |property: &str| Some(format!("Resources.{id}.Properties.{property}"));
        if properties["PackageType"].as_str() == Some("Image") {
            return Err(self.error(
                Some(resource),
                location("PackageType"),
                "container image functions need Docker; only Zip functions run here",
            ));
        }
        let runtime = properties["Runtime"]
            .as_str()
            .ok_or_else(|| self.error(Some(resource), location("Runtime"), "is missing"))?
            .to_owned();
        if !(runtime.starts_with("provided") || runtime.starts_with("python3") || runtime.starts_with("nodejs")) {
            return Err(self.error(
                Some(resource),
                location("Runtime"),
                format!(
                    "`{runtime}` is not supported yet; supported: provided.al2023, provided.al2, python3.x, nodejs*"
                ),
            ));
        }
        let number = |property: &str, default: u64| -> Result<u64, TemplateError> {
            match &properties[property] {
                Json::Null => Ok(default),
                value => json_text(value).parse().map_err(|_| {
                    self.error(Some(resource), location(property), format!("`{value}` is not a whole number"))
                }),
            }
        };
        let memory_mb = number("MemorySize", 128)?;
        if !(128..=10_240).contains(&memory_mb) {
            return Err(self.error(
                Some(resource),
                location("MemorySize"),
                format!("{memory_mb} is outside Lambda's 128-10240 MB"),
            ));
        }
        let timeout = number("Timeout", 3)?;
        if !(1..=900).contains(&timeout) {
            return Err(self.error(
                Some(resource),
                location("Timeout"),
                format!("{timeout} is outside Lambda's 1-900 seconds"),
            ));
        }
        let environment = match &properties["Environment"]["Variables"] {
            Json::Null => BTreeMap::new(),
            Json::Object(variables) => variables.iter().map(|(k, v)| (k.clone(), json_text(v))).collect(),
            _ => {
                return Err(self.error(Some(resource), location("Environment.Variables"), "must be a mapping"));
            }
        };
        let layers = match &properties["Layers"] {
            Json::Null => Vec::new(),
            // A blank (an `!ImportValue` of a shared stack's layer) was warned about already.
            Json::Array(layers) => {
                layers.iter().map(|l| layer_reference(&json_text(l), scope)).filter(|l| !l.is_empty()).collect()
            }
            _ => return Err(self.error(Some(resource), location("Layers"), "must be a list")),
        };
        Ok(Function {
            logical_id: id.to_owned(),
            code_uri: self.path_property(id, &properties, "CodeUri")?,
            handler: properties["Handler"].as_str().map(str::to_owned),
            runtime,
            memory_mb: memory_mb as u32,
            timeout: Duration::from_secs(timeout),
            environment,
            layers,
            build: match self.build_spec(id, resource, scope)? {
                None if !is_sam_built(resource) => default_build(&properties["Runtime"]),
                spec => spec,
            },
            build_properties: self.build_properties(id, resource, scope)?,
            http_events: events::http_events(&properties["Events"])
                .map_err(|m| self.error(Some(resource), Some(format!("Resources.{id}.Properties")), m))?,
            function_url: self.function_url(id, &properties["FunctionUrlConfig"])?,
            function_name: properties["FunctionName"].as_str().filter(|n| !n.is_empty()).map(str::to_owned),
            logging: self.logging_config(id, &properties["LoggingConfig"])?,
            inline_code: None,
            stack_path: None,
            invoke: invoke::settings(&properties)
                .map_err(|m| self.error(Some(resource), Some(format!("Resources.{id}.Properties")), m))?,
        })
    }

    /// `FunctionUrlConfig`'s `InvokeMode`, checked against the ones Lambda accepts.
    fn function_url(&self, id: &str, config: &Json) -> Result<Option<InvokeMode>, TemplateError> {
        match (config, &config["InvokeMode"]) {
            (Json::Null, _) => Ok(None),
            (_, Json::Null) => Ok(Some(InvokeMode::Buffered)),
            (_, Json::String(mode)) if mode == "BUFFERED" => Ok(Some(InvokeMode::Buffered)),
            (_, Json::String(mode)) if mode == "RESPONSE_STREAM" => Ok(Some(InvokeMode::ResponseStream)),
            (_, other) => Err(self.error(
                None,
                Some(format!("Resources.{id}.Properties.FunctionUrlConfig.InvokeMode")),
                format!("`{}` is not one of BUFFERED, RESPONSE_STREAM", json_text(other)),
            )),
        }
    }

    /// `LoggingConfig`, with its values checked against the ones Lambda accepts.
    fn logging_config(&self, id: &str, config: &Json) -> Result<LoggingConfig, TemplateError> {
        let field = |name: &str, allowed: &[&str]| -> Result<Option<String>, TemplateError> {
            match &config[name] {
                Json::Null => Ok(None),
                Json::String(value) if allowed.is_empty() || allowed.contains(&value.as_str()) => {
                    Ok(Some(value.clone()))
                }
                other => Err(self.error(
                    None,
                    Some(format!("Resources.{id}.Properties.LoggingConfig.{name}")),
                    format!("`{}` is not one of {}", json_text(other), allowed.join(", ")),
                )),
            }
        };
        Ok(LoggingConfig {
            log_format: field("LogFormat", &["Text", "JSON"])?,
            application_log_level: field("ApplicationLogLevel", &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])?,
            log_group: field("LogGroup", &[])?,
        })
    }

    /// An API's authorizers and CORS settings: its `Auth` and `Cors`/`CorsConfiguration` over
    /// the Globals section's (`resource` is `None` for an implicit API).
    fn api(
        &self,
        id: &str,
        kind: ApiKind,
        resource: Option<&Node>,
        globals: Option<&Node>,
        scope: &Scope,
    ) -> Result<ApiSettings, TemplateError> {
        let own = resource.and_then(|r| r.get("Properties"));
        let merged = match (globals, own) {
            (Some(globals), Some(own)) => Some(merge_globals(globals, own)),
            (Some(only), None) | (None, Some(only)) => Some(only.clone()),
            (None, None) => None,
        };
        let location = match resource {
            Some(_) => format!("Resources.{id}.Properties"),
            None => format!("Globals.{}", if kind == ApiKind::Rest { "Api" } else { "HttpApi" }),
        };
        let resolve = |key: &str| -> Result<Json, TemplateError> {
            match merged.as_ref().and_then(|m| m.get(key)) {
                Some(node) => scope.resolve(node).map_err(|e| self.resolve_error(e, format!("{location}.{key}"))),
                None => Ok(Json::Null),
            }
        };
        let auth = resolve("Auth")?;
        let cors = resolve(if kind == ApiKind::Rest { "Cors" } else { "CorsConfiguration" })?;
        let mut settings = events::api_settings(id, kind, &auth, &cors)
            .map_err(|m| self.error(resource, Some(location.clone()), m))?;
        let variables = resolve(if kind == ApiKind::Rest { "Variables" } else { "StageVariables" })?;
        let binary_media_types = if kind == ApiKind::Rest { resolve("BinaryMediaTypes")? } else { Json::Null };
        settings.stage = events::api_stage(kind, &resolve("StageName")?, &variables, &binary_media_types)
            .map_err(|m| self.error(resource, Some(location), m))?;
        Ok(settings)
    }

    /// `AWS::Lambda::Version` and `AWS::Lambda::Alias` resources of this template's functions: a
    /// version publishes the function's code (version `1` locally), an alias names one.
    fn versions_and_aliases(
        &self,
        resources: &[(Key, Node)],
        scope: &Scope,
        functions: &mut [Function],
    ) -> Result<(), TemplateError> {
        for (Key { name: id, .. }, resource) in resources {
            let kind = scope.resources.get(id).map(String::as_str);
            if !matches!(kind, Some("AWS::Lambda::Version" | "AWS::Lambda::Alias")) {
                continue;
            }
            let properties = self.properties(id, resource, scope, None)?;
            let name = json_text(&properties["FunctionName"]);
            let name = name.split_once(":function:").map_or(name.as_str(), |(_, rest)| rest);
            let Some(function) =
                functions.iter_mut().find(|f| f.logical_id == name || f.function_name.as_deref() == Some(name))
            else {
                continue; // A function of another stack: nothing to run here.
            };
            if kind == Some("AWS::Lambda::Version") {
                function.invoke.published = true;
            } else {
                let alias = json_text(&properties["Name"]);
                if alias.is_empty() {
                    return Err(self.error(
                        Some(resource),
                        Some(format!("Resources.{id}.Properties.Name")),
                        "is missing",
                    ));
                }
                // `!GetAtt Version.Version` is only known once deployed: the one local version.
                let version = json_text(&properties["FunctionVersion"]);
                let version =
                    if version == "$LATEST" || version.parse::<u32>().is_ok() { version } else { "1".to_owned() };
                function.invoke.published |= version != "$LATEST";
                function.invoke.aliases.push((alias, version));
            }
        }
        Ok(())
    }

    /// Whether the resource's `Condition` (if any) holds.
    fn condition_holds(&self, id: &str, resource: &Node, scope: &Scope) -> Result<bool, TemplateError> {
        let Some(condition) = resource.get("Condition") else { return Ok(true) };
        let Value::Str(name) = &condition.value else {
            return Err(self.error(
                Some(condition),
                Some(format!("Resources.{id}.Condition")),
                "must be a condition's name",
            ));
        };
        scope.conditions.get(name).copied().ok_or_else(|| {
            self.error(
                Some(condition),
                Some(format!("Resources.{id}.Condition")),
                format!("`{name}` is not in the template's Conditions"),
            )
        })
    }

    fn layer(&self, id: &str, resource: &Node, scope: &Scope) -> Result<LayerVersion, TemplateError> {
        let properties = self.properties(id, resource, scope, None)?;
        Ok(LayerVersion {
            logical_id: id.to_owned(),
            content_uri: self.path_property(id, &properties, "ContentUri")?,
            build: self.build_spec(id, resource, scope)?,
        })
    }
}

/// Whether `sam build` wrote this resource (its Metadata has `SamResourceId`).
fn is_sam_built(resource: &Node) -> bool {
    resource.get("Metadata").and_then(|m| m.get(SAM_RESOURCE_ID)).is_some()
}

/// How `sam build` builds a function with no `BuildMethod`: Python with pip, Node.js with npm.
fn default_build(runtime: &Json) -> Option<BuildSpec> {
    let runtime = runtime.as_str().unwrap_or_default();
    let method = if runtime.starts_with("python") {
        BuildMethod::PythonPip
    } else if runtime.starts_with("nodejs") {
        BuildMethod::NodejsNpm
    } else {
        return None;
    };
    Some(BuildSpec { method, binary: None })
}

/// `!Ref Layer` resolves to the layer's ARN; map ARNs of this template's layers back to ids.
fn layer_reference(value: &str, scope: &Scope) -> String {
    let ids: HashMap<String, &String> = scope
        .resources
        .iter()
        .filter(|(_, kind)| matches!(kind.as_str(), "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion"))
        .map(|(id, _)| (intrinsics::layer_arn(scope, id), id))
        .collect();
    ids.get(value).map_or_else(|| value.to_owned(), |id| (*id).clone())
}

/// SAM's Globals merge (see [`globals::merge`]) of an API's section.
fn merge_globals(globals: &Node, properties: &Node) -> Node {
    globals::merge(globals, properties, "Api")
}

#[cfg(test)]
mod tests;
