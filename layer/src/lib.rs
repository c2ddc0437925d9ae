//! Builds the Intercept Lambda layer: the folder Lambda mounts at `/opt`, and its zip.
//!
//! The layer holds `extensions/intercept-extension` and the exec wrapper `intercept-wrapper`
//! (`AWS_LAMBDA_EXEC_WRAPPER=/opt/intercept-wrapper` puts managed runtimes behind the
//! extension's Runtime API proxy), and nothing else; the emulator mounts the same folder as `/opt`.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// A layer could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The zip could not be written.
    #[error("{path}: {source}")]
    Zip {
        /// The zip file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: zip::result::ZipError,
    },
}

/// The extension binary's name, which Lambda runs from `/opt/extensions`.
pub const EXTENSION_NAME: &str = "intercept-extension";
/// The exec wrapper's name at the layer's root (`/opt/intercept-wrapper`).
pub const WRAPPER_NAME: &str = "intercept-wrapper";
/// The exec wrapper (POSIX sh): points the runtime at the proxy when this environment's proxy
/// answers, else leaves Lambda's Runtime API and says so loudly.
pub const WRAPPER_SCRIPT: &str = include_str!("../intercept-wrapper");

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Io { path: path.to_owned(), source }
}

/// Lays out a layer folder at `dir` with each extension binary under `extensions/`,
/// executable, named after its file. Anything already in `dir/extensions` is replaced. When one
/// of them is the `intercept-extension`, the exec wrapper goes beside `extensions/` too (mode
/// 755), which is how the emulator's layers built from the extension's source get it.
///
/// # Errors
/// [`LayerError::Io`] naming the file that could not be copied.
pub fn assemble(dir: &Path, extensions: &[PathBuf]) -> Result<PathBuf, LayerError> {
    let extensions_dir = dir.join("extensions");
    if extensions_dir.exists() {
        fs::remove_dir_all(&extensions_dir).map_err(io_error(&extensions_dir))?;
    }
    fs::create_dir_all(&extensions_dir).map_err(io_error(&extensions_dir))?;
    // A wrapper left by an earlier layout would name an extension this one may not have.
    let stale_wrapper = dir.join(WRAPPER_NAME);
    if stale_wrapper.exists() {
        fs::remove_file(&stale_wrapper).map_err(io_error(&stale_wrapper))?;
    }
    for binary in extensions {
        let name = binary.file_name().ok_or_else(|| LayerError::Io {
            path: binary.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a file"),
        })?;
        let target = extensions_dir.join(name);
        fs::copy(binary, &target).map_err(io_error(binary))?;
        set_executable(&target)?;
        if name == EXTENSION_NAME {
            let wrapper = dir.join(WRAPPER_NAME);
            fs::write(&wrapper, WRAPPER_SCRIPT).map_err(io_error(&wrapper))?;
            set_executable(&wrapper)?;
        }
    }
    Ok(dir.to_owned())
}

/// The runtimes a layer declares (Lambda takes at most 15): Amazon Linux 2023 and Amazon Linux 2
/// ones alike, since the extension is built against glibc 2.26.
pub const COMPATIBLE_RUNTIMES: [&str; 14] = [
    "provided.al2023",
    "provided.al2",
    "python3.13",
    "python3.12",
    "python3.11",
    "python3.10",
    "python3.9",
    "nodejs22.x",
    "nodejs20.x",
    "nodejs18.x",
    "java21",
    "java17",
    "java11",
    "java8.al2",
];

