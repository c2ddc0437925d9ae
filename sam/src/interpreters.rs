//! Which installed interpreter runs a managed runtime: the one the function's `Runtime` names
//! where it is installed (`python3.12` for `python3.12`), else the nearest one with a warning
//! that names the mismatch.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// What an interpreter said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    /// Its absolute path (`sys.executable`; shims such as pyenv's resolve to the real one).
    executable: PathBuf,
    /// `3.12`, or Node's major version (`20`).
    version: String,
    /// Whether Lambda's runtime client for it is installed (Python's `awslambdaric`).
    has_runtime_client: bool,
}

/// Asks `program` (found on `path`) for its path and version, once per process.
fn probe(program: &OsStr, path: &OsStr, args: &[&str]) -> Option<Probe> {
    /// (program, `PATH`) → what it said.
    type Probed = Vec<((OsString, OsString), Option<Probe>)>;
    static PROBED: Mutex<Probed> = Mutex::new(Vec::new());
    let key = (program.to_owned(), path.to_owned());
    let mut probed = PROBED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, known)) = probed.iter().find(|(k, _)| *k == key) {
        return known.clone();
    }
    let output = Command::new(program).args(args).env("PATH", path).output().ok();
    let probe = output.and_then(|output| {
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut lines = text.lines();
        let executable = PathBuf::from(lines.next()?.trim());
        let version = lines.next()?.trim().to_owned();
        (executable.is_absolute() && !version.is_empty()).then(|| Probe {
            executable,
            version,
            has_runtime_client: output.status.success(),
        })
    });
    probed.push((key, probe.clone()));
    probe
}

const PYTHON_PROBE: &[&str] =
    &["-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2]); import awslambdaric"];

/// The Python interpreter for `runtime` (`python3.12`): `chosen` (`INTERCEPT_SAM_PYTHON`) when
/// set, else `python3.12` from `path` when it has `awslambdaric`, else `python3`. Returns its
/// absolute path and, when its version is not the runtime's, a warning saying so.
///
/// # Errors
/// What to install when no interpreter with `awslambdaric` can be found.
pub(crate) fn python(runtime: &str, chosen: Option<&str>, path: &OsStr) -> Result<(PathBuf, Option<String>), String> {
    let wanted = runtime.strip_prefix("python").unwrap_or(runtime);
    let mismatch = |probe: &Probe, how: &str| {
        (probe.version != wanted).then(|| {
            format!(
                "Runtime {runtime} runs on {} (Python {}, {how}): behaviour may differ from Lambda's {runtime}",
                probe.executable.display(),
                probe.version
            )
        })
    };
    let missing_client = |name: &str| {
        format!(
            "{name} has no awslambdaric (Lambda's Python runtime client): install it with `{name} -m pip install awslambdaric`"
        )
    };
    if let Some(chosen) = chosen {
        let probe = probe(OsStr::new(chosen), path, PYTHON_PROBE)
            .ok_or_else(|| format!("INTERCEPT_SAM_PYTHON={chosen} does not run as a Python interpreter"))?;
        if !probe.has_runtime_client {
            return Err(missing_client(chosen));
        }
        let warning = mismatch(&probe, "INTERCEPT_SAM_PYTHON");
        return Ok((probe.executable, warning));
    }
    let exact = format!("python{wanted}");
    let exact_probe = probe(OsStr::new(&exact), path, PYTHON_PROBE);
    if let Some(probe) = exact_probe.as_ref().filter(|p| p.has_runtime_client && p.version == wanted) {
        return Ok((probe.executable.clone(), None));
    }
    match probe(OsStr::new("python3"), path, PYTHON_PROBE) {
        Some(probe) if probe.has_runtime_client => {
            let how = if exact_probe.is_some() {
                format!("{exact} is installed but has no awslambdaric")
            } else {
                format!("no {exact} on PATH")
            };
            let warning = mismatch(&probe, &how);
            Ok((probe.executable, warning))
        }
        _ if exact_probe.is_some() => Err(missing_client(&exact)),
        Some(_) => {
            Err(format!("{}; or set INTERCEPT_SAM_PYTHON to an interpreter that has it", missing_client("python3")))
        }
        None => Err(format!(
            "no {exact} or python3 on PATH: install Python {wanted} and awslambdaric, or set INTERCEPT_SAM_PYTHON"
        )),
    }
}

