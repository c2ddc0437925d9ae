//! `intercept-sam local start-lambda`: every function of the template behind the Invoke API.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::collector::render_trees;
use crate::functions::{SpecOptions, function_spec};
use crate::invoke_api::{Pools, router};
use crate::local_invoke::{CliError, open_template};
use crate::pool::{FunctionPool, InvokeConfig, LAMBDA_RETRY_DELAYS, ReportSink};
use crate::template::Template;

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
    /// The waits before the first and second retry of a failed `Event` invocation; `None`
    /// reads `INTERCEPT_SAM_ASYNC_RETRY_DELAYS`, else Lambda's one and two minutes.
    pub retry_delays: Option<[Duration; 2]>,
}

impl StartLambdaOptions {
    /// Options for a template, with everything else defaulted.
    #[must_use]
    pub fn new(template: PathBuf) -> Self {
        StartLambdaOptions {
            template,
            parameter_overrides: Vec::new(),
            spec: SpecOptions::default(),
            retry_delays: None,
        }
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
    let (template, collector) = open_template(&options.template, &options.parameter_overrides, &options.spec).await?;
    let reports = collector.clone();
    // The environment printed START, END and REPORT in the function's log; the trace follows.
    let on_report: ReportSink = Arc::new(move |_invoked| {
        eprint!("{}", render_trees(&reports.take()));
    });
    let retry_delays = match options.retry_delays {
        Some(delays) => delays,
        None => retry_delays_from(std::env::var(RETRY_DELAYS_VARIABLE).ok().as_deref())?,
    };
    let mut pools = HashMap::new();
    for function in &template.functions {
        let spec = function_spec(&template, function, &options.spec, &collector.targets())?;
        let config = InvokeConfig::new(function.function_name.clone(), function.invoke.clone(), retry_delays);
        pools.insert(function.logical_id.clone(), FunctionPool::with_config(spec, on_report.clone(), config));
    }
    Ok((template, Arc::new(pools)))
}

/// The setting that shortens (or lengthens) the waits between asynchronous retries.
pub(crate) const RETRY_DELAYS_VARIABLE: &str = "INTERCEPT_SAM_ASYNC_RETRY_DELAYS";

/// The waits `INTERCEPT_SAM_ASYNC_RETRY_DELAYS` gives (`1m,2m`, `200ms,400ms`; one value for both),
/// or Lambda's when it is unset.
fn retry_delays_from(value: Option<&str>) -> Result<[Duration; 2], CliError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(LAMBDA_RETRY_DELAYS);
    };
    let parsed: Result<Vec<Duration>, _> = value.split(',').map(|d| humantime::parse_duration(d.trim())).collect();
    match parsed.as_deref() {
        Ok([both]) => Ok([*both, *both]),
        Ok([first, second]) => Ok([*first, *second]),
        _ => Err(CliError(format!(
            "{RETRY_DELAYS_VARIABLE}=`{value}`: expected one or two durations separated by a comma, such as `1m,2m` or `200ms,400ms`"
        ))),
    }
}

/// Starts one environment per function now (`--warm-containers EAGER`), so the first
/// requests find them warm.
///
/// # Errors
/// The first function's init error, named.
pub async fn prewarm(pools: &Pools) -> Result<(), CliError> {
    for pool in pools.values() {
        pool.prewarm().await.map_err(|error| CliError::init_failed(pool.name(), &error))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_default_to_lambdas_and_parse_durations() {
        assert_eq!(retry_delays_from(None).expect("default"), LAMBDA_RETRY_DELAYS);
        assert_eq!(retry_delays_from(Some("")).expect("blank"), LAMBDA_RETRY_DELAYS);
        let short = retry_delays_from(Some("200ms, 1s")).expect("two");
        assert_eq!(short, [Duration::from_millis(200), Duration::from_secs(1)]);
        assert_eq!(retry_delays_from(Some("5s")).expect("one"), [Duration::from_secs(5); 2]);
        for bad in ["soon", "1s,2s,3s", "1s,"] {
            let error = retry_delays_from(Some(bad)).expect_err(bad).0;
            assert!(error.contains(RETRY_DELAYS_VARIABLE) && error.contains(bad), "{error}");
        }
    }
}
