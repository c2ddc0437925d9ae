//! From a template's function to a runnable environment spec: builds, layers and variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::aws_profile::AwsCredentials;
use crate::build::{
    CargoProfile, NODE_EXCLUDES, PYTHON_EXCLUDES, build_rust_cached, build_unless_fresh, build_with_make,
    esbuild_build, esbuild_handler, esbuild_properties, fingerprint, npm_build, pip_install,
};
use crate::interpreters;
use crate::local_invoke::CliError;
use crate::sandbox::FunctionSpec;
use crate::template::{BuildMethod, Function, Template, is_logical_id};

/// Where builds and layers of a template go: `.aws-sam/intercept` beside it, as SAM uses `.aws-sam`.
pub(crate) fn build_root(template: &Template) -> PathBuf {
    let dir = template.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.canonicalize().unwrap_or_else(|_| dir.to_owned()).join(".aws-sam").join("intercept")
}

/// The folder of the build root a layer or a Makefile's artifacts of the template go in. A
/// [`Template`] can be built in code, past the loader's checks, so the name is checked again
/// here: only a logical id (ASCII letters and digits) is joined, which keeps what is written and
/// removed inside the root.
fn resource_dir(build_root: &Path, logical_id: &str) -> Result<PathBuf, CliError> {
    if !is_logical_id(logical_id) {
        return Err(CliError(format!(
            "`{}`: not a CloudFormation logical id (1 to 255 ASCII letters and digits), so it cannot name a folder of {}",
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

/// Runs a resource's `build-<LogicalId>` Makefile target into its folder of the build root (SAM's
/// `BuildMethod: makefile`), once per process: the functions of a template share its layers, and
/// each would otherwise run make again. Other `intercept-sam` processes on the same template take
/// turns through a file lock beside the folder, as [`assemble_once`] does.
fn make_once(build_root: &Path, logical_id: &str, source_dir: &Path) -> Result<PathBuf, CliError> {
    static BUILT: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = resource_dir(build_root, logical_id)?;
    if built.contains(&dir) {
        return Ok(dir);
    }
    let dir = with_build_lock(build_root, logical_id, |dir| {
        build_with_make(logical_id, source_dir, dir).map_err(|e| CliError(e.to_string()))
    })?;
    built.push(dir.clone());
    Ok(dir)
}

/// Runs `build` on the resource's folder of the build root while holding the file lock beside
/// it, so that threads of this process and other `intercept-sam` processes take turns.
fn with_build_lock<T>(
    build_root: &Path,
    logical_id: &str,
    build: impl FnOnce(&Path) -> Result<T, CliError>,
) -> Result<T, CliError> {
    static ONE_THREAD_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_THREAD_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = resource_dir(build_root, logical_id)?;
    let lock_path = dir.with_extension("lock");
    let lock_error = |e: std::io::Error| CliError(format!("{}: {e}", lock_path.display()));
    std::fs::create_dir_all(build_root).map_err(lock_error)?;
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(lock_error)?;
    lock.lock().map_err(lock_error)?;
    build(&dir)
}

/// The Python interpreter `runtime` runs on (see [`interpreters::python`]), which also installs
/// its dependencies, so that compiled ones match it.
fn python_for(runtime: &str) -> Result<PathBuf, String> {
    let chosen = std::env::var("INTERCEPT_SAM_PYTHON").ok();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let (python, warning) = interpreters::python(runtime, chosen.as_deref(), &path)?;
    if let Some(warning) = warning {
        interpreters::warn_once(&warning);
    }
    Ok(python)
}

/// Builds a Python or Node.js resource into its folder of the build root as `sam build` does
/// (`subdir` is `python` or `nodejs` for a layer), unless its inputs are unchanged since the
/// last build. Returns the folder.
fn build_dependencies(
    build_root: &Path,
    logical_id: &str,
    source: &Path,
    method: BuildMethod,
    runtime: &str,
    subdir: &str,
) -> Result<PathBuf, CliError> {
    with_build_lock(build_root, logical_id, |dir| {
        let into = |artifacts: &Path| artifacts.join(subdir);
        let built = if method == BuildMethod::PythonPip {
            let python = python_for(runtime).map_err(|e| CliError(format!("building {logical_id}: {e}")))?;
            let print = fingerprint(source, PYTHON_EXCLUDES, &["pip", subdir, &python.display().to_string()]);
            build_unless_fresh(logical_id, dir, &print, |artifacts| {
                pip_install(logical_id, source, &into(artifacts), &python)
            })
        } else {
            let print = fingerprint(source, NODE_EXCLUDES, &["npm", subdir]);
            build_unless_fresh(logical_id, dir, &print, |artifacts| npm_build(logical_id, source, &into(artifacts)))
        };
        built.map_err(|e| CliError(e.to_string()))?;
        Ok(dir.to_owned())
    })
}

/// Writes an `AWS::Lambda::Function`'s inline `ZipFile` source where CloudFormation puts it
/// (`index.py`, `index.js`) in the function's folder of the build root; returns the folder.
fn write_inline_code(build_root: &Path, function: &Function) -> Result<PathBuf, CliError> {
    let source = function.inline_code.as_deref().unwrap_or_default();
    with_build_lock(build_root, &function.logical_id, |dir| {
        let file = dir.join(crate::template::inline_file_name(&function.runtime));
        let error = |e: std::io::Error| CliError(format!("{}: {e}", file.display()));
        if std::fs::read_to_string(&file).ok().as_deref() != Some(source) {
            std::fs::create_dir_all(dir).map_err(error)?;
            std::fs::write(&file, source).map_err(error)?;
        }
        Ok(dir.to_owned())
    })
}

/// Bundles a function with esbuild into its folder of the build root (`BuildMethod: esbuild`),
/// unless its inputs are unchanged since the last build.
fn build_esbuild(build_root: &Path, function: &Function) -> Result<PathBuf, CliError> {
    let id = &function.logical_id;
    let properties = esbuild_properties(&function.build_properties, function.handler.as_deref());
    with_build_lock(build_root, id, |dir| {
        let scratch = build_root.join(".scratch").join(id);
        let settings = serde_json::Value::Object(properties.clone()).to_string();
        let print = fingerprint(&function.code_uri, NODE_EXCLUDES, &["esbuild", &settings]);
        build_unless_fresh(id, dir, &print, |artifacts| {
            esbuild_build(id, &function.code_uri, &scratch, artifacts, &properties)
        })
        .map_err(|e| CliError(e.to_string()))?;
        Ok(dir.to_owned())
    })
}

/// How functions are built and run, shared by the `local` commands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SpecOptions {
    /// `-n`: SAM's env-vars JSON file.
    pub env_vars: Option<PathBuf>,
    /// The cargo profile for builds.
    pub profile: CargoProfile,
    /// `--region` (or the profile's): `AWS_REGION`.
    pub region: String,
    /// Freeze environments between invocations (`--no-freeze` turns it off).
    pub freeze: bool,
    /// The credentials functions get (`--profile` or the default chain; see [`crate::aws_profile`]).
    pub credentials: Option<AwsCredentials>,
    /// `--layer-cache-basedir`: where layers given by ARN are downloaded (default: SAM CLI's
    /// `~/.aws-sam/layers-pkg`).
    pub layer_cache_basedir: Option<PathBuf>,
    /// `--appconfig`: the port of the AppConfig Agent-compatible endpoint functions are given
    /// (`AWS_APPCONFIG_EXTENSION_HTTP_PORT`, unless a function sets it).
    pub appconfig_port: Option<u16>,
}

impl Default for SpecOptions {
    fn default() -> Self {
        SpecOptions {
            env_vars: None,
            profile: CargoProfile::default(),
            region: crate::aws_profile::DEFAULT_REGION.to_owned(),
            freeze: true,
            credentials: None,
            layer_cache_basedir: None,
            appconfig_port: None,
        }
    }
}

/// What starts the function: the folder its code is in (`/var/task`: `CodeUri`, or what its
/// Makefile built), and the command that starts its runtime: its `bootstrap` (built with cargo
/// where the template says so) for OS-only runtimes, `python3 -m awslambdaric HANDLER` for Python.
struct Start {
    code_dir: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    /// The handler, as `sam build` leaves it (esbuild may flatten its path).
    handler: Option<String>,
}

fn start(template: &Template, function: &Function, options: &SpecOptions) -> Result<Start, CliError> {
    let at = |message: String| {
        CliError(format!("{}: Resources.{}: {message}", template.path.display(), function.logical_id))
    };
    let method = function.build.as_ref().map(|spec| spec.method);
    let built_by_make = method == Some(BuildMethod::Makefile);
    let (id, source) = (&function.logical_id, &function.code_uri);
    let root = build_root(template);
    let mut function = function.clone();
    function.code_uri = match method {
        _ if function.inline_code.is_some() => write_inline_code(&root, &function)?,
        Some(BuildMethod::Makefile) => make_once(&root, id, source)?,
        Some(BuildMethod::Esbuild) => {
            let dir = build_esbuild(&root, &function)?;
            function.handler = function.handler.as_deref().map(|handler| esbuild_handler(handler, &dir));
            dir
        }
        // Without a requirements.txt or package.json the build is a copy: the source runs as is.
        Some(method @ BuildMethod::PythonPip) if source.join("requirements.txt").is_file() => {
            build_dependencies(&root, id, source, method, &function.runtime, "")?
        }
        Some(method @ BuildMethod::NodejsNpm) if source.join("package.json").is_file() => {
            build_dependencies(&root, id, source, method, &function.runtime, "")?
        }
        _ => source.clone(),
    };
    let code_dir = function.code_uri.clone();
    let (program, args) = program(&function, options, template, &code_dir, built_by_make).map_err(at)?;
    Ok(Start { code_dir, program, args, handler: function.handler })
}

/// The command that starts the function's runtime; an error says what is missing.
fn program(
    function: &Function,
    options: &SpecOptions,
    template: &Template,
    code_dir: &Path,
    built_by_make: bool,
) -> Result<(PathBuf, Vec<String>), String> {
    if function.runtime.starts_with("python") {
        let handler = function.handler.clone().ok_or_else(|| "Handler is required for Python functions".to_owned())?;
        // Lambda's Python runtime is awslambdaric; INTERCEPT_SAM_PYTHON picks the interpreter that has it.
        let python = python_for(&function.runtime)?;
        return Ok((python, vec!["-m".into(), "awslambdaric".into(), handler]));
    }
    if function.runtime.starts_with("nodejs") {
        let handler = function.handler.clone().ok_or_else(|| "Handler is required for Node.js functions".to_owned())?;
        // Lambda's Node.js runtime is aws-lambda-ric; INTERCEPT_SAM_NODE_RIC names an installed copy.
        let ric = std::env::var("INTERCEPT_SAM_NODE_RIC").map_err(|_| {
            "Node.js functions need aws-lambda-ric: `npm install aws-lambda-ric@3` and set INTERCEPT_SAM_NODE_RIC to its folder".to_owned()
        })?;
        let chosen = std::env::var("INTERCEPT_SAM_NODE").ok();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let (node, warning) = interpreters::node(&function.runtime, chosen.as_deref(), &path)?;
        if let Some(warning) = warning {
            interpreters::warn_once(&warning);
        }
        let entry = Path::new(&ric).join("bin").join("index.mjs");
        return Ok((node, vec![entry.display().to_string(), handler]));
    }
    if let Some(spec) = function.build.as_ref().filter(|spec| spec.method == BuildMethod::RustCargoLambda) {
        let root = build_root(template);
        let binary = build_rust_cached(&function.logical_id, &function.code_uri, spec, &options.profile, Some(&root))
            .map_err(|e| e.to_string())?;
        return Ok((binary, Vec::new()));
    }
    let bootstrap = code_dir.join("bootstrap");
    if !bootstrap.is_file() {
        return Err(if built_by_make {
            format!(
                "its Makefile's build-{} target wrote no bootstrap executable into ARTIFACTS_DIR ({})",
                function.logical_id,
                code_dir.display()
            )
        } else {
            format!(
                "{} has no bootstrap executable, which an artifact folder (such as sam build writes) needs; \
                 to build it from source, set Metadata.BuildMethod (rust-cargolambda or makefile)",
                code_dir.display()
            )
        });
    }
    if !is_executable(&bootstrap) {
        return Err(format!("{} is not executable (chmod +x it)", bootstrap.display()));
    }
    Ok((bootstrap, Vec::new()))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    true
}

/// Applies SAM's env-vars file: `Parameters` for every function, then the function's own
/// section, named by its logical id or else by its `FunctionName` (SAM CLI's precedence); as in
/// SAM, only variables the template declares are set, and values that are not scalars are blank.
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
    let own = std::iter::once(function.logical_id.as_str())
        .chain(function.function_name.as_deref())
        .find(|name| sections.contains_key(*name));
    for section in std::iter::once("Parameters").chain(own) {
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
                    serde_json::Value::Bool(_) | serde_json::Value::Number(_) => value.to_string(),
                    _ => String::new(),
                };
                environment.insert(key.clone(), value);
            }
        }
    }
    Ok(())
}

