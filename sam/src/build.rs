//! Builds functions and layers from source as `sam build` does: with cargo (`rust-cargolambda`),
//! their Makefile (`makefile`), pip (Python), npm (Node.js) or esbuild (`esbuild`).

mod deps;
mod make;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::template::BuildSpec;

pub(crate) use deps::{
    NODE_EXCLUDES, PYTHON_EXCLUDES, build_unless_fresh, esbuild_build, esbuild_handler, esbuild_properties,
    fingerprint, npm_build, pip_install,
};
pub(crate) use make::build_with_make;

/// A build failed; says what was being built and why.
#[derive(Debug, thiserror::Error)]
#[error("building {what}: {problem}")]
pub struct BuildError {
    what: String,
    problem: String,
}

/// Which cargo profile builds use (`release` as SAM does, or another for quicker local loops).
#[derive(Debug, Clone)]
pub struct CargoProfile(pub String);

impl Default for CargoProfile {
    fn default() -> Self {
        CargoProfile("release".to_owned())
    }
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

/// Builds the Rust package at `code_uri` and returns the executable for `spec`: the binary
/// named in `BuildProperties.Binary`, or the package's only binary. Cargo rebuilds only what
/// changed.
///
/// # Errors
/// [`BuildError`] when cargo fails or the binary cannot be chosen.
pub fn build_rust(
    what: &str,
    code_uri: &Path,
    spec: &BuildSpec,
    profile: &CargoProfile,
) -> Result<PathBuf, BuildError> {
    build_rust_cached(what, code_uri, spec, profile, None)
}

/// Like [`build_rust`], but remembers the executable in `cache_dir` and skips cargo entirely
/// when the executable is newer than every source file cargo recorded for it (its `.d` file),
/// the package manifest and the lock file: an unchanged function starts in milliseconds.
///
/// # Errors
/// [`BuildError`] when cargo fails or the binary cannot be chosen.
pub fn build_rust_cached(
    what: &str,
    code_uri: &Path,
    spec: &BuildSpec,
    profile: &CargoProfile,
    cache_dir: Option<&Path>,
) -> Result<PathBuf, BuildError> {
    let key = format!("{}|{}|{}", code_uri.display(), spec.binary.as_deref().unwrap_or(""), profile.0);
    let cache_file = cache_dir.map(|dir| dir.join("builds.json"));
    let mut cache: std::collections::BTreeMap<String, PathBuf> = cache_file
        .as_ref()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    if let Some(executable) = cache.get(&key)
        && is_fresh(executable, code_uri)
    {
        return Ok(executable.clone());
    }
    let executable = cargo_build(what, code_uri, spec, profile)?;
    if let Some(file) = cache_file {
        cache.insert(key, executable.clone());
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(bytes) = serde_json::to_vec_pretty(&cache) {
            let _ = std::fs::write(file, bytes);
        }
    }
    Ok(executable)
}

pub(crate) fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Whether `executable` is newer than everything cargo would rebuild it for.
pub(crate) fn is_fresh(executable: &Path, code_uri: &Path) -> bool {
    let Some(built) = modified(executable) else { return false };
    let Ok(dep_info) = std::fs::read_to_string(executable.with_extension("d")) else { return false };
    let Some((_, sources)) = dep_info.split_once(": ") else { return false };
    // Paths are space separated, with spaces inside a path escaped as `\ `.
    let sources = sources.replace("\\ ", "\u{0}");
    let mut inputs: Vec<PathBuf> = sources.split_whitespace().map(|p| PathBuf::from(p.replace('\u{0}', " "))).collect();
    inputs.push(code_uri.join("Cargo.toml"));
    if let Some(lock) = code_uri.ancestors().map(|dir| dir.join("Cargo.lock")).find(|lock| lock.is_file()) {
        inputs.push(lock);
    }
    inputs.iter().all(|input| modified(input).is_some_and(|changed| changed <= built))
}

fn cargo_build(what: &str, code_uri: &Path, spec: &BuildSpec, profile: &CargoProfile) -> Result<PathBuf, BuildError> {
    let error = |problem: String| BuildError { what: what.to_owned(), problem };
    let manifest = code_uri.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(error(format!(
            "{} has no Cargo.toml, which BuildMethod rust-cargolambda needs",
            code_uri.display()
        )));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(["build", "--message-format=json-render-diagnostics", "--manifest-path"]).arg(&manifest);
    match profile.0.as_str() {
        "release" => command.arg("--release"),
        "dev" | "debug" => &mut command,
        other => command.args(["--profile", other]),
    };
    if let Some(binary) = &spec.binary {
        command.args(["--bin", binary]);
    }
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| error(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(error(format!("cargo build failed ({})", output.status)));
    }
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let binaries: Vec<(String, PathBuf)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Message>(line).ok())
        .filter(|m| m.reason == "compiler-artifact" && m.manifest_path.as_deref() == Some(manifest.as_path()))
        .filter_map(|m| {
            let target = m.target?;
            target.kind.iter().any(|k| k == "bin").then_some((target.name, m.executable?))
        })
        .collect();
    match (&spec.binary, binaries.as_slice()) {
        (Some(name), _) => binaries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, path)| path.clone())
            .ok_or_else(|| error(format!("the package has no binary named `{name}` (BuildProperties.Binary)"))),
        (None, [(_, only)]) => Ok(only.clone()),
        (None, []) => Err(error("the package has no binary target".to_owned())),
        (None, several) => Err(error(format!(
            "the package has several binaries ({}); choose one with Metadata.BuildProperties.Binary",
            several.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}