/// The SAM resource that publishes a layer zip, for a template's `Resources`.
#[must_use]
pub fn sam_snippet(zip: &Path, architecture: &str) -> String {
    format!(
        r#"  InterceptLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: intercept
      Description: Intercept extension (Runtime API proxy, OTLP buffer and flush) and exec wrapper
      ContentUri: {zip}
      CompatibleArchitectures: [{architecture}]
      CompatibleRuntimes: [{runtimes}]
# and on each function:
#     Layers: [!Ref InterceptLayer]
#     Environment:
#       Variables:
#         AWS_LAMBDA_EXEC_WRAPPER: /opt/intercept-wrapper
"#,
        zip = zip.display(),
        runtimes = COMPATIBLE_RUNTIMES.join(", ")
    )
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<(), LayerError> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(io_error(path))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<(), LayerError> {
    Ok(())
}

/// Zips a layer folder so that its contents sit at the zip's root (Lambda extracts to `/opt`),
/// keeping the executable bit.
///
/// # Errors
/// [`LayerError`] naming the file that could not be read or the zip that could not be written.
pub fn zip_dir(dir: &Path, zip_path: &Path) -> Result<PathBuf, LayerError> {
    let file = fs::File::create(zip_path).map_err(io_error(zip_path))?;
    let mut zip = zip::ZipWriter::new(file);
    let mut entries = Vec::new();
    collect_files(dir, dir, &mut entries)?;
    entries.sort();
    let zip_err = |source| LayerError::Zip { path: zip_path.to_owned(), source };
    for (relative, path) in entries {
        let mode = file_mode(&path)?;
        let options =
            SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).unix_permissions(mode);
        zip.start_file(relative, options).map_err(zip_err)?;
        let bytes = fs::read(&path).map_err(io_error(&path))?;
        zip.write_all(&bytes).map_err(io_error(zip_path))?;
    }
    zip.finish().map_err(zip_err)?;
    Ok(zip_path.to_owned())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), LayerError> {
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push((relative, path));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Result<u32, LayerError> {
    use std::os::unix::fs::PermissionsExt as _;
    Ok(fs::metadata(path).map_err(io_error(path))?.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Result<u32, LayerError> {
    Ok(0o644)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn assembles_and_zips_with_executable_bit() {
        let scratch = std::env::temp_dir().join(format!("intercept-layer-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(&scratch).expect("scratch dir");
        let binary = scratch.join("my-extension");
        fs::write(&binary, b"#!/bin/sh\necho hi\n").expect("write");
        let dir = assemble(&scratch.join("layer"), &[binary]).expect("assemble");
        assert!(dir.join("extensions/my-extension").is_file());
        let zip_path = zip_dir(&dir, &scratch.join("layer.zip")).expect("zip");
        let mut archive = zip::ZipArchive::new(fs::File::open(zip_path).expect("open")).expect("read zip");
        let mut entry = archive.by_name("extensions/my-extension").expect("entry at the zip root");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut content = String::new();
        entry.read_to_string(&mut content).expect("read");
        assert!(content.contains("echo hi"));
        drop(entry);
        fs::remove_dir_all(&scratch).expect("cleanup");
    }

    #[test]
    fn the_intercept_extension_brings_the_exec_wrapper() {
        let scratch = std::env::temp_dir().join(format!("intercept-layer-wrapper-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(&scratch).expect("scratch dir");
        let binary = scratch.join(EXTENSION_NAME);
        fs::write(&binary, b"binary").expect("write");
        let dir = assemble(&scratch.join("layer"), &[binary]).expect("assemble");
        let zip_path = zip_dir(&dir, &scratch.join("layer.zip")).expect("zip");
        let mut archive = zip::ZipArchive::new(fs::File::open(zip_path).expect("open")).expect("read zip");
        let mut names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).expect("entry").name().expect("name").into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["extensions/intercept-extension", "intercept-wrapper"]);
        let mut wrapper = archive.by_name(WRAPPER_NAME).expect("wrapper at the zip root");
        assert_eq!(wrapper.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut content = String::new();
        wrapper.read_to_string(&mut content).expect("read");
        assert!(content.starts_with("#!/bin/sh\n") && content.contains("exec \"$@\""), "{content}");
        drop(wrapper);
        let snippet = sam_snippet(Path::new("target/intercept-layer.zip"), "x86_64");
        assert!(snippet.contains("Type: AWS::Serverless::LayerVersion"), "{snippet}");
        assert!(snippet.contains("ContentUri: target/intercept-layer.zip"), "{snippet}");
        fs::remove_dir_all(&scratch).expect("cleanup");
    }

    #[test]
    fn missing_binary_names_the_file() {
        let scratch = std::env::temp_dir().join(format!("intercept-layer-missing-{}", std::process::id()));
        let error = assemble(&scratch, &[PathBuf::from("/nonexistent/ext")]).expect_err("must fail");
        assert!(error.to_string().starts_with("/nonexistent/ext:"), "{error}");
        let _ = fs::remove_dir_all(&scratch);
    }
}

/// Lambda's quota on a function's code and its layers once extracted (`CodeSizeUnzipped`): 250 MB.
/// No layer can unzip to more, so extraction stops there.
pub const UNZIPPED_LIMIT: u64 = 250 * 1024 * 1024;

/// The most entries a layer zip may hold. Lambda publishes no such figure; this is far above
/// any real layer and stops a zip of millions of empty entries.
pub const MAX_ENTRIES: usize = 100_000;

/// How much a zip may unpack to: [`UNZIPPED_LIMIT`] and [`MAX_ENTRIES`] by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes written, counted as they are written (not as the headers claim).
    pub max_bytes: u64,
    /// The most entries the zip may hold.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_bytes: UNZIPPED_LIMIT, max_entries: MAX_ENTRIES }
    }
}

/// A zip extracted by [`unzip_within`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unzipped {
    /// The folder it was extracted into.
    pub dir: PathBuf,
    /// One line per symlink entry that was not recreated (its target is absolute or leads
    /// outside the folder), naming the entry and its target.
    pub skipped: Vec<String>,
}

/// Extracts a layer zip into `dir` (what Lambda does into `/opt`) within [`Limits::default`],
/// printing a warning for each symlink left out (see [`unzip_within`]).
///
/// # Errors
/// As [`unzip_within`].
pub fn unzip(zip_path: &Path, dir: &Path) -> Result<PathBuf, LayerError> {
    let unzipped = unzip_within(zip_path, dir, Limits::default())?;
    for skipped in &unzipped.skipped {
        eprintln!("warning: {skipped}");
    }
    Ok(unzipped.dir)
}

/// Extracts a layer zip into `dir` (what Lambda does into `/opt`), keeping executable bits and
/// the symlinks Lambda keeps (`libfoo.so -> libfoo.so.1`, `node_modules/.bin` links) when they
/// resolve inside `dir`; a symlink with an absolute target or one that leads outside `dir` is
/// left out and named in [`Unzipped::skipped`]. Entries whose names would land outside `dir`
/// are refused. Extraction stops past `limits` (bytes counted as written); on any error a `dir`
/// this call created is removed, so a retry starts clean.
///
/// # Errors
/// [`LayerError`] naming the zip or the file that could not be written, an entry outside `dir`,
/// or the limit exceeded.
pub fn unzip_within(zip_path: &Path, dir: &Path, limits: Limits) -> Result<Unzipped, LayerError> {
    let existed = dir.exists();
    let result = extract(zip_path, dir, limits);
    if result.is_err() && !existed {
        let _ = fs::remove_dir_all(dir);
    }
    result
}

fn extract(zip_path: &Path, dir: &Path, limits: Limits) -> Result<Unzipped, LayerError> {
    use std::io::Read as _;

    let invalid = |message: String| LayerError::Io {
        path: zip_path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidData, message),
    };
    let file = fs::File::open(zip_path).map_err(io_error(zip_path))?;
    let zip_err = |source| LayerError::Zip { path: zip_path.to_owned(), source };
    let mut archive = zip::ZipArchive::new(file).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(invalid(format!(
            "holds {} entries, more than the {} a layer is allowed here",
            archive.len(),
            limits.max_entries
        )));
    }
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let root = dir.canonicalize().map_err(io_error(dir))?;
    let too_large = || {
        invalid(format!(
            "unzips to more than {} bytes (Lambda's limit for a function's code and layers unzipped is 250 MB); \
             extraction stopped",
            limits.max_bytes
        ))
    };
    let mut remaining = limits.max_bytes;
    let mut skipped = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(zip_err)?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(invalid(format!("entry #{index} `{}` escapes the layer", entry.name().unwrap_or_default())));
        };
        let target = root.join(&relative);
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(io_error(&target))?;
            continue;
        }
        let parent = target.parent().unwrap_or(&root);
        fs::create_dir_all(parent).map_err(io_error(parent))?;
        let real_parent = parent.canonicalize().map_err(io_error(parent))?;
        if !real_parent.starts_with(&root) {
            return Err(invalid(format!(
                "entry `{}` is written through a link that leads outside the layer",
                relative.display()
            )));
        }
        if entry.is_symlink() {
            let mut link = String::new();
            (&mut entry).take(4096).read_to_string(&mut link).map_err(io_error(&target))?;
            remaining = remaining.checked_sub(link.len() as u64).ok_or_else(too_large)?;
            if link_stays_inside(&root, &real_parent, &link) {
                symlink(&link, &target).map_err(io_error(&target))?;
            } else {
                skipped.push(format!(
                    "{}: symlink `{}` -> `{link}` is left out: its target is absolute or leads outside the layer",
                    zip_path.display(),
                    relative.display()
                ));
            }
            continue;
        }
        let mut out = fs::File::create(&target).map_err(io_error(&target))?;
        let written =
            io::copy(&mut (&mut entry).take(remaining.saturating_add(1)), &mut out).map_err(io_error(&target))?;
        remaining = remaining.checked_sub(written).ok_or_else(too_large)?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode & 0o777)).map_err(io_error(&target))?;
        }
    }
    Ok(Unzipped { dir: dir.to_owned(), skipped })
}

