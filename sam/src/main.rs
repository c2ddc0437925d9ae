//! `intercept-sam`: SAM CLI's `local` commands without Docker, under Intercept.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use intercept_sam::api::Gateway;
use intercept_sam::samconfig::SamConfig;
use intercept_sam::template::Template;
use intercept_sam::{
    CargoProfile, EventSource, InvokeOptions, Pools, SpecOptions, StartLambdaOptions, local_invoke, prepare, prewarm,
    serve_api, serve_start_lambda, watch,
};

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
    Local(Box<Local>),
    /// Check a policy file (for CI) or explain what it does with a request.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate FILE: every error as `FILE:LINE:COL: error: ...` (exit 1), or `ok: N routes, digest ...`.
    Check {
        /// The policy file.
        file: PathBuf,
        /// A variable of the function's environment, to check against (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = intercept_sam::policy::parse_env_pair)]
        env: Vec<(String, String)>,
    },
    /// Print which route of FILE matches REQUEST (`"GET /orders/42"`) and what it would do.
    Explain {
        /// The policy file.
        file: PathBuf,
        /// `METHOD /path`, the path as the API matches it: without a custom domain's base path
        /// (at run time `/v1/admin/x` served by `/admin/{proxy+}` is matched as `/admin/x`).
        request: String,
        /// A variable of the function's environment (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = intercept_sam::policy::parse_env_pair)]
        env: Vec<(String, String)>,
    },
    /// What changes from OLD to NEW, per route and for the defaults: authentication (schemes,
    /// key source, issuer, audience, scopes), rate limits, modes and `disable`. Exit 0 when
    /// nothing changes, 1 when something does, 2 when a file is invalid (like `diff`).
    Diff {
        /// The policy in force.
        old: PathBuf,
        /// The policy to roll out.
        new: PathBuf,
        /// A variable of the function's environment, for both files (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = intercept_sam::policy::parse_env_pair)]
        env: Vec<(String, String)>,
        /// One JSON document of the changes instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Local {
    /// Invoke a function once per event, in one warm environment, and print the responses.
    Invoke(InvokeArgs),
    /// Serve the Lambda Invoke API for every function (for AWS SDKs and `aws lambda invoke`).
    StartLambda(StartLambdaArgs),
    /// Serve the template's Api/HttpApi routes and function URLs, as API Gateway would.
    StartApi(StartApiArgs),
}

/// Flags shared by the `local` commands, as SAM CLI names them.
#[derive(Debug, Args)]
struct CommonArgs {
    /// The SAM template.
    /// Default, as SAM CLI's: `.aws-sam/build/template.yaml` (what `sam build` wrote), else
    /// `template.yaml`, `template.yml` or `template.json` in the current folder.
    #[arg(short, long)]
    template: Option<PathBuf>,
    /// A JSON file of environment variables, in SAM's format.
    #[arg(short = 'n', long)]
    env_vars: Option<PathBuf>,
    /// Parameter values: `Key=Value` or `ParameterKey=Key,ParameterValue=Value`.
    #[arg(long, num_args = 1..)]
    parameter_overrides: Vec<String>,
    /// The AWS region functions run in (`AWS_REGION`, `AWS::Region`); default: `AWS_REGION`,
    /// `AWS_DEFAULT_REGION`, the profile's region, `us-east-1`.
    #[arg(long)]
    region: Option<String>,
    /// The profile (of `~/.aws/credentials` and `~/.aws/config`) whose credentials functions get;
    /// default: the environment's `AWS_ACCESS_KEY_ID`, else `AWS_PROFILE` or `default`.
    #[arg(long)]
    profile: Option<String>,
    /// Do not freeze environments between invocations (Lambda does; this is for debugging).
    #[arg(long)]
    no_freeze: bool,
    /// The cargo profile for building Rust functions and layers.
    #[arg(long, default_value = "release")]
    cargo_profile: String,
    /// SAM CLI's configuration file, whose command section gives defaults for the flags not
    /// given (default: `samconfig.toml` beside the template).
    #[arg(long)]
    config_file: Option<PathBuf>,
    /// The environment of the configuration file to read.
    #[arg(long, default_value = "default")]
    config_env: String,
    /// Where layers given by ARN are downloaded and cached (default: `~/.aws-sam/layers-pkg`).
    #[arg(long)]
    layer_cache_basedir: Option<PathBuf>,
    /// Serve an AWS AppConfig Agent-compatible endpoint from DIR/application/environment/profile
    /// files (`.yaml`, `.yml`, `.json` or none), and give functions its port
    /// (`AWS_APPCONFIG_EXTENSION_HTTP_PORT`), so `appconfig://` policies run locally.
    #[arg(long, value_name = "DIR")]
    appconfig: Option<PathBuf>,
}

