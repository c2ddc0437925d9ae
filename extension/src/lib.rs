//! The Intercept Lambda extension: receives the function's OTLP telemetry on localhost, buffers
//! it, and flushes it to the configured collector at the end of each invocation and at shutdown.
//!
//! The binary is thin: it binds the OTLP listener and calls [`run`].

mod buffer;
mod config;
mod export;
mod receiver;
mod subscription;

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_extension::{Extension, LambdaEvent, NextEvent, service_fn};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use buffer::Buffer;
pub use config::{ConfigError, ExtensionConfig};
pub use export::Exporter;
pub use receiver::{MAX_REQUEST_BYTES, otlp_router, telemetry_router};

/// Any error that stops the extension.
pub type Error = lambda_extension::Error;

/// How long one flush attempt may take, so a dead collector never holds the environment.
const FLUSH_TIMEOUT: Duration = Duration::from_millis(500);

/// Runs the extension: serves OTLP on `otlp_listener`, registers with the Extensions API,
/// subscribes to the Telemetry API, and flushes after each invocation until SHUTDOWN.
///
/// # Errors
/// When registration with the Extensions API fails or the HTTP client cannot be built.
pub async fn run(otlp_listener: TcpListener, config: ExtensionConfig) -> Result<(), Error> {
    let buffer = Arc::new(Buffer::new(config.buffer_bytes));
    let exporter = Exporter::new(
        config.traces_endpoint.clone(),
        buffer.clone(),
        FLUSH_TIMEOUT,
    )?;
    tokio::spawn(axum::serve(otlp_listener, otlp_router(buffer)).into_future());

    let telemetry_listener = subscription::bind_listener().await?;
    let telemetry_port = telemetry_listener.local_addr()?.port();
    let (runtime_done, runtime_done_rx) = watch::channel(String::new());
    tokio::spawn(axum::serve(telemetry_listener, telemetry_router(runtime_done)).into_future());

    let subscribed = Arc::new(AtomicBool::new(false));
    let shutdown = Arc::new(Notify::new());
    let processor = {
        let subscribed = subscribed.clone();
        let shutdown = shutdown.clone();
        service_fn(move |event: LambdaEvent| {
            let exporter = exporter.clone();
            let mut runtime_done = runtime_done_rx.clone();
            let subscribed = subscribed.load(Ordering::Relaxed);
            let shutdown = shutdown.clone();
            async move {
                match event.next {
                    NextEvent::Invoke(invoke) => {
                        // The function sends its spans before it asks for the next event, which is
                        // when Lambda reports runtimeDone: flushing then sends this invocation's spans.
                        if subscribed {
                            let wait = until(invoke.deadline_ms);
                            let done = runtime_done.wait_for(|id| *id == invoke.request_id);
                            if tokio::time::timeout(wait, done).await.is_err() {
                                tracing::warn!(request_id = %invoke.request_id, "no runtimeDone before the deadline; flushing anyway");
                            }
                        }
                        exporter.flush().await;
                    }
                    NextEvent::Shutdown(event) => {
                        tracing::debug!(reason = ?event.shutdown_reason, "shutting down");
                        let _ =
                            tokio::time::timeout(until(event.deadline_ms), exporter.flush()).await;
                        shutdown.notify_one();
                    }
                }
                Ok::<(), Error>(())
            }
        })
    };
    let registered = Extension::new()
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(processor)
        .register()
        .await?;
    match subscription::subscribe(&registered.extension_id, telemetry_port).await {
        Ok(()) => subscribed.store(true, Ordering::Relaxed),
        Err(error) => {
            tracing::warn!(%error, "no Telemetry API: flushing at the start of the next invocation instead")
        }
    }
    tokio::select! {
        result = registered.run() => result,
        () = shutdown.notified() => Ok(()),
    }
}

/// Time left until an epoch-milliseconds deadline, less a margin for the flush itself.
fn until(deadline_ms: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Duration::from_millis(deadline_ms.saturating_sub(now).saturating_sub(50))
}
