//! The Intercept Lambda extension: receives the function's OTLP telemetry (traces, metrics,
//! logs) on localhost and the platform's events from the Telemetry API, buffers them in a
//! bounded buffer, and flushes them to any OTLP/HTTP endpoint, http or https, without slowing
//! the function.
//!
//! The binary is thin: it binds the OTLP listener and calls [`run`].

mod buffer;
mod config;
pub mod emf;
mod endpoints;
mod export;
mod flush;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod log_scrub;
mod native;
pub mod proxy;
mod receiver;
mod retry;
mod secrets;
mod signal;
mod telemetry;
mod tls;
pub mod xray;

use std::future::IntoFuture as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_extension::{Extension, LambdaEvent, NextEvent, service_fn};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use buffer::{Batch, Buffer, Counts, Taken};
pub use config::{ConfigError, EmfSettings, ExtensionConfig};
pub use endpoints::{Endpoints, Headers};
pub use export::{Exporter, FlushReport};
pub use flush::{AtInvoke, FlushMode, FlushPolicy};
pub use receiver::{InFlight, MAX_REQUEST_BYTES, otlp_router};
pub use secrets::LogSecrets;
pub use signal::{MalformedPayload, Signal};
pub use telemetry::{SCHEMA_VERSIONS, SubscribeError, bind_listener, subscribe, telemetry_router};
pub use tls::{TlsError, TrustedCertificates};

/// Any error that stops the extension.
pub type Error = lambda_extension::Error;

/// The longest an end-of-invocation flush may take, retries included (a dead collector costs
/// at most this much of the invocation, and never more than the time the invocation has left).
const END_FLUSH_BUDGET: Duration = Duration::from_millis(1_000);
/// The longest a background flush may take.
const BACKGROUND_FLUSH_BUDGET: Duration = Duration::from_millis(2_000);
/// Kept free before SHUTDOWN's deadline so the final log line is written before SIGKILL.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(100);
/// How long SHUTDOWN waits for OTLP requests the runtime was still sending.
const SHUTDOWN_DRAIN: Duration = Duration::from_millis(200);
/// How long before an invocation's deadline the extension flushes whatever it holds, so a
/// function that then times out still has its telemetry delivered. The invocation's span is
/// closed earlier still (`intercept::telemetry::TIMEOUT_MARGIN`, 150 ms), and reaches this buffer within a
/// few milliseconds; this flush then has 90 ms to deliver.
pub const DEADLINE_FLUSH_MARGIN: Duration = Duration::from_millis(100);
/// Kept free after the deadline flush, so it ends before Lambda stops the environment.
const DEADLINE_SLACK: Duration = Duration::from_millis(10);