/// Fills the flags not given on the command line from `samconfig.toml`'s section for `command`
/// (`local_invoke`, ...) over its global one, as SAM CLI does.
fn apply_samconfig(common: &mut CommonArgs, command: &str) -> Result<SamConfig, String> {
    let file = common.config_file.clone().unwrap_or_else(|| {
        let dir = common.template.as_deref().and_then(Path::parent).filter(|dir| !dir.as_os_str().is_empty());
        dir.unwrap_or(Path::new(".")).join("samconfig.toml")
    });
    let config = intercept_sam::samconfig::load(&file, &common.config_env, command)?;
    if common.template.is_none() {
        common.template = config.text("template_file").or_else(|| config.text("template")).map(PathBuf::from);
    }
    if common.parameter_overrides.is_empty() {
        common.parameter_overrides = config.list("parameter_overrides");
    }
    if common.env_vars.is_none() {
        common.env_vars = config.text("env_vars").map(PathBuf::from);
    }
    if common.region.is_none() {
        common.region = config.text("region");
    }
    if common.profile.is_none() {
        common.profile = config.text("profile");
    }
    if common.layer_cache_basedir.is_none() {
        common.layer_cache_basedir = config.text("layer_cache_basedir").map(PathBuf::from);
    }
    Ok(config)
}

#[derive(Debug, Args)]
struct InvokeArgs {
    /// The function's logical id (optional when the template has one function).
    function: Option<String>,
    /// An event file, or `-` for stdin; repeat to invoke the same environment several times.
    #[arg(short, long = "event")]
    event: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// Flags shared by the servers.
#[derive(Debug, Args)]
struct ServeArgs {
    /// `EAGER` starts an environment per function up front; `LAZY` (default) on first use.
    #[arg(long, value_parser = ["EAGER", "LAZY"], ignore_case = true)]
    warm_containers: Option<String>,
    /// Rebuild functions when their sources change, and serve the new code.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct StartApiArgs {
    /// The port to listen on.
    #[arg(short, long, default_value_t = 3000)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Serve every route as if it named no authorizer: no Lambda, JWT or Cognito authorizer
    /// runs (SAM CLI's flag; its only authorizers are Lambda ones).
    #[arg(long)]
    disable_authorizer: bool,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Args)]
struct StartLambdaArgs {
    /// The port to listen on.
    #[arg(short, long, default_value_t = 3001)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[command(flatten)]
    serve: ServeArgs,
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

/// `-t`, or the template SAM CLI's `local` commands would pick.
fn template_path(common: &CommonArgs) -> PathBuf {
    common.template.clone().unwrap_or_else(|| {
        [".aws-sam/build/template.yaml", "template.yaml", "template.yml", "template.json"]
            .into_iter()
            .map(PathBuf::from)
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| PathBuf::from("template.yaml"))
    })
}

/// Starts the `--appconfig` endpoint, when asked; it serves as long as the guard lives.
async fn appconfig(common: &CommonArgs) -> Result<Option<intercept_sam::appconfig::AppConfigServer>, String> {
    let Some(dir) = &common.appconfig else { return Ok(None) };
    let server = intercept_sam::appconfig::serve(dir).await?;
    eprintln!("intercept-sam: AppConfig Agent endpoint for {} on 127.0.0.1:{}", dir.display(), server.port);
    Ok(Some(server))
}

