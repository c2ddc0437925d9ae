//! `intercept-sam local start-lambda`: every function of the template behind the Invoke API.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::collector::{Collector, render_trees};
use crate::functions::{SpecOptions, function_spec};
use crate::invoke_api::{Pools, router};
use crate::local_invoke::CliError;
use crate::pool::{FunctionPool, ReportSink};
use crate::template::{LoadOptions, Template};

/// The options of `local start-lambda`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartLambdaOptions {
    /// `-t`.
    pub template: PathBuf,
    /// `--parameter-overrides`.
    pub parameter_overrides: Vec<(String, String)>,
    /// How functions are built and run.
    pub spec: SpecOptions,
}

impl StartLambdaOptions {
    /// Options for a template, with everything else defaulted.
    #[must_use]
    pub fn new(template: PathBuf) -> Self {
        StartLambdaOptions { template, parameter_overrides: Vec::new(), spec: SpecOptions::default() }
    }
}

/// Loads the template, builds every function, and makes a pool of environments for each.
///
/// # Errors
/// A [`CliError`] for a bad template or a failed build.
pub async fn prepare_pools(options: &StartLambdaOptions) -> Result<Pools, CliError> {
    prepare(options).await.map(|(_, pools)| pools)
}

/// Like [`prepare_pools`], and returns the template too (for its routes).
///
/// # Errors
/// A [`CliError`] for a bad template or a failed build.
pub async fn prepare(options: &StartLambdaOptions) -> Result<(Template, Pools), CliError> {
    let load = LoadOptions::default()
        .with_parameter_overrides(options.parameter_overrides.clone())
        .with_region(options.spec.region.clone());
    let template = Template::load(&options.template, &load).map_err(|e| CliError(e.to_string()))?;
    for warning in &template.warnings {
        eprintln!("intercept-sam: warning: {warning}");
    }
    let collector = Collector::start().await.map_err(|e| CliError(format!("cannot start the OTLP receiver: {e}")))?;
    let reports = collector.clone();
    // The environment printed START, END and REPORT in the function's log; the trace follows.
    let on_report: ReportSink = Arc::new(move |_invoked| {
        eprint!("{}", render_trees(&reports.take()));
    });
    let mut pools = HashMap::new();
    for function in &template.functions {
        let spec = function_spec(&template, function, &options.spec, &collector.targets())?;
        pools.insert(function.logical_id.clone(), FunctionPool::new(spec, on_report.clone()));
    }
    Ok((template, Arc::new(pools)))
}

/// Starts one environment per function now (`--warm-containers EAGER`), so the first
/// requests find them warm.
///
/// # Errors
/// The first function's init error, named.
pub async fn prewarm(pools: &Pools) -> Result<(), CliError> {
    for pool in pools.values() {
        pool.prewarm().await.map_err(|e| {
            CliError(format!("{} failed to initialise: {}: {}", pool.name(), e.error_type, e.error_message))
        })?;
    }
    Ok(())
}

/// Serves `local start-api` for `gateway` on `listener` until `shutdown` completes.
///
/// # Errors
/// A [`CliError`] when the server fails.
pub async fn serve_api(
    listener: TcpListener,
    gateway: Arc<crate::api::Gateway>,
    pools: Pools,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let app = crate::api::router(gateway).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    for pool in pools.values() {
        pool.shutdown().await;
    }
    served.map_err(|e| CliError(format!("the API server failed: {e}")))
}

/// Serves the Invoke API for `pools` on `listener` until `shutdown` completes, then shuts the
/// idle environments down.
///
/// # Errors
/// A [`CliError`] when the server fails.
pub async fn serve(
    listener: TcpListener,
    pools: Pools,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    let served = axum::serve(listener, router(pools.clone())).with_graceful_shutdown(shutdown).await;
    for pool in pools.values() {
        pool.shutdown().await;
    }
    served.map_err(|e| CliError(format!("the Invoke API server failed: {e}")))
}
