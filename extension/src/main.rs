//! The `intercept-extension` binary, started by Lambda from `/opt/extensions`.

use intercept_extension::{ExtensionConfig, run};
use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("INTERCEPT_EXTENSION_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
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
            eprintln!(
                "intercept-extension: cannot listen on {}: {error}",
                config.otlp_listen
            );
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
