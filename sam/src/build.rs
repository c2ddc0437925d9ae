//! Builds functions and layers from source with cargo, as SAM's `rust-cargolambda` does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::template::BuildSpec;

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