/// Whether a symlink in `real_parent` (a real path inside `root`) pointing at `link` resolves
/// inside `root`. The target must be relative with its `..` steps only at its start (as
/// `node_modules/.bin` and `.so` links are): resolved from the real parent, the `..` steps
/// cannot be redirected by links created later, and the names after them descend.
fn link_stays_inside(root: &Path, real_parent: &Path, link: &str) -> bool {
    use std::path::Component;

    let mut resolved = real_parent.to_owned();
    let mut descending = false;
    for component in Path::new(link).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if !descending => {
                if !resolved.pop() || !resolved.starts_with(root) {
                    return false;
                }
            }
            Component::Normal(name) => {
                descending = true;
                resolved.push(name);
            }
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    !link.is_empty() && resolved.starts_with(root)
}

#[cfg(unix)]
fn symlink(link: &str, at: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(link, at)
}

#[cfg(not(unix))]
fn symlink(link: &str, at: &Path) -> io::Result<()> {
    fs::write(at, link)
}

#[cfg(test)]
mod unzip_tests {
    use super::*;

    /// A zip written in the test: `("name", Some("content"))` a file, `("name", None)` a
    /// directory, and `("name -> target", _)` a symlink.
    fn zip_of(path: &Path, entries: &[(&str, Option<&str>)]) -> PathBuf {
        let mut writer = zip::ZipWriter::new(fs::File::create(path).expect("zip file"));
        let options = SimpleFileOptions::default().unix_permissions(0o644);
        for (name, content) in entries {
            if let Some((link, target)) = name.split_once(" -> ") {
                writer.add_symlink(link, target, options).expect("symlink entry");
            } else if let Some(content) = content {
                writer.start_file(*name, options).expect("file entry");
                writer.write_all(content.as_bytes()).expect("content");
            } else {
                writer.add_directory(*name, options).expect("directory entry");
            }
        }
        writer.finish().expect("finished");
        path.to_owned()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("intercept-layer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch");
        dir
    }

