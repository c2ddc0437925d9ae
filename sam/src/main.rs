//! `intercept-sam`: SAM CLI's `local` commands without Docker, under Intercept.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use intercept_sam::{CargoProfile, EventSource, InvokeOptions, local_invoke};

#[derive(Debug, Parser)]
#[command(name = "intercept-sam", version, about = "Run SAM templates locally, without Docker, under Intercept")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run functions locally, as `sam local` does.
    #[command(subcommand)]
    Local(Local),
}

#[derive(Debug, Subcommand)]
enum Local {
    /// Invoke a function once per event, in one warm environment, and print the responses.
    Invoke(InvokeArgs),
}

#[derive(Debug, Args)]
struct InvokeArgs {
    /// The function's logical id (optional when the template has one function).
    function: Option<String>,
    /// The SAM template.
    #[arg(short, long, default_value = "template.yaml")]
    template: PathBuf,
    /// An event file, or `-` for stdin; repeat to invoke the same environment several times.
    #[arg(short, long = "event")]
    event: Vec<String>,
    /// A JSON file of environment variables, in SAM's format.
    #[arg(short = 'n', long)]
    env_vars: Option<PathBuf>,
    /// Parameter values: `Key=Value` or `ParameterKey=Key,ParameterValue=Value`.
    #[arg(long, num_args = 1..)]
    parameter_overrides: Vec<String>,
    /// The AWS region the function believes it runs in.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Do not freeze the environment between invocations (Lambda does; this is for debugging).
    #[arg(long)]
    no_freeze: bool,
    /// The cargo profile for building Rust functions and layers.
    #[arg(long, default_value = "release")]
    cargo_profile: String,
}

fn parse_overrides(values: &[String]) -> Result<Vec<(String, String)>, String> {
    values
        .iter()
        .flat_map(|v| v.split_whitespace())
        .map(|token| {
            if let Some(rest) = token.strip_prefix("ParameterKey=") {
                let (key, value) = rest.split_once(",ParameterValue=").ok_or_else(|| {
                    format!("--parameter-overrides: `{token}` should be ParameterKey=K,ParameterValue=V")
                })?;
                return Ok((key.to_owned(), value.to_owned()));
            }
            token
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--parameter-overrides: `{token}` should be Key=Value"))
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { command: Command::Local(Local::Invoke(args)) } = Cli::parse();
    let parameter_overrides = match parse_overrides(&args.parameter_overrides) {
        Ok(overrides) => overrides,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = InvokeOptions::new(args.template);
    options.function = args.function;
    options.events = args
        .event
        .into_iter()
        .map(|e| if e == "-" { EventSource::Stdin } else { EventSource::File(e.into()) })
        .collect();
    options.env_vars = args.env_vars;
    options.parameter_overrides = parameter_overrides;
    options.region = args.region;
    options.freeze = !args.no_freeze;
    options.profile = CargoProfile(args.cargo_profile);
    match local_invoke(&options, &mut std::io::stdout().lock()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
