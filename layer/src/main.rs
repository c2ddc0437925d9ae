//! `intercept-layer`: builds the extension in release mode (stripped) and writes the layer
//! folder and zip, with the exec wrapper, and prints the SAM resource that publishes it.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use clap::{Parser, Subcommand};

/// Builds the Intercept Lambda layer (folder and zip) from this workspace.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,
    /// As for `build`, when no subcommand is given.
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Build the layer: `extensions/intercept-extension` (release, stripped) and
    /// `intercept-wrapper`, as a folder and a zip, and print a SAM `AWS::Serverless::LayerVersion`.
    Build(BuildArgs),
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// Where to write the layer folder; the zip is written beside it with `.zip` appended.
    #[arg(long, default_value = "target/intercept-layer")]
    out: PathBuf,
    /// Write the layer folder only, without the zip beside it: `sam build`'s `BuildMethod:
    /// makefile` passes its `$(ARTIFACTS_DIR)` as `--out` and zips that folder itself.
    #[arg(long)]
    no_zip: bool,
    /// Use this extension binary instead of building one with cargo.
    #[arg(long)]
    extension: Option<PathBuf>,
    /// The functions' architecture. The extension is built with `cargo zigbuild` against
    /// glibc 2.26, so it loads on every runtime Lambda offers (Amazon Linux 2 and 2023).
    #[arg(long, value_enum, default_value_t = Arch::X86_64)]
    arch: Arch,
    /// Build with this machine's own toolchain for this Rust target instead of `cargo zigbuild`
    /// (e.g. `x86_64-unknown-linux-gnu`): the binary then needs this machine's glibc or newer,
    /// which Amazon Linux 2 runtimes may not have.
    #[arg(long, conflicts_with = "arch")]
    target: Option<String>,
}

/// A Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Arch {
    /// `x86_64`
    #[value(name = "x86_64")]
    X86_64,
    /// `arm64` (Graviton)
    #[value(name = "arm64")]
    Arm64,
}

impl Arch {
    fn is_host(self) -> bool {
        std::env::consts::ARCH == if self == Arch::X86_64 { "x86_64" } else { "aarch64" }
    }

    fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

/// The oldest glibc the layer's extension loads on: Amazon Linux 2's (provided.al2, python3.9
/// to 3.11, java8.al2 to 17, nodejs18.x).
const GLIBC: &str = "2.26";
/// Set by `intercept-sam` when it runs a layer's build for local emulation: without
/// cargo-zigbuild, the extension is then built for this machine (its glibc) instead of failing.
const LOCAL_ONLY: &str = "INTERCEPT_SAM_LOCAL_BUILD";
/// The cargo profile the layer's extension is built with (the workspace's `[profile.layer]`).
const PROFILE: &str = "layer";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Commands::Build(args)) => args,
        None => cli.build,
    };
    match build(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn build(args: &BuildArgs) -> Result<(), String> {
    let extension = match &args.extension {
        Some(path) => path.clone(),
        None => build_extension(args)?,
    };
    if extension.file_name().and_then(|name| name.to_str()) != Some(intercept_layer::EXTENSION_NAME) {
        return Err(format!(
            "{}: the extension binary must be named {} for the layer's exec wrapper to find it",
            extension.display(),
            intercept_layer::EXTENSION_NAME
        ));
    }
    let dir = intercept_layer::assemble(&args.out, &[extension]).map_err(|e| e.to_string())?;
    if args.no_zip {
        println!("layer folder: {}", dir.display());
        return Ok(());
    }
    let zip_path = args.out.with_extension("zip");
    let zip = intercept_layer::zip_dir(&dir, &zip_path).map_err(|e| e.to_string())?;
    let architecture = match (&args.target, args.arch) {
        (Some(target), _) if target.starts_with("aarch64") => "arm64",
        (Some(_), _) | (None, Arch::X86_64) => "x86_64",
        (None, Arch::Arm64) => "arm64",
    };
    println!("layer folder: {}\nlayer zip:    {}\n", args.out.display(), zip.display());
    println!("{}", intercept_layer::sam_snippet(&zip, architecture));
    Ok(())
}

/// Builds the extension with the layer profile (stripped whatever the profile says): with
/// `cargo zigbuild` against glibc 2.26 for `--arch`, or with cargo for `--target`.
fn build_extension(args: &BuildArgs) -> Result<PathBuf, String> {
    let cargo_program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cargo = Command::new(&cargo_program);
    let mut strip = "symbols";
    match &args.target {
        Some(target) => {
            cargo.args(["build", "--target", target]);
        }
        None => {
            let target = args.arch.rust_target();
            match check_zigbuild() {
                Ok(()) => {
                    check_std_installed(target)?;
                    cargo.args(["zigbuild", "--target", &format!("{target}.{GLIBC}")]);
                    // The code start-up runs gathered at the front of the binary, by zig's lld
                    // (`extension/layout`): 1.5 MiB less resident at start (issue 24). That link
                    // strips the binary itself, so that `extension/layout/generate.py` profiles a
                    // build with the same settings, and so the same symbol names, with symbols.
                    cargo.args(["--features", "intercept-extension/startup-layout"]);
                    strip = "none";
                }
                // Under the local emulator the layer runs on this machine, so its own glibc is
                // the right one: the example runs with nothing but a Rust toolchain. `sam build`
                // (a deployable layer) still needs zig.
                Err(missing) if std::env::var_os(LOCAL_ONLY).is_some() && args.arch.is_host() => {
                    eprintln!(
                        "intercept-layer: {missing}\nintercept-layer: building for this machine only ({LOCAL_ONLY} is set)"
                    );
                    cargo.arg("build");
                }
                Err(missing) => return Err(missing),
            }
        }
    }
    cargo.args(["--profile", PROFILE, "-p", "intercept-extension", "--bin", intercept_layer::EXTENSION_NAME]);
    cargo.args(["--message-format", "json-render-diagnostics"]);
    cargo.env(format!("CARGO_PROFILE_{}_STRIP", PROFILE.to_uppercase()), strip);
    cargo.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let output = cargo.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("building {} with cargo failed ({})", intercept_layer::EXTENSION_NAME, output.status));
    }
    // Where cargo put it, from its own report (whatever the target directory and the cwd).
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == intercept_layer::EXTENSION_NAME
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built {} but did not say where", intercept_layer::EXTENSION_NAME))
}

/// `cargo zigbuild` and a zig it can run (on PATH, or the `ziglang` Python package, which is
/// where cargo-zigbuild looks), or an error saying what to install.
fn check_zigbuild() -> Result<(), String> {
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let zigbuild = runs("cargo-zigbuild", &["--version"]);
    let python = std::env::var("CARGO_ZIGBUILD_PYTHON_PATH").unwrap_or_else(|_| "python3".to_owned());
    let zig = runs("zig", &["version"]) || runs(&python, &["-m", "ziglang", "version"]);
    let missing = match (zigbuild, zig) {
        (true, true) => return Ok(()),
        (false, true) => "cargo-zigbuild",
        (true, false) => "zig",
        (false, false) => "cargo-zigbuild and zig",
    };
    Err(format!(
        "building a layer that loads on every Lambda runtime (glibc {GLIBC}, as Amazon Linux 2 has) needs \
         {missing}, not found: `pip install cargo-zigbuild ziglang`, or `cargo install cargo-zigbuild` with zig \
         on PATH; `--target <triple>` builds with this machine's toolchain instead, for runtimes with this \
         machine's glibc or newer"
    ))
}

/// The Rust standard library for `target`, or an error naming the rustup command.
fn check_std_installed(target: &str) -> Result<(), String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    match sysroot {
        Some(sysroot) if !sysroot.join("lib/rustlib").join(target).join("lib").is_dir() => {
            Err(format!("the Rust standard library for {target} is not installed: `rustup target add {target}`"))
        }
        _ => Ok(()),
    }
}
