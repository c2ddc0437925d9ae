//! `intercept-layer`: builds the extension in release mode and writes the layer folder and zip.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::Parser;

/// Builds the Intercept Lambda layer (folder and zip) from this workspace.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where to write the layer folder; the zip is written beside it with `.zip` appended.
    #[arg(long, default_value = "target/intercept-layer")]
    out: PathBuf,
    /// Use this extension binary instead of building one with cargo.
    #[arg(long)]
    extension: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let extension = match args.extension {
        Some(path) => path,
        None => {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
                .args(["build", "--release", "-p", "intercept-extension", "--bin", "intercept-extension"])
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!("error: building intercept-extension with cargo failed");
                return ExitCode::FAILURE;
            }
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
            target.join("release/intercept-extension")
        }
    };
    let zip_path = args.out.with_extension("zip");
    let result =
        intercept_layer::assemble(&args.out, &[extension]).and_then(|dir| intercept_layer::zip_dir(&dir, &zip_path));
    match result {
        Ok(zip) => {
            println!("layer folder: {}\nlayer zip:    {}", args.out.display(), zip.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