fn spec_options(common: &CommonArgs) -> Result<SpecOptions, String> {
    let aws = intercept_sam::aws_profile::resolve(common.profile.as_deref(), common.region.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    let mut spec = SpecOptions::default();
    spec.env_vars.clone_from(&common.env_vars);
    spec.region = aws.region;
    spec.credentials = aws.credentials;
    spec.freeze = !common.no_freeze;
    spec.profile = CargoProfile(common.cargo_profile.clone());
    spec.layer_cache_basedir.clone_from(&common.layer_cache_basedir);
    Ok(spec)
}

/// Loads and builds the template for a server, then warms and watches it as asked.
async fn prepare_to_serve(serve: &ServeArgs, appconfig_port: Option<u16>) -> Result<(Template, Pools), String> {
    let mut options = StartLambdaOptions::new(template_path(&serve.common));
    options.parameter_overrides = parse_overrides(&serve.common.parameter_overrides)?;
    options.spec = spec_options(&serve.common)?;
    options.spec.appconfig_port = appconfig_port;
    let (template, pools) = prepare(&options).await.map_err(|e| e.to_string())?;
    if serve.warm_containers.as_deref().is_some_and(|w| w.eq_ignore_ascii_case("EAGER")) {
        prewarm(&pools).await.map_err(|e| e.to_string())?;
    }
    if serve.watch {
        let _watcher = watch(&template, &pools, &options.spec);
    }
    Ok((template, pools))
}

/// [`apply_samconfig`] for a server, with its `warm_containers`.
fn apply_serve_samconfig(serve: &mut ServeArgs, command: &str) -> Result<(), String> {
    let config = apply_samconfig(&mut serve.common, command)?;
    if serve.warm_containers.is_none() {
        serve.warm_containers = config.text("warm_containers");
    }
    Ok(())
}

async fn bind(host: &str, port: u16) -> Result<(tokio::net::TcpListener, String), String> {
    let address = format!("{host}:{port}");
    let listener =
        tokio::net::TcpListener::bind(&address).await.map_err(|e| format!("cannot listen on {address}: {e}"))?;
    Ok((listener, address))
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(command: Local) -> Result<(), String> {
    match command {
        Local::Invoke(mut args) => {
            apply_samconfig(&mut args.common, "local_invoke")?;
            let mut options = InvokeOptions::new(template_path(&args.common));
            options.function = args.function;
            options.events = args
                .event
                .into_iter()
                .map(|e| if e == "-" { EventSource::Stdin } else { EventSource::File(e.into()) })
                .collect();
            options.parameter_overrides = parse_overrides(&args.common.parameter_overrides)?;
            options.spec = spec_options(&args.common)?;
            let appconfig_server = appconfig(&args.common).await?;
            options.spec.appconfig_port = appconfig_server.as_ref().map(|server| server.port);
            local_invoke(&options, &mut std::io::stdout().lock()).await.map_err(|e| e.to_string())
        }
        Local::StartLambda(mut args) => {
            apply_serve_samconfig(&mut args.serve, "local_start_lambda")?;
            let appconfig = appconfig(&args.serve.common).await?;
            let (_, pools) = prepare_to_serve(&args.serve, appconfig.as_ref().map(|server| server.port)).await?;
            let (listener, address) = bind(&args.host, args.port).await?;
            let mut names: Vec<&String> = pools.keys().collect();
            names.sort();
            for name in names {
                eprintln!("Mounting {name} at http://{address}/2015-03-31/functions/{name}/invocations");
            }
            serve_start_lambda(listener, pools, ctrl_c()).await.map_err(|e| e.to_string())
        }
        Local::StartApi(mut args) => {
            apply_serve_samconfig(&mut args.serve, "local_start_api")?;
            let appconfig = appconfig(&args.serve.common).await?;
            let (template, pools) = prepare_to_serve(&args.serve, appconfig.as_ref().map(|server| server.port)).await?;
            let gateway = if args.disable_authorizer {
                Gateway::new(&template, pools.clone())
            } else {
                Gateway::connect(&template, pools.clone()).await.map_err(|e| e.to_string())?
            };
            let gateway = std::sync::Arc::new(gateway);
            let (listener, address) = bind(&args.host, args.port).await?;
            for line in gateway.describe() {
                eprintln!("Mounting {line}");
            }
            eprintln!("intercept-sam: serving http://{address}");
            serve_api(listener, gateway, pools, ctrl_c()).await.map_err(|e| e.to_string())
        }
    }
}

fn policy(command: PolicyCommand) -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let result = match command {
        PolicyCommand::Check { file, env } => intercept_sam::policy::check(&file, &env, &mut out, &mut err),
        PolicyCommand::Explain { file, request, env } => {
            intercept_sam::policy::explain(&file, &request, &env, &mut out, &mut err)
        }
        PolicyCommand::Diff { old, new, env, json } => {
            return match intercept_sam::policy::diff(&old, &new, &env, json, &mut out, &mut err) {
                Ok(intercept_sam::policy::DiffOutcome::Same) => ExitCode::SUCCESS,
                Ok(intercept_sam::policy::DiffOutcome::Changed) => ExitCode::from(1),
                Ok(intercept_sam::policy::DiffOutcome::Invalid) => ExitCode::from(2),
                Err(error) => {
                    eprintln!("intercept-sam: {error}");
                    ExitCode::from(2)
                }
            };
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

// One thread serves every API: the functions run in their own processes, and a single event
// loop answers a warm invocation with no hand-offs between worker threads (about 60 µs less
// per loopback HTTP exchange on a 2-core machine; see BENCHMARKS.md). Blocking work (builds,
// layer copies, memory reads) goes to tokio's blocking pool.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = match Cli::parse().command {
        Command::Local(command) => *command,
        Command::Policy(command) => return policy(command),
    };
    match run(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
