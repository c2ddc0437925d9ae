//! Builds Python and Node.js functions and layers as `sam build`'s workflows from
//! aws-lambda-builders do: `python_pip` (the source copied, `requirements.txt` installed into
//! it with pip), `nodejs_npm` (the source copied, `package.json`'s production dependencies
//! installed into it with npm) and `nodejs_npm_esbuild` (dependencies installed into a scratch
//! copy, then bundled with esbuild into the artifact folder). Each build is remembered by a
//! fingerprint of its inputs and skipped when nothing changed.

use std::hash::{Hash as _, Hasher as _};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value as Json;

use super::BuildError;

/// What `python_pip` leaves out of the copy of the source (aws-lambda-builders' list).
pub(crate) const PYTHON_EXCLUDES: &[&str] = &[
    ".aws-sam",
    ".chalice",
    ".git",
    ".gitignore",
    "*.pyc",
    "__pycache__",
    "*.so",
    ".Python",
    "*.egg-info",
    "*.egg",
    "pip-log.txt",
    "pip-delete-this-directory.txt",
    "htmlcov",
    ".tox",
    ".nox",
    ".coverage",
    ".cache",
    ".pytest_cache",
    ".python-version",
    ".mypy_cache",
    ".dmypy.json",
    ".pyre",
    ".env",
    ".venv",
    "venv",
    "venv.bak",
    "env.bak",
    "ENV",
    "env",
    ".vscode",
    ".idea",
];

/// What the Node.js workflows leave out of the copy of the source (dependencies are installed
/// afresh from `package.json`).
pub(crate) const NODE_EXCLUDES: &[&str] = &[".aws-sam", ".git", "node_modules"];

fn excluded(name: &str, excludes: &[&str]) -> bool {
    excludes.iter().any(|pattern| match pattern.strip_prefix('*') {
        Some(suffix) => name.ends_with(suffix),
        None => name == *pattern,
    })
}

/// A fingerprint of everything a build reads: every file of `source` not excluded (its path,
/// size and modification time) and `extra` (the interpreter, the build properties...).
pub(crate) fn fingerprint(source: &Path, excludes: &[&str], extra: &[&str]) -> String {
    fn walk(dir: &Path, excludes: &[&str], out: &mut Vec<(PathBuf, u64, u128)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if excluded(&name.to_string_lossy(), excludes) {
                continue;
            }
            let path = entry.path();
            let Ok(metadata) = std::fs::metadata(&path) else { continue };
            if metadata.is_dir() {
                walk(&path, excludes, out);
            } else {
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                out.push((path, metadata.len(), modified));
            }
        }
    }
    let mut files = Vec::new();
    walk(source, excludes, &mut files);
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    files.hash(&mut hasher);
    extra.hash(&mut hasher);
    format!("{:016x} {} files", hasher.finish(), files.len())
}

/// Runs `build` into `artifacts_dir` unless the stamp beside it says the same inputs
/// (`fingerprint`) built what is there. The folder is emptied first, as `sam build` gives every
/// build a fresh one. Returns whether it built.
///
/// # Errors
/// What `build` returns, or a folder that cannot be emptied or created.
pub(crate) fn build_unless_fresh(
    what: &str,
    artifacts_dir: &Path,
    fingerprint: &str,
    build: impl FnOnce(&Path) -> Result<(), BuildError>,
) -> Result<bool, BuildError> {
    let error = |problem: String| BuildError { what: what.to_owned(), problem };
    let stamp = artifacts_dir.with_extension("built");
    if artifacts_dir.is_dir() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == fingerprint) {
        return Ok(false);
    }
    let _ = std::fs::remove_file(&stamp);
    if artifacts_dir.exists() {
        std::fs::remove_dir_all(artifacts_dir)
            .map_err(|e| error(format!("cannot empty {}: {e}", artifacts_dir.display())))?;
    }
    std::fs::create_dir_all(artifacts_dir)
        .map_err(|e| error(format!("cannot create {}: {e}", artifacts_dir.display())))?;
    build(artifacts_dir)?;
    std::fs::write(&stamp, fingerprint).map_err(|e| error(format!("cannot write {}: {e}", stamp.display())))?;
    Ok(true)
}

