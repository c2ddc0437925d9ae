//! Builds a function or layer with its Makefile, as SAM's `BuildMethod: makefile` does.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::BuildError;

/// Runs `make --makefile <source_dir>/Makefile build-<logical_id>` with `ARTIFACTS_DIR` set to
/// `artifacts_dir`, as `sam build` does, and returns `artifacts_dir`. The folder is emptied first
/// (`sam build` gives every build a fresh one, so a file the Makefile stopped writing must not
/// linger). Make runs in `source_dir`, as `sam build --build-in-source` runs it; its output goes
/// to stderr, which is where `local invoke` prints everything but the response.
///
/// # Errors
/// [`BuildError`] naming what is missing (the Makefile, its `build-<LogicalId>` target, make
/// itself), make's failure, or a target that wrote nothing.
pub(crate) fn build_with_make(
    logical_id: &str,
    source_dir: &Path,
    artifacts_dir: &Path,
) -> Result<PathBuf, BuildError> {
    let error = |problem: String| BuildError { what: logical_id.to_owned(), problem };
    let makefile = source_dir.join("Makefile");
    if !makefile.is_file() {
        return Err(error(format!("{} does not exist, which BuildMethod makefile needs", makefile.display())));
    }
    let target = format!("build-{logical_id}");
    if artifacts_dir.exists() {
        std::fs::remove_dir_all(artifacts_dir)
            .map_err(|e| error(format!("cannot empty ARTIFACTS_DIR {}: {e}", artifacts_dir.display())))?;
    }
    std::fs::create_dir_all(artifacts_dir)
        .map_err(|e| error(format!("cannot create ARTIFACTS_DIR {}: {e}", artifacts_dir.display())))?;
    let mut child = Command::new("make")
        .arg("--makefile")
        .arg(&makefile)
        .arg(&target)
        .env("ARTIFACTS_DIR", artifacts_dir)
        // The build is for this machine's emulator: a layer may then use this machine's glibc
        // (intercept-layer's fallback when cargo-zigbuild is missing).
        .env("INTERCEPT_SAM_LOCAL_BUILD", "1")
        .current_dir(source_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| error(format!("cannot run make ({e}); BuildMethod makefile needs GNU make on the PATH")))?;
    // Make's complaints are echoed as they come and kept, to tell a missing target from a failing one.
    let mut missing_target = false;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            missing_target |= line.contains("No rule to make target") && line.contains(&target);
        }
    }
    let status = child.wait().map_err(|e| error(format!("waiting for make: {e}")))?;
    if missing_target {
        return Err(error(format!(
            "{} has no target `{target}` (BuildMethod makefile runs build-<LogicalId>)",
            makefile.display()
        )));
    }
    if !status.success() {
        return Err(error(format!("`make --makefile {} {target}` failed ({status})", makefile.display())));
    }
    let wrote_something = std::fs::read_dir(artifacts_dir).is_ok_and(|mut entries| entries.next().is_some());
    if !wrote_something {
        return Err(error(format!(
            "`make {target}` succeeded but wrote nothing into ARTIFACTS_DIR ({})",
            artifacts_dir.display()
        )));
    }
    Ok(artifacts_dir.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str, makefile: Option<&str>) -> Scratch {
            let dir = std::env::temp_dir().join(format!("intercept-sam-make-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("src")).expect("scratch");
            if let Some(makefile) = makefile {
                std::fs::write(dir.join("src/Makefile"), makefile).expect("Makefile");
            }
            Scratch(dir)
        }

        fn build(&self, logical_id: &str) -> Result<PathBuf, String> {
            build_with_make(logical_id, &self.0.join("src"), &self.0.join("out")).map_err(|e| e.to_string())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn runs_the_logical_ids_target_in_the_source_with_artifacts_dir_set() {
        let scratch = Scratch::new(
            "runs",
            Some(
                "build-Hello:\n\tprintf '#!/bin/sh\\n' > \"$(ARTIFACTS_DIR)/bootstrap\"\n\tpwd > \"$(ARTIFACTS_DIR)/ran-in\"\n\
                 build-Other:\n\ttouch \"$(ARTIFACTS_DIR)/other\"\n",
            ),
        );
        let stale = scratch.0.join("out/stale");
        std::fs::create_dir_all(scratch.0.join("out")).expect("out");
        std::fs::write(&stale, "from an earlier build").expect("stale");
        let out = scratch.build("Hello").expect("builds");
        assert_eq!(out, scratch.0.join("out"));
        assert!(out.join("bootstrap").is_file());
        assert!(!out.join("other").exists(), "only build-Hello ran");
        assert!(!stale.exists(), "ARTIFACTS_DIR starts empty, as in sam build");
        let ran_in = std::fs::read_to_string(out.join("ran-in")).expect("pwd written");
        assert_eq!(Path::new(ran_in.trim()), scratch.0.join("src").canonicalize().expect("canonical"));
    }

    #[test]
    fn a_missing_makefile_is_named() {
        let scratch = Scratch::new("no-makefile", None);
        let error = scratch.build("Hello").expect_err("no Makefile");
        assert!(error.starts_with("building Hello: "), "{error}");
        assert!(error.contains(&format!("{} does not exist", scratch.0.join("src/Makefile").display())), "{error}");
    }

    #[test]
    fn a_missing_target_is_named() {
        let scratch = Scratch::new("no-target", Some("build-Other:\n\ttouch \"$(ARTIFACTS_DIR)/x\"\n"));
        let error = scratch.build("Hello").expect_err("no build-Hello");
        assert!(error.contains("has no target `build-Hello`"), "{error}");
    }

    #[test]
    fn a_failing_recipe_is_reported_as_make_failing() {
        let scratch = Scratch::new("fails", Some("build-Hello:\n\ttouch \"$(ARTIFACTS_DIR)/x\"\n\texit 3\n"));
        let error = scratch.build("Hello").expect_err("the recipe fails");
        assert!(error.contains("build-Hello` failed"), "{error}");
        assert!(!error.contains("has no target"), "{error}");
    }

    #[test]
    fn a_target_that_writes_nothing_is_an_error() {
        let scratch = Scratch::new("writes-nothing", Some("build-Hello:\n\t@true\n"));
        let error = scratch.build("Hello").expect_err("nothing built");
        assert!(error.contains("wrote nothing into ARTIFACTS_DIR"), "{error}");
    }
}
