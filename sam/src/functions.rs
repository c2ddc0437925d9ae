//! From a template's function to a runnable environment spec: builds, layers and variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::build::{CargoProfile, build_rust_cached};
use crate::local_invoke::CliError;
use crate::sandbox::FunctionSpec;
use crate::template::{Function, Template, is_logical_id};

/// Where builds and layers of a template go: `.aws-sam/intercept` beside it, as SAM uses `.aws-sam`.
pub(crate) fn build_root(template: &Template) -> PathBuf {
    let dir = template.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.canonicalize().unwrap_or_else(|_| dir.to_owned()).join(".aws-sam").join("intercept")
}

/// The folder of the build root a layer of the template is laid out in. A [`Template`] can be
/// built in code, past the loader's checks, so the name is checked again here: only a logical id
/// (ASCII letters and digits) is joined, which keeps what is written and removed inside the root.
fn layer_dir(build_root: &Path, logical_id: &str) -> Result<PathBuf, CliError> {
    if !is_logical_id(logical_id) {
        return Err(CliError(format!(
            "layer `{}`: not a CloudFormation logical id (1 to 255 ASCII letters and digits), so it cannot name a folder of {}",
            logical_id.escape_debug(),
            build_root.display()
        )));
    }
    Ok(build_root.join(logical_id))
}

/// Lays a built extension out as a layer, unless the same binary is already there: environments
/// of this process (or another) may be running from that folder.
fn assemble_once(dir: &Path, binary: &Path) -> Result<PathBuf, intercept_layer::LayerError> {
    static ASSEMBLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_thread_at_a_time = ASSEMBLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Other `intercept-sam` processes on the same template lay out the same folder: a file lock
    // beside it makes them take turns, so none removes files another is copying in.
    let lock_path = dir.with_extension("lock");
    let io_error = |source| intercept_layer::LayerError::Io { path: lock_path.clone(), source };
    if let Some(parent) = lock_path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_error)?;
    lock.lock().map_err(io_error)?;
    let placed = binary.file_name().map(|name| dir.join("extensions").join(name));
    let metadata = |path: &Path| std::fs::metadata(path).ok();
    if let (Some(placed), Some(source)) = (placed.as_deref().and_then(metadata), metadata(binary))
        && placed.len() == source.len()
        && placed.modified().ok() >= source.modified().ok()
    {
        return Ok(dir.to_owned());
    }
    intercept_layer::assemble(dir, &[binary.to_owned()])
}

/// How functions are built and run, shared by the `local` commands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SpecOptions {
    /// `-n`: SAM's env-vars JSON file.
    pub env_vars: Option<PathBuf>,
    /// The cargo profile for builds.
    pub profile: CargoProfile,
    /// `--region`.
    pub region: String,
    /// Freeze environments between invocations (`--no-freeze` turns it off).
    pub freeze: bool,
}

impl Default for SpecOptions {
    fn default() -> Self {
        SpecOptions { env_vars: None, profile: CargoProfile::default(), region: "us-east-1".to_owned(), freeze: true }
    }
}

/// The command that starts the function's runtime: its `bootstrap` (built with cargo where
/// the template says so) for OS-only runtimes, `python3 -m awslambdaric HANDLER` for Python.
fn bootstrap(
    template: &Template,
    function: &Function,
    options: &SpecOptions,
) -> Result<(PathBuf, Vec<String>), CliError> {
    let at = |message: String| {
        CliError(format!("{}: Resources.{}: {message}", template.path.display(), function.logical_id))
    };
    if function.runtime.starts_with("python") {
        let handler =
            function.handler.clone().ok_or_else(|| at("Handler is required for Python functions".to_owned()))?;
        // Lambda's Python runtime is awslambdaric; INTERCEPT_SAM_PYTHON picks the interpreter that has it.
        let python = std::env::var("INTERCEPT_SAM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        return Ok((PathBuf::from(python), vec!["-m".into(), "awslambdaric".into(), handler]));
    }
    if function.runtime.starts_with("nodejs") {
        let handler =
            function.handler.clone().ok_or_else(|| at("Handler is required for Node.js functions".to_owned()))?;
        // Lambda's Node.js runtime is aws-lambda-ric; INTERCEPT_SAM_NODE_RIC names an installed copy.
        let ric = std::env::var("INTERCEPT_SAM_NODE_RIC").map_err(|_| {
            at("Node.js functions need aws-lambda-ric: `npm install aws-lambda-ric@3` and set INTERCEPT_SAM_NODE_RIC to its folder".to_owned())
        })?;
        let node = std::env::var("INTERCEPT_SAM_NODE").unwrap_or_else(|_| "node".to_owned());
        let entry = Path::new(&ric).join("bin").join("index.mjs");
        return Ok((PathBuf::from(node), vec![entry.display().to_string(), handler]));
    }
    if let Some(spec) = &function.build {
        let root = build_root(template);
        let binary = build_rust_cached(&function.logical_id, &function.code_uri, spec, &options.profile, Some(&root))
            .map_err(|e| CliError(e.to_string()))?;
        return Ok((binary, Vec::new()));
    }
    let bootstrap = function.code_uri.join("bootstrap");
    if !bootstrap.is_file() {
        return Err(at(format!(
            "{} has no bootstrap executable (or add Metadata.BuildMethod: rust-cargolambda)",
            function.code_uri.display()
        )));
    }
    Ok((bootstrap, Vec::new()))
}

/// Applies SAM's env-vars file: `Parameters` for every function, then the function's own
/// section; as in SAM, only variables the template declares are set.
fn apply_env_vars(
    path: &Path,
    function: &Function,
    environment: &mut BTreeMap<String, String>,
) -> Result<(), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError(format!("cannot read env-vars file {}: {e}", path.display())))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError(format!("env-vars file {} is not JSON: {e}", path.display())))?;
    let Some(sections) = json.as_object() else {
        return Err(CliError(format!("env-vars file {} must be an object of sections", path.display())));
    };
    for section in ["Parameters", function.logical_id.as_str()] {
        let Some(values) = sections.get(section) else {
            continue;
        };
        let Some(values) = values.as_object() else {
            return Err(CliError(format!("env-vars file {}: section {section} must be an object", path.display())));
        };
        for (key, value) in values {
            if function.environment.contains_key(key) {
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                environment.insert(key.clone(), value);
            }
        }
    }
    Ok(())
}

