//! The `intercept-extension` binary, started by Lambda from `/opt/extensions`.

use intercept_extension::{ExtensionConfig, run};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_env("INTERCEPT_EXTENSION_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).without_time().with_target(false);
    // A copy of the log in a file, for tools (and tests) that cannot read the log stream.
    let copy = std::env::var_os("INTERCEPT_EXTENSION_LOG_FILE")
        .and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
    match copy {
        Some(file) => subscriber.with_writer(std::io::stderr.and(std::sync::Mutex::new(file))).init(),
        None => subscriber.with_writer(std::io::stderr).init(),
    }
    let config = match ExtensionConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("intercept-extension: invalid configuration: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.otlp_listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("intercept-extension: cannot listen on {}: {error}", config.otlp_listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    match run(listener, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("intercept-extension: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