/// Node for `runtime` (`nodejs20.x`): `chosen` (`INTERCEPT_SAM_NODE`) or `node` from `path`,
/// as an absolute path, with a warning when its major version is not the runtime's.
///
/// # Errors
/// When it cannot be run.
pub(crate) fn node(runtime: &str, chosen: Option<&str>, path: &OsStr) -> Result<(PathBuf, Option<String>), String> {
    let wanted = runtime.strip_prefix("nodejs").unwrap_or(runtime).trim_end_matches(".x");
    let program = chosen.unwrap_or("node");
    let script = "console.log(process.execPath); console.log(process.versions.node.split('.')[0])";
    let probe = probe(OsStr::new(program), path, &["-e", script])
        .ok_or_else(|| format!("{program} does not run: install Node.js {wanted}, or set INTERCEPT_SAM_NODE"))?;
    let warning = (probe.version != wanted).then(|| {
        format!(
            "Runtime {runtime} runs on {} (Node.js {}): behaviour may differ from Lambda's {runtime}",
            probe.executable.display(),
            probe.version
        )
    });
    Ok((probe.executable, warning))
}

/// Prints each warning once per process (several functions may share a runtime).
pub(crate) fn warn_once(warning: &str) {
    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !said.iter().any(|w| w == warning) {
        said.push(warning.to_owned());
        eprintln!("intercept-sam: warning: {warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fake interpreters: each prints its path and version as the probe asks, and exits 0
    /// (awslambdaric importable) or 1.
    fn bin(name: &str, interpreters: &[(&str, &str, bool)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("intercept-sam-interpreters-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch");
        for (file, version, has_client) in interpreters {
            let path = dir.join(file);
            let status = if *has_client { 0 } else { 1 };
            std::fs::write(&path, format!("#!/bin/sh\necho \"$0\"\necho {version}\nexit {status}\n")).expect("fake");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        }
        dir
    }

    #[test]
    fn the_interpreter_the_runtime_names_is_used_when_installed() {
        let dir = bin("exact", &[("python3.12", "3.12", true), ("python3", "3.11", true)]);
        let (chosen_python, warning) = super::python("python3.12", None, dir.as_os_str()).expect("found");
        assert_eq!((chosen_python, warning), (dir.join("python3.12"), None));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_mismatch_is_named() {
        let dir = bin("mismatch", &[("python3", "3.11", true)]);
        let (chosen_python, warning) = super::python("python3.12", None, dir.as_os_str()).expect("falls back");
        assert_eq!(chosen_python, dir.join("python3"));
        let warning = warning.expect("a warning");
        assert!(
            warning.starts_with("Runtime python3.12 runs on ")
                && warning.contains("(Python 3.11, no python3.12 on PATH)"),
            "{warning}"
        );

        let dir = bin("no-client", &[("python3.12", "3.12", false), ("python3", "3.11", true)]);
        let (_, warning) = python("python3.12", None, dir.as_os_str()).expect("falls back");
        assert!(warning.expect("a warning").contains("python3.12 is installed but has no awslambdaric"));

        let override_dir = bin("override", &[("custom-python", "3.11", true)]);
        let chosen = override_dir.join("custom-python");
        let (chosen_python, warning) =
            super::python("python3.12", chosen.to_str(), dir.as_os_str()).expect("INTERCEPT_SAM_PYTHON wins");
        assert_eq!(chosen_python, chosen);
        assert!(warning.expect("a warning").contains("(Python 3.11, INTERCEPT_SAM_PYTHON)"));
        let _ = [dir, override_dir].map(std::fs::remove_dir_all);
    }

    #[test]
    fn without_awslambdaric_the_error_says_what_to_install() {
        let dir = bin("none", &[("python3.13", "3.13", false)]);
        let error = super::python("python3.13", None, dir.as_os_str()).expect_err("no client");
        assert!(error.contains("python3.13 -m pip install awslambdaric"), "{error}");
        let empty = bin("empty", &[]);
        let error = super::python("python3.12", None, empty.as_os_str()).expect_err("nothing");
        assert!(error.starts_with("no python3.12 or python3 on PATH"), "{error}");
        let _ = [dir, empty].map(std::fs::remove_dir_all);
    }
}