    #[test]
    fn a_name_leading_outside_is_refused_and_the_partial_folder_removed() {
        let scratch = scratch("traversal");
        let zip = zip_of(&scratch.join("l.zip"), &[("python/ok.py", Some("x")), ("../evil.txt", Some("pwned"))]);
        let out = scratch.join("out");
        let error = unzip_within(&zip, &out, Limits::default()).expect_err("a traversal name");
        assert!(error.to_string().contains("`../evil.txt` escapes the layer"), "{error}");
        assert!(!scratch.join("evil.txt").exists(), "nothing is written outside");
        assert!(!out.exists(), "the partial folder is removed so a retry starts clean");
        fs::remove_dir_all(&scratch).expect("cleanup");
    }

    #[test]
    fn symlinks_inside_the_layer_are_kept_and_others_left_out_by_name() {
        let scratch = scratch("symlinks");
        let zip = zip_of(
            &scratch.join("l.zip"),
            &[
                ("lib/libfoo.so.1", Some("elf")),
                ("lib/libfoo.so -> libfoo.so.1", None),
                ("nodejs/node_modules/tool/cli.js", Some("cli")),
                ("nodejs/node_modules/.bin/tool -> ../tool/cli.js", None),
                ("lib/passwd -> ../../../../etc/passwd", None),
                ("lib/absolute -> /etc/passwd", None),
                ("lib/sneaky -> tool/../../../x", None),
            ],
        );
        let out = scratch.join("out");
        let unzipped = unzip_within(&zip, &out, Limits::default()).expect("unzips");
        let so = out.join("lib/libfoo.so");
        assert!(fs::symlink_metadata(&so).expect("link").file_type().is_symlink(), "kept as a symlink");
        assert_eq!(fs::read_link(&so).expect("link"), Path::new("libfoo.so.1"));
        assert_eq!(fs::read_to_string(&so).expect("resolves"), "elf");
        assert_eq!(fs::read_to_string(out.join("nodejs/node_modules/.bin/tool")).expect("resolves"), "cli");
        for name in ["lib/passwd", "lib/absolute", "lib/sneaky"] {
            assert!(fs::symlink_metadata(out.join(name)).is_err(), "{name} is not written");
            assert!(unzipped.skipped.iter().any(|s| s.contains(&format!("`{name}`"))), "{:?}", unzipped.skipped);
        }
        assert_eq!(unzipped.skipped.len(), 3, "{:?}", unzipped.skipped);
        fs::remove_dir_all(&scratch).expect("cleanup");
    }

