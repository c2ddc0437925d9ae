//! Warm environments for one function: an idle one is reused, and when every one is busy a new
//! one starts (a cold start), as Lambda scales out for overlapping invocations.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::sandbox::{Environment, ErrorDocument, FunctionSpec, Invoked, Outcome, Request, ShutdownReason};
use crate::template::InvokeSettings;

/// Called with every finished invocation (for REPORT lines and traces).
pub type ReportSink = Arc<dyn Fn(&Invoked) + Send + Sync>;

/// The environments of one function.
pub struct FunctionPool {
    spec: FunctionSpec,
    idle: Mutex<Vec<Environment>>,
    /// Environments whose invoke phase is ending; a caller may wait for one briefly.
    finishing: tokio::sync::watch::Sender<usize>,
    /// Bumped when the function's code changes: older environments are not reused.
    generation: AtomicU64,
    on_report: ReportSink,
    /// How the Invoke API names and limits this function.
    invoke: InvokeConfig,
    /// Invocations running now (concurrent executions).
    in_flight: AtomicU32,
}

/// What the Invoke API knows of a function besides its environments: its `FunctionName`, the
/// template's settings (aliases, reserved concurrency, asynchronous retries and destinations),
/// and the waits between asynchronous retries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvokeConfig {
    /// `FunctionName`, when the template sets one.
    pub function_name: Option<String>,
    /// The template's settings.
    pub settings: InvokeSettings,
    /// The waits before the first and second retry of a failed asynchronous invocation.
    pub retry_delays: [Duration; 2],
}

/// Lambda's waits between the attempts of a failed asynchronous invocation: one minute, then two.
pub(crate) const LAMBDA_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

impl Default for InvokeConfig {
    fn default() -> Self {
        InvokeConfig { function_name: None, settings: InvokeSettings::default(), retry_delays: LAMBDA_RETRY_DELAYS }
    }
}

impl InvokeConfig {
    /// The configuration of a function with these settings.
    #[must_use]
    pub fn new(function_name: Option<String>, settings: InvokeSettings, retry_delays: [Duration; 2]) -> Self {
        InvokeConfig { function_name, settings, retry_delays }
    }
}

/// One concurrent execution of a function, counted until it drops (at the end of the
/// invocation's invoke phase).
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<FunctionPool>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pool.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a caller waits for an environment that is finishing its invoke phase before
/// starting a new one: far less than a cold start, and long enough for a phase without
/// extensions to end (which takes Lambda microseconds).
const FINISHING_WAIT: Duration = Duration::from_millis(5);

impl std::fmt::Debug for FunctionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionPool").field("function", &self.spec.name).field("idle", &self.idle_count()).finish()
    }
}

/// An invocation run to the end of its invoke phase, with its logs.
#[derive(Debug)]
pub struct Completed {
    /// The outcome and report.
    pub invoked: Invoked,
    /// The environment's log lines during the invocation (the last 4 KB).
    pub log_tail: String,
}

impl FunctionPool {
    /// A pool that starts environments from `spec` as they are needed.
    #[must_use]
    pub fn new(spec: FunctionSpec, on_report: ReportSink) -> Arc<Self> {
        Self::with_config(spec, on_report, InvokeConfig::default())
    }

    /// A pool with the Invoke API's configuration of its function.
    #[must_use]
    pub fn with_config(spec: FunctionSpec, on_report: ReportSink, invoke: InvokeConfig) -> Arc<Self> {
        Arc::new(FunctionPool {
            spec,
            idle: Mutex::new(Vec::new()),
            finishing: tokio::sync::watch::channel(0).0,
            generation: AtomicU64::new(0),
            on_report,
            invoke,
            in_flight: AtomicU32::new(0),
        })
    }

    /// The region the function runs in (`AWS_REGION`).
    #[must_use]
    pub fn region(&self) -> &str {
        &self.spec.region
    }

    /// The Invoke API's configuration of the function.
    #[must_use]
    pub fn config(&self) -> &InvokeConfig {
        &self.invoke
    }