/// Runs the extension: serves OTLP on `otlp_listener`, registers with the Extensions API,
/// subscribes to the Telemetry API, and flushes as `config.flush` says until SHUTDOWN. The
/// function's log lines are scrubbed with `log_secrets` (which the Runtime API proxy fills)
/// before they become OTLP log records.
///
/// # Errors
/// When registration with the Extensions API fails or the TLS configuration cannot be built.
pub async fn run(
    otlp_listener: TcpListener,
    config: ExtensionConfig,
    log_secrets: Arc<LogSecrets>,
) -> Result<(), Error> {
    // The Telemetry API destination: all interfaces on Lambda, loopback under an emulator (see
    // `bind_listener`); bound while registration goes on.
    let telemetry_listener = tokio::spawn(telemetry::bind_listener());
    let buffer = Arc::new(Buffer::new(config.buffer_bytes));
    let exporter = Exporter::new(&config, buffer.clone())?;
    let (xray, emf) = exporter.native_exporters();
    for signal in Signal::ALL {
        let native = match signal {
            Signal::Traces => xray,
            Signal::Metrics => emf,
            Signal::Logs => false,
        };
        if config.endpoints.get(signal).is_some() || native {
            continue;
        }
        if signal == Signal::Logs {
            // The function's own output reaches CloudWatch Logs through Lambda regardless.
            tracing::debug!(%signal, "no OTLP endpoint for logs: OTLP log records are not exported");
        } else {
            tracing::warn!(%signal, "no exporter for this signal (no OTLP endpoint): its data is discarded");
        }
    }
    let in_flight = InFlight::default();
    tokio::spawn(
        axum::serve(otlp_listener, otlp_router(buffer.clone(), in_flight.clone(), log_secrets.clone())).into_future(),
    );

    let (runtime_done, runtime_done_rx) = watch::channel(String::new());
    let destination =
        telemetry_router(buffer.clone(), runtime_done, &config.service_name, &config.function_name, log_secrets);

    let policy = Arc::new(Mutex::new(FlushPolicy::new(config.flush)));
    if let Some(interval) = lock(&policy).background_interval() {
        tokio::spawn(background_flusher(exporter.clone(), buffer.clone(), policy.clone(), interval));
    }

    let subscribed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shutdown = Arc::new(Notify::new());
    // Counts INVOKE events, so a deadline flush knows a newer invocation began (this one ended).
    let invocations = Arc::new(AtomicU64::new(0));
    let processor = {
        let subscribed = subscribed.clone();
        let shutdown = shutdown.clone();
        service_fn(move |event: LambdaEvent| {
            let exporter = exporter.clone();
            let buffer = buffer.clone();
            let mut runtime_done = runtime_done_rx.clone();
            let subscribed = subscribed.load(std::sync::atomic::Ordering::Relaxed);
            let shutdown = shutdown.clone();
            let in_flight = in_flight.clone();
            let invocations = invocations.clone();
            let at_invoke = match &event.next {
                NextEvent::Invoke(_) => Some(lock(&policy).on_invoke(Instant::now())),
                NextEvent::Shutdown(_) => None,
            };
            async move {
                match event.next {
                    NextEvent::Invoke(invoke) => {
                        let sequence = invocations.fetch_add(1, Ordering::Relaxed) + 1;
                        if !invoke.tracing.value.is_empty() {
                            exporter.remember_trace(&invoke.tracing.value);
                        }
                        if at_invoke != Some(AtInvoke::FlushAtEnd) {
                            // Call `next` at once: the function's post-runtime time stays near zero.
                            // A function still running near its deadline gets a flush then.
                            let this =
                                Invocation { sequence, request_id: invoke.request_id, deadline_ms: invoke.deadline_ms };
                            tokio::spawn(deadline_flush(exporter, buffer, runtime_done, invocations, this));
                            return Ok(());
                        }
                        let left = until(invoke.deadline_ms, DEADLINE_FLUSH_MARGIN);
                        // The function sends its spans before it asks for the next event, which is
                        // when Lambda reports runtimeDone: flushing then sends this invocation's spans.
                        if subscribed {
                            let done = runtime_done.wait_for(|id| *id == invoke.request_id);
                            if tokio::time::timeout(left, done).await.is_err() {
                                tracing::debug!(request_id = %invoke.request_id, "no runtimeDone before the deadline; flushing anyway");
                            }
                        }
                        let budget = END_FLUSH_BUDGET.min(until(invoke.deadline_ms, DEADLINE_SLACK));
                        let report = exporter.flush(Instant::now() + budget, false).await;
                        health::log_flush("end", &report, &buffer);
                    }
                    NextEvent::Shutdown(event) => {
                        tracing::debug!(reason = ?event.shutdown_reason, "shutting down");
                        let drain_until = Instant::now() + SHUTDOWN_DRAIN;
                        while in_flight.count() > 0 && Instant::now() < drain_until {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                        let left = until(event.deadline_ms, SHUTDOWN_MARGIN);
                        let report = exporter.flush(Instant::now() + left, true).await;
                        health::log_flush("shutdown", &report, &buffer);
                        health::log_last_line(&buffer);
                        shutdown.notify_one();
                    }
                }
                Ok::<(), Error>(())
            }
        })
    };
    let registered =
        Extension::new().with_events(&["INVOKE", "SHUTDOWN"]).with_events_processor(processor).register().await?;
    let telemetry_listener = telemetry_listener.await.map_err(std::io::Error::other)??;
    let telemetry_port = telemetry_listener.local_addr()?.port();
    tokio::spawn(axum::serve(telemetry_listener, destination).into_future());
    let runtime_api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    match telemetry::subscribe(&runtime_api, &registered.extension_id, telemetry_port).await {
        Ok(version) => {
            tracing::debug!(schema = version, "subscribed to the Telemetry API");
            subscribed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Err(error) => {
            tracing::warn!(%error, "no Telemetry API: no platform telemetry, flushing without waiting for runtimeDone")
        }
    }
    tokio::select! {
        result = registered.run() => result,
        () = shutdown.notified() => Ok(()),
    }
}

/// Flushes every `interval` while the policy says so. Timers do not run while the environment
/// is frozen; a flush due during the freeze runs as soon as the next invocation thaws it.
async fn background_flusher(
    exporter: Exporter,
    buffer: Arc<Buffer>,
    policy: Arc<Mutex<FlushPolicy>>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if lock(&policy).background_active() && exporter.has_pending() {
            let report = exporter.flush(Instant::now() + BACKGROUND_FLUSH_BUDGET, false).await;
            health::log_flush("background", &report, &buffer);
        }
    }
}

/// The invocation a deadline flush watches.
struct Invocation {
    /// Its place among INVOKE events.
    sequence: u64,
    request_id: String,
    deadline_ms: u64,
}

/// Flushes shortly before an invocation's deadline unless it ended first: Lambda reported it
/// done (`runtimeDone`), or a newer invocation began. A function that times out keeps the
/// telemetry it sent (its span closed with a timeout status). A timer that fires late (the
/// environment was frozen in between) does nothing.
async fn deadline_flush(
    exporter: Exporter,
    buffer: Arc<Buffer>,
    mut runtime_done: watch::Receiver<String>,
    invocations: Arc<AtomicU64>,
    this: Invocation,
) {
    let left = until(this.deadline_ms, DEADLINE_FLUSH_MARGIN);
    if left.is_zero() {
        return;
    }
    let done = runtime_done.wait_for(|id| *id == this.request_id);
    if matches!(tokio::time::timeout(left, done).await, Ok(Ok(_))) {
        return;
    }
    let late = until(this.deadline_ms, DEADLINE_SLACK).is_zero();
    let newer = invocations.load(Ordering::Relaxed) != this.sequence;
    if late || newer || !exporter.has_pending() {
        return;
    }
    let report = exporter.flush(Instant::now() + until(this.deadline_ms, DEADLINE_SLACK), false).await;
    health::log_flush("deadline", &report, &buffer);
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Time left until `margin` before an epoch-milliseconds deadline (zero when past it).
fn until(deadline_ms: u64, margin: Duration) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Duration::from_millis(deadline_ms.saturating_sub(now)).saturating_sub(margin)
}