/// Builds what the function needs and describes its environment.
///
/// # Errors
/// A [`CliError`] when a build fails or a layer or env-vars file is unusable.
pub fn function_spec(
    template: &Template,
    function: &Function,
    options: &SpecOptions,
    otlp_endpoint: &str,
) -> Result<FunctionSpec, CliError> {
    let (bootstrap, bootstrap_args) = bootstrap(template, function, options)?;
    let build_root = build_root(template);
    let mut layer_dirs = Vec::new();
    for reference in &function.layers {
        let Some(layer) = template.layers.iter().find(|l| &l.logical_id == reference) else {
            eprintln!(
                "intercept-sam: layer {reference} is not in this template and cannot be fetched locally; skipped"
            );
            continue;
        };
        let dir = match &layer.build {
            Some(spec) => {
                let dir = layer_dir(&build_root, &layer.logical_id)?;
                let binary =
                    build_rust_cached(&layer.logical_id, &layer.content_uri, spec, &options.profile, Some(&build_root))
                        .map_err(|e| CliError(e.to_string()))?;
                assemble_once(&dir, &binary).map_err(|e| CliError(format!("layer {}: {e}", layer.logical_id)))?
            }
            None if layer.content_uri.is_dir() => layer.content_uri.clone(),
            None if layer.content_uri.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) => {
                let dir = layer_dir(&build_root, &layer.logical_id)?;
                let _ = std::fs::remove_dir_all(&dir);
                intercept_layer::unzip(&layer.content_uri, &dir)
                    .map_err(|e| CliError(format!("layer {}: {e}", layer.logical_id)))?
            }
            None => {
                return Err(CliError(format!(
                    "layer {}: ContentUri {} is neither a folder nor a .zip",
                    layer.logical_id,
                    layer.content_uri.display()
                )));
            }
        };
        layer_dirs.push(dir);
    }
    let mut environment = function.environment.clone();
    if let Some(path) = &options.env_vars {
        apply_env_vars(path, function, &mut environment)?;
    }
    environment.entry("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned()).or_insert_with(|| otlp_endpoint.to_owned());
    let mut spec = FunctionSpec::new(&function.logical_id, &function.runtime, bootstrap, function.code_uri.clone());
    spec.handler = function.handler.clone().unwrap_or_else(|| "bootstrap".to_owned());
    spec.bootstrap_args = bootstrap_args;
    spec.memory_mb = function.memory_mb;
    spec.timeout = function.timeout;
    spec.layer_dirs = layer_dirs;
    spec.environment = environment;
    spec.region.clone_from(&options.region);
    spec.freeze = options.freeze;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A template built in code (past the loader) whose layer id climbs out of the build root:
    /// the zip layer path used to `remove_dir_all` and then fill `<template dir>/../victim`.
    #[test]
    fn a_layer_id_outside_the_build_root_is_refused_and_nothing_outside_is_touched() {
        let scratch = std::env::temp_dir().join(format!("intercept-sam-layer-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let app = scratch.join("app");
        let code = app.join("fn");
        std::fs::create_dir_all(&code).expect("scratch");
        std::fs::write(code.join("bootstrap"), "#!/bin/sh\n").expect("bootstrap");
        let content = scratch.join("content");
        std::fs::create_dir_all(&content).expect("scratch");
        std::fs::write(content.join("planted"), "from the layer").expect("layer file");
        let zip = intercept_layer::zip_dir(&content, &app.join("layer.zip")).expect("zip");
        let victim = scratch.join("victim");
        std::fs::create_dir_all(&victim).expect("canary");
        std::fs::write(victim.join("keep.txt"), "canary").expect("canary");

        for id in ["../../../victim", "../../../victim/", "a/b", "", "..", "Vïctim"] {
            let layer =
                crate::template::LayerVersion { logical_id: id.to_owned(), content_uri: zip.clone(), build: None };
            let function = Function {
                logical_id: "Hello".to_owned(),
                code_uri: code.clone(),
                handler: None,
                runtime: "provided.al2023".to_owned(),
                memory_mb: 128,
                timeout: std::time::Duration::from_secs(3),
                environment: BTreeMap::new(),
                layers: vec![id.to_owned()],
                build: None,
                http_events: Vec::new(),
                function_url: false,
            };
            let template = Template {
                path: app.join("template.yaml"),
                functions: vec![function.clone()],
                layers: vec![layer],
                http_apis: Vec::new(),
            };
            let error = function_spec(&template, &function, &SpecOptions::default(), "http://127.0.0.1:4318")
                .expect_err(id)
                .to_string();
            assert!(error.contains("not a CloudFormation logical id"), "{id:?}: {error}");
            assert_eq!(std::fs::read_to_string(victim.join("keep.txt")).ok().as_deref(), Some("canary"), "{id:?}");
            assert!(!victim.join("planted").exists(), "{id:?}: the layer was extracted outside the build root");
            assert!(!scratch.join("planted").exists() && !app.join("planted").exists(), "{id:?}");
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