    #[test]
    fn extraction_stops_past_the_limit_counting_bytes_written() {
        let scratch = scratch("limit");
        let zip =
            zip_of(&scratch.join("l.zip"), &[("a.bin", Some(&"a".repeat(600))), ("b.bin", Some(&"b".repeat(600)))]);
        let out = scratch.join("out");
        let limits = Limits { max_bytes: 1000, ..Limits::default() };
        let error = unzip_within(&zip, &out, limits).expect_err("over the limit");
        assert!(error.to_string().contains("unzips to more than 1000 bytes"), "{error}");
        assert!(!out.exists(), "the partial folder is removed");
        let within = Limits { max_bytes: 1200, ..Limits::default() };
        assert!(unzip_within(&zip, &out, within).expect("at the limit").skipped.is_empty());
        let error = unzip_within(&zip, &scratch.join("few"), Limits { max_entries: 1, ..Limits::default() })
            .expect_err("too many entries");
        assert!(error.to_string().contains("holds 2 entries, more than the 1"), "{error}");
        fs::remove_dir_all(&scratch).expect("cleanup");
    }

    #[test]
    fn round_trips_a_layer_with_executable_bits() {
        let scratch = std::env::temp_dir().join(format!("intercept-layer-unzip-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        fs::create_dir_all(&scratch).expect("scratch");
        let binary = scratch.join("ext");
        fs::write(&binary, b"#!/bin/sh\n").expect("write");
        let layer = assemble(&scratch.join("layer"), &[binary]).expect("assemble");
        let zip = zip_dir(&layer, &scratch.join("layer.zip")).expect("zip");
        let out = unzip(&zip, &scratch.join("out")).expect("unzip");
        let mode = {
            use std::os::unix::fs::PermissionsExt as _;
            fs::metadata(out.join("extensions/ext")).expect("extracted").permissions().mode() & 0o777
        };
        assert_eq!(mode, 0o755);
        let _ = fs::remove_dir_all(&scratch);
    }
}