/// Copies `source` into `dest` (created), leaving out what `excludes` names.
pub(crate) fn copy_source(what: &str, source: &Path, dest: &Path, excludes: &[&str]) -> Result<(), BuildError> {
    fn copy(source: &Path, dest: &Path, excludes: &[&str]) -> std::io::Result<()> {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            let name = entry.file_name();
            if excluded(&name.to_string_lossy(), excludes) {
                continue;
            }
            let (from, to) = (entry.path(), dest.join(&name));
            if std::fs::metadata(&from)?.is_dir() {
                copy(&from, &to, excludes)?;
            } else {
                std::fs::copy(&from, &to)?;
            }
        }
        Ok(())
    }
    copy(source, dest, excludes).map_err(|e| BuildError {
        what: what.to_owned(),
        problem: format!("cannot copy {} into {}: {e}", source.display(), dest.display()),
    })
}

/// Runs a build step with its output on stderr (where `local invoke` prints all but the
/// response); a failure names the command and, when it printed nothing, how it ended.
fn run(what: &str, command: &mut Command) -> Result<(), BuildError> {
    let shown = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let error = |problem: String| BuildError { what: what.to_owned(), problem };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| error(format!("cannot run `{shown}`: {e}")))?;
    let mut last_lines: Vec<String> = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            last_lines.push(line);
            if last_lines.len() > 5 {
                last_lines.remove(0);
            }
        }
    }
    let status = child.wait().map_err(|e| error(format!("waiting for `{shown}`: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let said = last_lines.iter().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim()));
    Err(error(format!("`{shown}` failed ({status}){}", said.unwrap_or_default())))
}

/// `python_pip`: the source copied into `dest` and its `requirements.txt` installed there with
/// `python -m pip install -r requirements.txt -t dest` (pip runs in the source folder, so paths
/// in the requirements resolve as they do for `sam build`).
///
/// # Errors
/// [`BuildError`] naming pip's command when it fails.
pub(crate) fn pip_install(what: &str, source: &Path, dest: &Path, python: &Path) -> Result<(), BuildError> {
    copy_source(what, source, dest, PYTHON_EXCLUDES)?;
    let requirements = source.join("requirements.txt");
    if !requirements.is_file() {
        return Ok(());
    }
    run(
        what,
        Command::new(python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet", "-r"])
            .arg(&requirements)
            .arg("-t")
            .arg(dest)
            .current_dir(source),
    )
}

/// The command line `npm` is run with (`INTERCEPT_SAM_NPM` overrides it, for another npm).
fn npm() -> Command {
    Command::new(std::env::var_os("INTERCEPT_SAM_NPM").unwrap_or_else(|| "npm".into()))
}

/// Installs `package.json`'s production dependencies in `dir`, as `nodejs_npm` does.
fn npm_install(what: &str, dir: &Path) -> Result<(), BuildError> {
    if !dir.join("package.json").is_file() {
        return Ok(());
    }
    run(
        what,
        npm()
            .args(["install", "-q", "--no-audit", "--no-fund", "--no-save", "--unsafe-perm", "--omit=dev"])
            .current_dir(dir),
    )
}

/// `nodejs_npm`: the source copied into `dest` (without `node_modules`) and `package.json`'s
/// production dependencies installed there.
///
/// # Errors
/// [`BuildError`] naming npm's command when it fails.
pub(crate) fn npm_build(what: &str, source: &Path, dest: &Path) -> Result<(), BuildError> {
    copy_source(what, source, dest, NODE_EXCLUDES)?;
    npm_install(what, dest)
}

/// The arguments `nodejs_npm_esbuild` gives esbuild for these `BuildProperties` (already
/// snake_case, as SAM CLI hands them to aws-lambda-builders), `scratch` being the folder esbuild
/// runs in and `outdir` where it writes.
///
/// # Errors
/// A message naming the property or entry point at fault.
pub(crate) fn esbuild_args(
    properties: &serde_json::Map<String, Json>,
    scratch: &Path,
    outdir: &Path,
) -> Result<Vec<String>, String> {
    let mut config = properties.clone();
    let entry_points = match config.get("entry_points") {
        Some(Json::Array(points)) if !points.is_empty() => points.clone(),
        Some(Json::Array(_)) => return Err("EntryPoints must not be empty".to_owned()),
        Some(_) => return Err("EntryPoints must be a list".to_owned()),
        None => return Err("EntryPoints is not set and the function has no Handler to take it from".to_owned()),
    };
    let mut args = Vec::new();
    for entry in &entry_points {
        let Json::String(entry) = entry else {
            return Err(format!("EntryPoints: `{entry}` is not a path"));
        };
        let path = scratch.join(entry);
        let found = if Path::new(entry).extension().is_some() {
            path.is_file().then(|| entry.clone())
        } else {
            [".ts", ".js"].iter().map(|ext| format!("{entry}{ext}")).find(|e| scratch.join(e).is_file())
        };
        args.push(found.ok_or_else(|| format!("entry point {} does not exist", path.display()))?);
    }
    args.extend(["--bundle".to_owned(), "--platform=node".to_owned(), format!("--outdir={}", outdir.display())]);
    for (key, default) in [("target", "--target=es2020"), ("format", "--format=cjs"), ("minify", "--minify")] {
        if !config.contains_key(key) {
            args.push(default.to_owned());
        }
    }
    // `External: ["./node_modules/*"]` marks every dependency of package.json external instead.
    let all_external = config
        .get("external")
        .and_then(Json::as_array)
        .is_some_and(|list| list.iter().any(|e| e.as_str() == Some("./node_modules/*")));
    if all_external {
        config.remove("external");
        let manifest = std::fs::read(scratch.join("package.json")).ok();
        let package: Json = manifest.and_then(|m| serde_json::from_slice(&m).ok()).unwrap_or_default();
        if let Some(dependencies) = package["dependencies"].as_object() {
            args.extend(dependencies.keys().map(|dependency| format!("--external:{dependency}")));
        }
    }
    for (key, value) in &config {
        if ["bundle", "platform", "outdir", "use_npm_ci", "entry_points"].contains(&key.as_str()) {
            continue;
        }
        let flag = key.replace('_', "-");
        match value {
            Json::Bool(true) => args.push(format!("--{flag}")),
            Json::Bool(false) => {}
            Json::String(text) => args.push(format!("--{flag}={text}")),
            Json::Array(items) => {
                for item in items {
                    args.push(format!("--{flag}:{}", item.as_str().map_or_else(|| item.to_string(), str::to_owned)));
                }
            }
            other => return Err(format!("BuildProperties: {other} is not a boolean, a string or a list")),
        }
    }
    Ok(args)
}

/// `Metadata.BuildProperties` as SAM CLI hands them to aws-lambda-builders: PascalCase keys in
/// snake_case (`EntryPoints` → `entry_points`), and the entry point taken from the handler's
/// file when none is given.
pub(crate) fn esbuild_properties(properties: &Json, handler: Option<&str>) -> serde_json::Map<String, Json> {
    let mut normalized: serde_json::Map<String, Json> = properties
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(key, value)| {
                    let mut snake = String::new();
                    for (i, c) in key.chars().enumerate() {
                        if i > 0 && c.is_ascii_uppercase() {
                            snake.push('_');
                        }
                        snake.push(c.to_ascii_lowercase());
                    }
                    (snake, value.clone())
                })
                .collect()
        })
        .unwrap_or_default();
    if !normalized.contains_key("entry_points")
        && let Some(handler) = handler
    {
        let file = handler.split('.').next().unwrap_or(handler);
        normalized.insert("entry_points".to_owned(), Json::Array(vec![Json::String(file.to_owned())]));
    }
    normalized
}

