//! The `intercept-extension` binary, started by Lambda from `/opt/extensions`.
//!
//! `intercept-extension --probe` is the exec wrapper's check that this environment's Runtime
//! API proxy is up (exit status 0) before it points the runtime at it.

use std::sync::Arc;
use std::time::Duration;

use intercept_extension::proxy::{FailMode, Proxy, ProxyConfig, probe, serve_proxy};
use intercept_extension::{ExtensionConfig, LogSecrets, run};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::writer::MakeWriterExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How long the exec wrapper waits for the proxy's answer before the runtime keeps Lambda's endpoint.
const PROBE_LIMIT: Duration = Duration::from_millis(1000);

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--probe") {
        return probe_proxy().await;
    }
    // `Targets` reads the same `level` / `target=level,...` directives as `EnvFilter` without
    // a regex engine, which the layer's binary would otherwise carry (issue 24).
    let (filter, bad_filter) = match std::env::var("INTERCEPT_EXTENSION_LOG") {
        Ok(value) => match value.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(error) => (Targets::new().with_default(LevelFilter::INFO), Some((value, error))),
        },
        Err(_) => (Targets::new().with_default(LevelFilter::INFO), None),
    };
    let subscriber = tracing_subscriber::fmt().with_ansi(false).without_time().with_target(false);
    // A copy of the log in a file, for tools (and tests) that cannot read the log stream.
    let copy = std::env::var_os("INTERCEPT_EXTENSION_LOG_FILE")
        .and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
    match copy {
        Some(file) => {
            subscriber.with_writer(std::io::stderr.and(std::sync::Mutex::new(file))).finish().with(filter).init()
        }
        None => subscriber.with_writer(std::io::stderr).finish().with(filter).init(),
    }
    if let Some((value, error)) = bad_filter {
        tracing::warn!("INTERCEPT_EXTENSION_LOG={value:?} is not a log filter ({error}); logging at info");
    }
    let config = match ExtensionConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("intercept-extension: invalid configuration: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The proxy is bound before the extension registers: Lambda starts the runtime (and the
    // exec wrapper, which looks for the proxy) only once every extension has registered.
    // What the proxy learns of each event's credentials, the Telemetry API destination scrubs
    // from the function's log lines.
    let log_secrets = Arc::new(LogSecrets::from_lookup(|name| std::env::var(name).ok()));
    // With no logs endpoint no log line leaves, and the proxy need not learn any credential.
    start_proxy(config.endpoints.logs.is_some().then(|| log_secrets.clone())).await;
    let listener = match tokio::net::TcpListener::bind(config.otlp_listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("intercept-extension: cannot listen on {}: {error}", config.otlp_listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    // On the heap: `run`'s state (its routers, the events processor, the registration) is the
    // largest future here, and left on the stack it is copied through `block_on`'s frames,
    // each copy another resident stack page for as long as the extension lives (issue 24).
    match Box::pin(run(listener, config, log_secrets)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("intercept-extension: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Serves the Runtime API proxy, or says loudly why not: the exec wrapper then finds no proxy
/// and the runtime keeps Lambda's endpoint (fail-open), so the function still answers.
async fn start_proxy(log_secrets: Option<Arc<LogSecrets>>) {
    // Only a runtime started through an exec wrapper can be pointed at the proxy; without one
    // (Rust functions, intercepted in process, and OS-only runtimes) the proxy, its filters and
    // their clients are never built, so the extension pays nothing for them (issue 24). Any
    // wrapper counts, since a wrapper of the user's own may chain to `/opt/intercept-wrapper`.
    if std::env::var_os("AWS_LAMBDA_EXEC_WRAPPER").is_none_or(|wrapper| wrapper.is_empty()) {
        tracing::debug!("no AWS_LAMBDA_EXEC_WRAPPER: the Runtime API proxy is not started");
        return;
    }
    let unprotected = "the runtime keeps Lambda's Runtime API and requests are NOT intercepted";
    let config = match ProxyConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("Runtime API proxy not started: {error}; {unprotected}");
            return;
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("Runtime API proxy cannot listen on 127.0.0.1:{}: {error}; {unprotected}", config.port);
            return;
        }
    };
    let proxy = match Proxy::new(&config, intercept::Config::from_env()) {
        Ok(proxy) => Arc::new(match log_secrets {
            Some(log_secrets) => proxy.with_log_secrets(log_secrets),
            None => proxy,
        }),
        Err(error) => {
            tracing::error!("Runtime API proxy not started: {error}; {unprotected}");
            return;
        }
    };
    // The proxy is on every invocation's path: it gets a thread and an event loop of its own,
    // so the extension's own work (INVOKE events, telemetry intake, flushes) never delays it.
    let started = listener.into_std().and_then(|listener| {
        std::thread::Builder::new().name("intercept-proxy".to_owned()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            let served = runtime.and_then(|runtime| {
                runtime.block_on(async move {
                    serve_proxy(tokio::net::TcpListener::from_std(listener)?, proxy).await;
                    Ok(())
                })
            });
            if let Err(error) = served {
                tracing::error!("Runtime API proxy stopped: {error}; {unprotected}");
            }
        })
    });
    match started {
        Ok(_) => tracing::debug!(port = config.port, upstream = %config.upstream, "Runtime API proxy listening"),
        Err(error) => tracing::error!("Runtime API proxy not started: {error}; {unprotected}"),
    }
}

/// The exec wrapper's check. When this environment's proxy answers on its port: prints the
/// address the runtime must use and exits 0. Otherwise it says why on stderr and exits 1 when
/// `INTERCEPT_PROXY_FAIL=open` (the wrapper keeps Lambda's endpoint) or 2 when failing closed
/// (the default: the wrapper refuses to start a runtime nothing would protect).
async fn probe_proxy() -> std::process::ExitCode {
    const FAIL_OPEN: u8 = 1;
    const FAIL_CLOSED: u8 = 2;
    let config = match ProxyConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            let open = std::env::var("INTERCEPT_PROXY_FAIL").is_ok_and(|mode| mode.trim() == "open");
            return std::process::ExitCode::from(if open { FAIL_OPEN } else { FAIL_CLOSED });
        }
    };
    let runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    match probe(config.port, &runtime_api, PROBE_LIMIT).await {
        Ok(()) => {
            println!("127.0.0.1:{}", config.port);
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::ExitCode::from(match config.fail {
                FailMode::Open => FAIL_OPEN,
                _ => FAIL_CLOSED,
            })
        }
    }
}
