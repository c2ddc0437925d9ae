//! `intercept-layer`: builds the extension in release mode (stripped) and writes the layer
//! folder and zip, with the exec wrapper, and prints the SAM resource that publishes it.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

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
    /// Cross-compile for this Rust target, e.g. `aarch64-unknown-linux-gnu` for arm64 functions
    /// (needs `rustup target add` and a linker for it); the host's otherwise.
    #[arg(long)]
    target: Option<String>,
}

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
        None => build_extension(args.target.as_deref())?,
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
    let architecture = match args.target.as_deref().unwrap_or(std::env::consts::ARCH) {
        target if target.starts_with("aarch64") => "arm64",
        _ => "x86_64",
    };
    println!("layer folder: {}\nlayer zip:    {}\n", args.out.display(), zip.display());
    println!("{}", intercept_layer::sam_snippet(&zip, architecture));
    Ok(())
}

/// `cargo build --release` of the extension, stripped whatever the profile says.
fn build_extension(target: Option<&str>) -> Result<PathBuf, String> {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cargo.args(["build", "--release", "-p", "intercept-extension", "--bin", intercept_layer::EXTENSION_NAME]);
    cargo.env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    if let Some(target) = target {
        cargo.args(["--target", target]);
    }
    let status = cargo.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {} with cargo failed ({status})", intercept_layer::EXTENSION_NAME));
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    let release = match target {
        Some(target) => target_dir.join(target).join("release"),
        None => target_dir.join("release"),
    };
    Ok(release.join(intercept_layer::EXTENSION_NAME))
}