/// Finds an executable named `name` in `dirs`, then on `PATH`.
fn find_executable(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    dirs.iter().cloned().chain(std::env::split_paths(&path)).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// `nodejs_npm_esbuild`: the source copied into `scratch` (without `node_modules`), its
/// dependencies installed there when it has a `package.json`, then esbuild (the project's own in
/// `node_modules/.bin`, else the one on `PATH`, as aws-lambda-builders looks) bundles the entry
/// points into `dest`.
///
/// # Errors
/// [`BuildError`] naming the command that failed, a missing esbuild or a bad property.
pub(crate) fn esbuild_build(
    what: &str,
    source: &Path,
    scratch: &Path,
    dest: &Path,
    properties: &serde_json::Map<String, Json>,
) -> Result<(), BuildError> {
    let error = |problem: String| BuildError { what: what.to_owned(), problem };
    if scratch.exists() {
        std::fs::remove_dir_all(scratch).map_err(|e| error(format!("cannot empty {}: {e}", scratch.display())))?;
    }
    copy_source(what, source, scratch, NODE_EXCLUDES)?;
    npm_install(what, scratch)?;
    let esbuild = find_executable("esbuild", &[scratch.join("node_modules/.bin")]).ok_or_else(|| {
        error(
            "cannot find esbuild, which BuildMethod esbuild needs: `npm install esbuild` in the project \
             (or `npm install -g esbuild`) so that node_modules/.bin or PATH has it"
                .to_owned(),
        )
    })?;
    let args = esbuild_args(properties, scratch, dest).map_err(|m| error(format!("Metadata.BuildProperties: {m}")))?;
    run(what, Command::new(esbuild).args(args).current_dir(scratch))
}

/// The handler of a function esbuild bundled, as `sam build` rewrites it: `src/handlers/app.handler`
/// becomes `app.handler` when esbuild wrote `app.js` and not `src/handlers/app.js`.
pub(crate) fn esbuild_handler(handler: &str, artifacts: &Path) -> String {
    let path = Path::new(handler);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let built = path.parent().unwrap_or(Path::new("")).join(format!("{stem}.js"));
    if artifacts.join(&built).is_file() {
        return handler.to_owned();
    }
    path.file_name().map_or_else(|| handler.to_owned(), |name| name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(json: serde_json::Value) -> serde_json::Map<String, Json> {
        esbuild_properties(&json, Some("src/app.handler"))
    }

    #[test]
    fn build_properties_become_the_esbuild_flags_aws_lambda_builders_passes() {
        let scratch = std::env::temp_dir().join(format!("intercept-sam-esbuild-args-{}", std::process::id()));
        std::fs::create_dir_all(scratch.join("src")).expect("scratch");
        std::fs::write(scratch.join("src/app.ts"), "export const handler = 1").expect("entry");
        let out = Path::new("/out");
        let cases: [(serde_json::Value, &[&str]); 2] = [
            (
                serde_json::json!({}),
                &[
                    "src/app.ts",
                    "--bundle",
                    "--platform=node",
                    "--outdir=/out",
                    "--target=es2020",
                    "--format=cjs",
                    "--minify",
                ],
            ),
            (
                serde_json::json!({
                    "Minify": false, "Target": "es2022", "Sourcemap": true, "Format": "esm",
                    "External": ["@aws-sdk/*"], "MainFields": ["module", "main"], "OutExtension": [".js=.mjs"],
                    "EntryPoints": ["src/app.ts"], "UseNpmCi": true, "Platform": "browser"
                }),
                &[
                    "src/app.ts",
                    "--bundle",
                    "--platform=node",
                    "--outdir=/out",
                    "--external:@aws-sdk/*",
                    "--format=esm",
                    "--main-fields:module",
                    "--main-fields:main",
                    "--out-extension:.js=.mjs",
                    "--sourcemap",
                    "--target=es2022",
                ],
            ),
        ];
        for (properties, expected) in cases {
            let args = esbuild_args(&props(properties.clone()), &scratch, out).expect("valid properties");
            assert_eq!(args, expected, "{properties}");
        }
        let error = esbuild_args(&props(serde_json::json!({"EntryPoints": ["src/missing"]})), &scratch, out)
            .expect_err("no such entry");
        assert!(error.contains("src/missing does not exist"), "{error}");
        let error = esbuild_args(&props(serde_json::json!({"Target": 2020})), &scratch, out).expect_err("a number");
        assert!(error.contains("2020 is not a boolean, a string or a list"), "{error}");
        let _ = std::fs::remove_dir_all(&scratch);
    }

    #[test]
    fn the_handler_is_rewritten_only_when_its_path_was_flattened() {
        let dir = std::env::temp_dir().join(format!("intercept-sam-esbuild-handler-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).expect("scratch");
        std::fs::write(dir.join("app.js"), "").expect("bundle");
        std::fs::write(dir.join("lib/other.js"), "").expect("bundle");
        assert_eq!(esbuild_handler("src/handlers/app.handler", &dir), "app.handler");
        assert_eq!(esbuild_handler("app.handler", &dir), "app.handler");
        assert_eq!(esbuild_handler("lib/other.main", &dir), "lib/other.main");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unchanged_source_is_not_built_again_and_a_changed_one_is() {
        let dir = std::env::temp_dir().join(format!("intercept-sam-deps-fresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/__pycache__")).expect("scratch");
        std::fs::write(dir.join("src/app.py"), "x = 1").expect("source");
        let out = dir.join("out");
        let print = |extra: &str| fingerprint(&dir.join("src"), PYTHON_EXCLUDES, &[extra]);
        let build = |dest: &Path| copy_source("Fn", &dir.join("src"), dest, PYTHON_EXCLUDES);
        assert!(build_unless_fresh("Fn", &out, &print("py"), build).expect("builds"));
        assert!(out.join("app.py").is_file());
        assert!(!build_unless_fresh("Fn", &out, &print("py"), build).expect("fresh"));
        std::fs::write(dir.join("src/__pycache__/app.pyc"), "ignored").expect("pyc");
        assert!(!build_unless_fresh("Fn", &out, &print("py"), build).expect("excluded files do not count"));
        assert!(build_unless_fresh("Fn", &out, &print("other python"), build).expect("another interpreter"));
        std::fs::write(dir.join("src/extra.py"), "y = 2").expect("new file");
        assert!(build_unless_fresh("Fn", &out, &print("other python"), build).expect("a new file"));
        assert!(out.join("extra.py").is_file() && !out.join("__pycache__").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