    /// Invocations running now.
    #[must_use]
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Counts one more concurrent execution, unless the function's reserved concurrency is
    /// taken (`None`: Lambda would throttle the invocation).
    #[must_use]
    pub fn try_reserve(self: &Arc<Self>) -> Option<Reservation> {
        let limit = self.invoke.settings.reserved_concurrency.unwrap_or(u32::MAX);
        self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).ok()?;
        Some(Reservation { pool: self.clone() })
    }

    /// Counts one more concurrent execution whatever the limit (API Gateway's and function
    /// URLs' invocations, which are counted but not throttled here).
    fn reserve(self: &Arc<Self>) -> Reservation {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Reservation { pool: self.clone() }
    }

    /// The function's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Environments idle and warm right now.
    #[must_use]
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    fn take_idle(&self) -> Option<Environment> {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop()
    }

    async fn take_environment(&self) -> Result<Environment, ErrorDocument> {
        if let Some(environment) = self.take_idle() {
            return Ok(environment);
        }
        if *self.finishing.borrow() > 0 {
            let mut finishing = self.finishing.subscribe();
            let deadline = tokio::time::Instant::now() + FINISHING_WAIT;
            while tokio::time::timeout_at(deadline, finishing.changed()).await.is_ok_and(|changed| changed.is_ok()) {
                if let Some(environment) = self.take_idle() {
                    return Ok(environment);
                }
            }
        }
        Environment::start(self.spec.clone()).await
    }

    /// Invokes the function and answers as soon as the runtime has: the invoke phase finishes
    /// in the background, and the environment goes back to the pool (or is shut down after a
    /// timeout or crash).
    ///
    /// # Errors
    /// The init error when a new environment cannot start.
    pub async fn invoke(self: &Arc<Self>, request: Request) -> Result<Outcome, ErrorDocument> {
        let reservation = self.reserve();
        self.invoke_reserved(request, reservation).await
    }

    /// [`FunctionPool::invoke`] within a reservation from [`FunctionPool::try_reserve`], held
    /// until the invoke phase ends.
    ///
    /// # Errors
    /// The init error when a new environment cannot start.
    pub async fn invoke_reserved(
        self: &Arc<Self>,
        request: Request,
        reservation: Reservation,
    ) -> Result<Outcome, ErrorDocument> {
        let (responded, response) = oneshot::channel();
        let _finishing = self.run(request, Some(responded), reservation).await?;
        response.await.map_err(|_| ErrorDocument::new("Sandbox.Failure", "the environment ended without an answer"))
    }

    /// Invokes the function and waits for the end of the invoke phase (for `Tail` logs).
    ///
    /// # Errors
    /// The init error when a new environment cannot start.
    pub async fn invoke_to_end(self: &Arc<Self>, request: Request) -> Result<Completed, ErrorDocument> {
        let reservation = self.reserve();
        self.invoke_to_end_reserved(request, reservation).await
    }

    /// [`FunctionPool::invoke_to_end`] within a reservation from [`FunctionPool::try_reserve`].
    ///
    /// # Errors
    /// The init error when a new environment cannot start.
    pub async fn invoke_to_end_reserved(
        self: &Arc<Self>,
        request: Request,
        reservation: Reservation,
    ) -> Result<Completed, ErrorDocument> {
        let finishing = self.run(request, None, reservation).await?;
        finishing.await.map_err(|e| ErrorDocument::new("Sandbox.Failure", e.to_string()))
    }

    async fn run(
        self: &Arc<Self>,
        request: Request,
        responded: Option<oneshot::Sender<Outcome>>,
        reservation: Reservation,
    ) -> Result<tokio::task::JoinHandle<Completed>, ErrorDocument> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut environment = self.take_environment().await?;
        let pool = self.clone();
        Ok(tokio::spawn(async move {
            pool.finishing.send_modify(|n| *n += 1);
            let invoked = environment.invoke_with(request, responded).await;
            let log_tail = environment.log_tail();
            (pool.on_report)(&invoked);
            // The invoke phase is over: the execution no longer counts against the concurrency.
            drop(reservation);
            if environment.is_reusable() && generation == pool.generation.load(Ordering::Acquire) {
                pool.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(environment);
                pool.finishing.send_modify(|n| *n -= 1);
            } else {
                pool.finishing.send_modify(|n| *n -= 1);
                let reason = environment.shutdown_reason();
                environment.shutdown(reason).await;
            }
            Completed { invoked, log_tail }
        }))
    }

    /// Starts an environment now and keeps it idle.
    ///
    /// # Errors
    /// Its init error.
    pub async fn prewarm(&self) -> Result<(), ErrorDocument> {
        let environment = Environment::start(self.spec.clone()).await?;
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(environment);
        Ok(())
    }

    /// Retires every environment of the old code: idle ones shut down now, busy ones when
    /// they finish; the next invocation starts a fresh one (for watch mode).
    pub async fn restart(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.shutdown().await;
    }

    /// Shuts every idle environment down.
    pub async fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for environment in idle {
            environment.shutdown(ShutdownReason::Spindown).await;
        }
    }
}