/// Where an environment's telemetry goes: the emulator's OTLP receiver and X-Ray daemon.
#[derive(Debug, Clone)]
pub struct TelemetryTargets {
    /// The OTLP/HTTP base URL (spans go to `/v1/traces`).
    pub otlp: String,
    /// The X-Ray daemon's `host:port`.
    pub xray: String,
}

/// Builds what the function needs and describes its environment.
///
/// # Errors
/// A [`CliError`] when a build fails or a layer or env-vars file is unusable.
pub fn function_spec(
    template: &Template,
    function: &Function,
    options: &SpecOptions,
    telemetry: &TelemetryTargets,
) -> Result<FunctionSpec, CliError> {
    let Start { code_dir, program: bootstrap, args: bootstrap_args, handler } = start(template, function, options)?;
    let build_root = build_root(template);
    let mut layer_dirs = Vec::new();
    for reference in &function.layers {
        let Some(layer) = template.layers.iter().find(|l| &l.logical_id == reference) else {
            // A layer given by ARN: downloaded once into the layer cache, as SAM CLI does.
            let cache = options.layer_cache_basedir.clone().unwrap_or_else(crate::layers_arn::default_cache_basedir);
            let env = |name: &str| std::env::var(name).ok();
            let dir = crate::layers_arn::layer_dir(reference, &cache, options.credentials.as_ref(), &env)
                .map_err(|e| CliError(format!("Resources.{}.Properties.Layers: {e}", function.logical_id)))?;
            layer_dirs.push(dir);
            continue;
        };
        let dir = match &layer.build {
            Some(spec) if spec.method == BuildMethod::Makefile => {
                make_once(&build_root, &layer.logical_id, &layer.content_uri)
                    .map_err(|e| CliError(format!("layer {}: {e}", layer.logical_id)))?
            }
            Some(spec) if matches!(spec.method, BuildMethod::PythonPip | BuildMethod::NodejsNpm) => {
                // `sam build` puts a layer's code where Lambda's runtimes look: python/ or nodejs/.
                let (subdir, runtime) = match spec.method {
                    BuildMethod::PythonPip if function.runtime.starts_with("python") => ("python", &*function.runtime),
                    BuildMethod::PythonPip => ("python", "python3"),
                    _ => ("nodejs", &*function.runtime),
                };
                build_dependencies(&build_root, &layer.logical_id, &layer.content_uri, spec.method, runtime, subdir)
                    .map_err(|e| CliError(format!("layer {}: {e}", layer.logical_id)))?
            }
            Some(spec) if spec.method == BuildMethod::Esbuild => {
                return Err(CliError(format!(
                    "layer {}: BuildMethod esbuild builds functions only (sam build refuses it for layers); \
                     use a nodejsNN.x BuildMethod or makefile",
                    layer.logical_id
                )));
            }
            Some(spec) => {
                let dir = resource_dir(&build_root, &layer.logical_id)?;
                let binary =
                    build_rust_cached(&layer.logical_id, &layer.content_uri, spec, &options.profile, Some(&build_root))
                        .map_err(|e| CliError(e.to_string()))?;
                assemble_once(&dir, &binary).map_err(|e| CliError(format!("layer {}: {e}", layer.logical_id)))?
            }
            None if layer.content_uri.is_dir() => layer.content_uri.clone(),
            None if layer.content_uri.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) => {
                let dir = resource_dir(&build_root, &layer.logical_id)?;
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
    // `sam build` adds `--enable-source-maps` to NODE_OPTIONS of a function esbuild bundled with
    // a Sourcemap (SAM CLI's bundler.py), so that stack traces name the TypeScript lines.
    let source_map = &function.build_properties["Sourcemap"];
    if function.build.as_ref().is_some_and(|spec| spec.method == BuildMethod::Esbuild)
        && (source_map.as_bool() == Some(true) || source_map.as_str().is_some_and(|s| !s.is_empty()))
    {
        let options = environment.entry("NODE_OPTIONS".to_owned()).or_default();
        if !options.split_whitespace().any(|option| option == "--enable-source-maps") {
            *options = format!("{options} --enable-source-maps").trim_start().to_owned();
        }
    }
    if let Some(path) = &options.env_vars {
        apply_env_vars(path, function, &mut environment)?;
    }
    if let Some(port) = options.appconfig_port {
        environment.entry(crate::appconfig::PORT_VARIABLE.to_owned()).or_insert_with(|| port.to_string());
    }
    // Spans go to the emulator's collector (the trace tree) unless the function names its own;
    // metrics have no collector, so they leave as on Lambda without one: EMF lines in the log.
    if !environment.contains_key("OTEL_EXPORTER_OTLP_ENDPOINT")
        && !environment.contains_key("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    {
        environment.insert("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_owned(), format!("{}/v1/traces", telemetry.otlp));
    }
    // Each environment's X-Ray daemon is the emulator's receiver, which shows what arrives in
    // the trace tree and relays it to this process's own `AWS_XRAY_DAEMON_ADDRESS`.
    environment.entry("AWS_XRAY_DAEMON_ADDRESS".to_owned()).or_insert_with(|| telemetry.xray.clone());
    let mut spec = FunctionSpec::new(&function.logical_id, &function.runtime, bootstrap, code_dir);
    spec.handler = handler.unwrap_or_else(|| "bootstrap".to_owned());
    spec.bootstrap_args = bootstrap_args;
    spec.memory_mb = function.memory_mb;
    spec.timeout = function.timeout;
    spec.layer_dirs = layer_dirs;
    spec.environment = environment;
    spec.region.clone_from(&options.region);
    spec.freeze = options.freeze;
    spec.credentials.clone_from(&options.credentials);
    spec.log_format.clone_from(&function.logging.log_format);
    spec.log_level.clone_from(&function.logging.application_log_level);
    spec.log_group.clone_from(&function.logging.log_group);
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> TelemetryTargets {
        TelemetryTargets { otlp: "http://127.0.0.1:4318".to_owned(), xray: "127.0.0.1:2000".to_owned() }
    }

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
        {
            use std::os::unix::fs::PermissionsExt as _;
            let executable = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(code.join("bootstrap"), executable).expect("chmod");
        }
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
                build_properties: serde_json::Value::Null,
                http_events: Vec::new(),
                function_url: None,
                function_name: None,
                logging: crate::template::LoggingConfig::default(),
                inline_code: None,
                stack_path: None,
                invoke: crate::template::InvokeSettings::default(),
            };
            let template = Template {
                path: app.join("template.yaml"),
                functions: vec![function.clone()],
                layers: vec![layer],
                apis: Vec::new(),
                warnings: Vec::new(),
                unavailable: Vec::new(),
            };
            let error =
                function_spec(&template, &function, &SpecOptions::default(), &targets()).expect_err(id).to_string();
            assert!(error.contains("not a CloudFormation logical id"), "{id:?}: {error}");
            assert_eq!(std::fs::read_to_string(victim.join("keep.txt")).ok().as_deref(), Some("canary"), "{id:?}");
            assert!(!victim.join("planted").exists(), "{id:?}: the layer was extracted outside the build root");
            assert!(!scratch.join("planted").exists() && !app.join("planted").exists(), "{id:?}");
        }
        let _ = std::fs::remove_dir_all(&scratch);
    }

    /// A scratch application folder with a template, removed on drop.
    struct App(PathBuf);

    impl App {
        fn new(name: &str, template: &str) -> App {
            let dir = std::env::temp_dir().join(format!("intercept-sam-functions-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch");
            std::fs::write(dir.join("template.yaml"), template).expect("template");
            App(dir)
        }

        fn write(&self, path: &str, content: &str, mode: u32) {
            use std::os::unix::fs::PermissionsExt as _;
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
            std::fs::write(&path, content).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }

        fn spec(&self) -> Result<FunctionSpec, String> {
            let template = Template::load(&self.0.join("template.yaml"), &crate::template::LoadOptions::default())
                .map_err(|e| e.to_string())?;
            let function = template.function(None)?;
            function_spec(&template, function, &SpecOptions::default(), &targets()).map_err(|e| e.0)
        }
    }

    impl Drop for App {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// SAM's `BuildMethod: makefile` for a function and its layer, as `sam build` runs it.
    const MAKEFILE_TEMPLATE: &str = "Resources:\n  Shared:\n    Type: AWS::Serverless::LayerVersion\n    \
        Properties:\n      ContentUri: lay\n    Metadata:\n      BuildMethod: makefile\n  \
        Hello:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: makefile\n    \
        Properties:\n      CodeUri: fn\n      Runtime: provided.al2023\n      Handler: bootstrap\n      \
        Layers: [!Ref Shared]\n";

    #[test]
    fn makefile_builds_run_from_their_artifacts_in_the_build_root() {
        let app = App::new("makefile", MAKEFILE_TEMPLATE);
        app.write(
            "fn/Makefile",
            "build-Hello:\n\tprintf '#!/bin/sh\\necho built\\n' > \"$(ARTIFACTS_DIR)/bootstrap\"\n\tchmod +x \"$(ARTIFACTS_DIR)/bootstrap\"\n",
            0o644,
        );
        app.write(
            "lay/Makefile",
            "build-Shared:\n\tmkdir -p \"$(ARTIFACTS_DIR)/extensions\"\n\ttouch \"$(ARTIFACTS_DIR)/extensions/ext\"\n",
            0o644,
        );
        let spec = app.spec().expect("builds");
        let root = app.0.canonicalize().expect("canonical").join(".aws-sam/intercept");
        assert_eq!(spec.code_dir, root.join("Hello"), "/var/task is what the Makefile built");
        assert_eq!(spec.bootstrap, root.join("Hello/bootstrap"));
        assert_eq!(spec.layer_dirs, [root.join("Shared")]);
        assert!(root.join("Shared/extensions/ext").is_file());
        assert!(!app.0.join("fn/bootstrap").exists(), "nothing is written beside the source");
    }

    #[test]
    fn makefile_problems_name_the_resource_and_what_is_wrong() {
        let app = App::new("makefile-errors", MAKEFILE_TEMPLATE);
        app.write("fn/Makefile", "build-Hello:\n\tcp /bin/true \"$(ARTIFACTS_DIR)/bootstrap\"\n", 0o644);
        app.write("lay/Makefile", "build-Other:\n\ttouch \"$(ARTIFACTS_DIR)/x\"\n", 0o644);
        let error = app.spec().expect_err("the layer's target is missing");
        assert!(error.starts_with("layer Shared: building Shared: "), "{error}");
        assert!(error.contains("lay/Makefile has no target `build-Shared`"), "{error}");

        let app = App::new("makefile-no-bootstrap", MAKEFILE_TEMPLATE);
        app.write("fn/Makefile", "build-Hello:\n\ttouch \"$(ARTIFACTS_DIR)/not-a-bootstrap\"\n", 0o644);
        app.write("lay/Makefile", "build-Shared:\n\ttouch \"$(ARTIFACTS_DIR)/x\"\n", 0o644);
        let error = app.spec().expect_err("no bootstrap built");
        assert!(error.contains("Resources.Hello: its Makefile's build-Hello target wrote no bootstrap"), "{error}");
    }

    /// What `sam build` writes: Metadata kept (BuildMethod and SamResourceId), CodeUri and
    /// ContentUri pointing at artifact folders, no Cargo.toml in sight.
    const BUILT_TEMPLATE: &str = "Resources:\n  Shared:\n    Type: AWS::Serverless::LayerVersion\n    \
        Properties:\n      ContentUri: Shared\n    Metadata:\n      BuildMethod: makefile\n      SamResourceId: Shared\n  \
        Hello:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildMethod: rust-cargolambda\n      \
        SamResourceId: Hello\n    Properties:\n      CodeUri: Hello\n      Runtime: provided.al2023\n      \
        Handler: bootstrap\n      Layers: [!Ref Shared]\n";

    #[test]
    fn artifact_folders_of_a_sam_built_template_run_as_they_are() {
        let app = App::new("built", BUILT_TEMPLATE);
        app.write("Hello/bootstrap", "#!/bin/sh\n", 0o755);
        app.write("Shared/extensions/ext", "#!/bin/sh\n", 0o755);
        let spec = app.spec().expect("runs the artifacts");
        let dir = app.0.canonicalize().expect("canonical");
        assert_eq!((spec.code_dir.clone(), spec.bootstrap.clone()), (dir.join("Hello"), dir.join("Hello/bootstrap")));
        assert_eq!(spec.layer_dirs, [dir.join("Shared")]);
        assert!(!dir.join(".aws-sam").exists(), "nothing was built");
    }

    #[test]
    fn an_artifact_folder_without_an_executable_bootstrap_is_named() {
        let app = App::new("built-no-bootstrap", BUILT_TEMPLATE);
        app.write("Hello/README", "no bootstrap here", 0o644);
        app.write("Shared/extensions/ext", "#!/bin/sh\n", 0o755);
        let error = app.spec().expect_err("no bootstrap");
        let folder = app.0.canonicalize().expect("canonical").join("Hello");
        assert!(
            error.contains(&format!("Resources.Hello: {} has no bootstrap executable", folder.display())),
            "{error}"
        );

        app.write("Hello/bootstrap", "#!/bin/sh\n", 0o644);
        let error = app.spec().expect_err("not executable");
        assert!(error.contains(&format!("{} is not executable", folder.join("bootstrap").display())), "{error}");
    }
}
