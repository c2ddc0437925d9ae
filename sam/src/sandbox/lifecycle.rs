//! The environment's lifecycle: init, invoke (with freeze between invocations), shutdown.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::serve::ListenerExt as _;
use bytes::Bytes;
use rand::Rng as _;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::isolation::Isolation;
use super::process::{Process, Role, peak_memory_kb};
use super::report::{Invoked, Report, ReportStatus, milliseconds};
use super::spec::{FunctionSpec, extension_names};
use super::state::{ErrorDocument, FunctionInfo, Outcome, PendingInvoke, Shared};
use super::stream::StreamSink;
use super::{epoch_ms, extensions_api, new_uuid, runtime_api, telemetry_api};

/// Lambda's limit on the init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// Shutdown budget with external extensions, and the runtime's share of it.
const SHUTDOWN_BUDGET: Duration = Duration::from_millis(2000);
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(300);

/// One invocation's input.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// The event.
    pub event: Bytes,
    /// The client context JSON (`X-Amz-Client-Context`, decoded), for `Lambda-Runtime-Client-Context`.
    pub client_context: Option<String>,
    /// Where a streamed response goes as the function writes it (see [`response_stream`]); without
    /// one, a streamed response is collected into the outcome.
    ///
    /// [`response_stream`]: super::response_stream
    pub stream: Option<StreamSink>,
}

impl Request {
    /// A request carrying only an event.
    #[must_use]
    pub fn new(event: Bytes) -> Self {
        Request { event, client_context: None, stream: None }
    }
}

/// Why an environment is shut down, as `SHUTDOWN` events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// Idle or finished.
    Spindown,
    /// An invocation timed out.
    Timeout,
    /// The runtime crashed or init failed.
    Failure,
}

impl ShutdownReason {
    fn as_str(self) -> &'static str {
        match self {
            ShutdownReason::Spindown => "spindown",
            ShutdownReason::Timeout => "timeout",
            ShutdownReason::Failure => "failure",
        }
    }
}

/// A running execution environment.
#[derive(Debug)]
pub struct Environment {
    shared: Arc<Shared>,
    spec: FunctionSpec,
    api_addr: SocketAddr,
    /// The processes' variables (Lambda's, then the function's).
    variables: Vec<(String, String)>,
    /// `None` until the runtime is started (and after an init that timed out).
    runtime: Option<Process>,
    extensions: Vec<Process>,
    init_duration: Option<Duration>,
    /// Set when the init phase timed out: the first invocation runs init again, under the
    /// function's timeout, as Lambda's "suppressed init" does.
    init_again: bool,
    broken: Option<ShutdownReason>,
    frozen: bool,
    isolation: Isolation,
    server: tokio::task::JoinHandle<()>,
}

fn kill_all(processes: &[Process]) {
    for process in processes {
        process.kill();
    }
}

/// Why an init attempt did not finish.
enum InitFailure {
    /// It ran past its limit.
    TimedOut,
    /// The runtime or an extension failed (the document says how).
    Failed(ErrorDocument),
}

impl Environment {
    /// Runs the init phase: starts the APIs, the extensions (and waits for each to register
    /// and ask for its first event), then the runtime (and waits for its first `next`).
    ///
    /// When the phase runs past Lambda's 10 s limit the environment is reset and returned: its
    /// first invocation runs init again within the function's timeout, as Lambda does.
    ///
    /// # Errors
    /// The init error as Lambda would report it: `Runtime.ExitError`, the runtime's own
    /// `/init/error`, or `Extension.*`.
    pub async fn start(spec: FunctionSpec) -> Result<Environment, ErrorDocument> {
        let started = Instant::now();
        let sandbox_failure = |e: std::io::Error| ErrorDocument::new("Sandbox.Failure", e.to_string());
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(sandbox_failure)?;
        let api_addr = listener.local_addr().map_err(sandbox_failure)?;
        let shared = Shared::new(FunctionInfo {
            name: spec.name.clone(),
            version: "$LATEST".to_owned(),
            handler: spec.handler.clone(),
            arn: format!("arn:aws:lambda:{}:{}:function:{}", spec.region, spec.account_id, spec.name),
            account_id: spec.account_id.clone(),
        });
        let app = Router::new()
            .merge(runtime_api::routes())
            .merge(extensions_api::routes())
            .merge(telemetry_api::routes())
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).into_future().await;
        });
        // What the processes use by its host path must stay visible inside the namespace.
        let host_paths: Vec<PathBuf> = std::iter::once(spec.bootstrap.clone())
            .chain(spec.bootstrap_args.iter().filter(|a| a.starts_with('/')).map(PathBuf::from))
            .chain(spec.environment.values().filter(|v| v.starts_with('/')).map(PathBuf::from))
            .collect();
        // Layers are copied and a cgroup made: file work that must not hold up the event loop.
        let (code_dir, layer_dirs, memory_mb, isolate) =
            (spec.code_dir.clone(), spec.layer_dirs.clone(), spec.memory_mb, spec.isolate);
        let isolation = tokio::task::spawn_blocking(move || {
            Isolation::prepare(&code_dir, &layer_dirs, memory_mb, isolate, &host_paths)
        })
        .await
        .map_err(|e| ErrorDocument::new("Sandbox.Failure", e.to_string()))?
        .map_err(sandbox_failure)?;
        let variables = spec.environment(api_addr, &isolation);
        let mut environment = Environment {
            shared,
            spec,
            api_addr,
            variables,
            runtime: None,
            extensions: Vec::new(),
            init_duration: None,
            init_again: false,
            broken: None,
            frozen: false,
            isolation,
            server,
        };
        match environment.launch(started, INIT_LIMIT).await {
            Ok(()) => {
                environment.init_duration = Some(started.elapsed());
                environment.freeze_if_asked().await;
                Ok(environment)
            }
            Err(InitFailure::TimedOut) => {
                environment.shared.platform_line(&format!(
                    "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout",
                    milliseconds(started.elapsed())
                ));
                environment.reset().await;
                environment.init_again = true;
                Ok(environment)
            }
            Err(InitFailure::Failed(document)) => {
                environment.shutdown(ShutdownReason::Failure).await;
                Err(document)
            }
        }
    }

    /// Starts the extensions and the runtime and waits, until `started + limit` at most, for
    /// each to be ready: every extension registered and asked for its first event, then the
    /// runtime asked for its first event. The processes started are kept, whatever happens.
    async fn launch(&mut self, started: Instant, limit: Duration) -> Result<(), InitFailure> {
        let shared = self.shared.clone();
        let time_left = || limit.saturating_sub(started.elapsed());
        shared.telemetry.emit(
            "platform",
            "platform.initStart",
            json!({
                "initializationType": "on-demand", "phase": "init", "runtimeVersion": self.spec.runtime,
                "functionName": self.spec.name, "functionVersion": "$LATEST",
            }),
        );
        let isolation = &self.isolation;
        for name in extension_names(isolation.opt_on_host()) {
            let program = isolation.opt().join("extensions").join(&name);
            match Process::spawn(&shared, Role::Extension, &program, &[], &isolation.opt(), &self.variables, isolation)
            {
                Ok(process) => self.extensions.push(process),
                Err(e) => {
                    return Err(InitFailure::Failed(ErrorDocument::new(
                        "Extension.LaunchError",
                        format!("{}: {e}", program.display()),
                    )));
                }
            }
        }
        let (launched, extensions) = (self.extensions.len(), &self.extensions);
        let registered = tokio::time::timeout(
            time_left(),
            shared.wait_for(|state| {
                if let Some(gone) = extensions.iter().find(|p| state.exited.contains_key(&p.pid)) {
                    return Some(Err(ErrorDocument::new(
                        "Extension.Crash",
                        format!("extension {} exited during init: {}", gone.name, state.exited[&gone.pid]),
                    )));
                }
                if let Some(failed) = state.extensions.iter().find_map(|e| e.error.clone()) {
                    return Some(Err(failed));
                }
                let ready = state.extensions.len() >= launched && state.extensions.iter().all(|e| e.next_calls >= 1);
                ready.then_some(Ok(()))
            }),
        )
        .await
        .map_err(|_| InitFailure::TimedOut)?;
        registered.map_err(InitFailure::Failed)?;

        shared.update(|state| state.runtime_started = true);
        let (program, args) = self.spec.runtime_command(isolation);
        let runtime =
            Process::spawn(&shared, Role::Runtime, &program, &args, &isolation.task_root(), &self.variables, isolation)
                .map_err(|e| {
                    InitFailure::Failed(ErrorDocument::new(
                        "Runtime.InvalidEntrypoint",
                        format!("{}: {e}", program.display()),
                    ))
                })?;
        let runtime_pid = runtime.pid;
        self.runtime = Some(runtime);
        let ready = tokio::time::timeout(
            time_left(),
            shared.wait_for(|state| {
                if let Some(error) = &state.init_error {
                    return Some(Err(error.clone()));
                }
                if let Some(status) = state.exited.get(&runtime_pid) {
                    return Some(Err(ErrorDocument::new(
                        "Runtime.ExitError",
                        format!("Runtime exited during init: {status}"),
                    )));
                }
                let extensions_ready = state.extensions.iter().all(|e| e.next_calls >= 1);
                (state.runtime_next_calls >= 1 && extensions_ready).then_some(Ok(()))
            }),
        )
        .await
        .map_err(|_| InitFailure::TimedOut)?;
        ready.map_err(InitFailure::Failed)?;
        let telemetry = &shared.telemetry;
        let init = json!({ "initializationType": "on-demand", "phase": "init", "status": "success" });
        telemetry.emit("platform", "platform.initRuntimeDone", init.clone());
        let mut report = init;
        report["metrics"] = json!({ "durationMs": milliseconds(started.elapsed()) });
        telemetry.emit("platform", "platform.initReport", report);
        telemetry.end_init();
        Ok(())
    }

    /// Resets the environment after an init that did not finish: its processes are killed and
    /// the APIs forget them, ready for init to run again.
    async fn reset(&mut self) {
        let processes: Vec<Process> = self.runtime.take().into_iter().chain(self.extensions.drain(..)).collect();
        kill_all(&processes);
        let pids: Vec<u32> = processes.iter().map(|p| p.pid).collect();
        let _ = tokio::time::timeout(
            Duration::from_millis(500),
            self.shared.wait_for(|s| pids.iter().all(|pid| s.exited.contains_key(pid)).then_some(())),
        )
        .await;
        self.shared.reset_for_init();
    }

    /// The Runtime API's `host:port`.
    #[must_use]
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Whether the environment can take another invocation (it cannot after a timeout or crash).
    #[must_use]
    pub fn is_reusable(&self) -> bool {
        self.broken.is_none()
    }

    /// How the environment must be shut down: `Spindown` while reusable, else `Timeout` or
    /// `Failure` for what broke it.
    #[must_use]
    pub fn shutdown_reason(&self) -> ShutdownReason {
        self.broken.unwrap_or(ShutdownReason::Spindown)
    }

    /// Whether `MemorySize` is enforced (a memory cgroup could be made).
    #[must_use]
    pub fn enforces_memory(&self) -> bool {
        self.isolation.enforces_memory()
    }

    /// Runs one invocation: thaw, INVOKE to the extensions, the event to the runtime, the
    /// response back, the end of the invoke phase (the runtime and every extension called
    /// `next`), then freeze.
    pub async fn invoke(&mut self, event: Bytes) -> Invoked {
        self.invoke_with(Request::new(event), None).await
    }

    /// Runs one invocation like [`Environment::invoke`], and sends its outcome on `responded`
    /// as soon as the runtime has answered, as Lambda answers the caller before the invoke
    /// phase ends (extensions may still be working).
    pub async fn invoke_with(&mut self, request: Request, mut responded: Option<oneshot::Sender<Outcome>>) -> Invoked {
        let Request { event, client_context, stream } = request;
        let _ = self.shared.take_log_tail();
        self.thaw();
        let started = Instant::now();
        let request_id = new_uuid();
        let deadline = SystemTime::now() + self.spec.timeout;
        let deadline_ms = epoch_ms(deadline);
        let ids: [u8; 20] = rand::rng().random();
        let trace_header = format!(
            "Root=1-{:08x}-{};Parent={};Sampled=1",
            epoch_ms(SystemTime::now()) / 1000,
            hex::encode(&ids[..12]),
            hex::encode(&ids[12..])
        );
        let shared = self.shared.clone();
        shared.platform_line(&format!("START RequestId: {request_id} Version: $LATEST"));
        let time_left = || deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
        let mut peak_memory = None;
        let mut extension_baselines = Vec::new();
        let outcome = match self.init_again_within(time_left()).await {
            Err(outcome) => outcome,
            Ok(()) => {
                let runtime_baseline = shared.update(|state| {
                    state.invocations.insert(request_id.clone(), None);
                    if let Some(stream) = stream {
                        state.streams.insert(request_id.clone(), stream);
                    }
                    state.runtime_next_calls
                });
                // platform.start is queued before the runtime can see the event, so that no line the
                // function writes for this invocation reaches a Telemetry API subscriber before it
                // (Lambda's order; the extension attributes function lines to the last start).
                shared.telemetry.emit(
                    "platform",
                    "platform.start",
                    json!({
                        "requestId": request_id, "version": "$LATEST",
                        "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_header },
                    }),
                );
                // The event goes to the runtime first: it is on the caller's path, INVOKE is not.
                let event_bytes = event.len();
                let _ = shared.runtime_queue.send(PendingInvoke {
                    request_id: request_id.clone(),
                    body: event,
                    deadline_ms,
                    trace_header: trace_header.clone(),
                    client_context,
                });
                extension_baselines = shared.update(|state| {
                    let invoke = || {
                        json!({
                            "eventType": "INVOKE", "deadlineMs": deadline_ms, "requestId": request_id,
                            "invokedFunctionArn": shared.function.arn,
                            "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_header },
                        })
                    };
                    state
                        .extensions
                        .iter()
                        .filter(|e| e.events.iter().any(|t| t == "INVOKE"))
                        .map(|e| {
                            let _ = e.queue.send(invoke());
                            (e.id.clone(), e.next_calls)
                        })
                        .collect::<Vec<(String, u64)>>()
                });
                tracing::debug!(event_bytes, "event sent");
                let runtime_pid = self.runtime.as_ref().map_or(0, |runtime| runtime.pid);
                let answered = tokio::time::timeout(
                    time_left(),
                    shared.wait_for(|state| {
                        if let Some(Some(outcome)) = state.invocations.get(&request_id) {
                            return Some(Ok(outcome.clone()));
                        }
                        state.exited.get(&runtime_pid).map(|status| Err(status.clone()))
                    }),
                )
                .await;
                match answered {
                    Ok(Ok(outcome)) => {
                        if extension_baselines.is_empty() {
                            // Without extensions the phase ends when the runtime asks for its next
                            // event, and it does no more work for this invocation: read its peak meanwhile.
                            peak_memory = Some(self.read_peak_memory());
                        }
                        if let Some(responded) = responded.take() {
                            let _ = responded.send(outcome.clone());
                        }
                        // The runtime is done with this invocation when it asks for the next one.
                        let done = tokio::time::timeout(
                            time_left(),
                            shared.wait_for(|state| {
                                (state.runtime_next_calls > runtime_baseline || state.exited.contains_key(&runtime_pid))
                                    .then_some(())
                            }),
                        )
                        .await;
                        if done.is_ok() { outcome } else { self.timed_out() }
                    }
                    Ok(Err(status)) => {
                        self.broken = Some(ShutdownReason::Failure);
                        let error_type =
                            if self.isolation.oom_killed() { "Runtime.OutOfMemory" } else { "Runtime.ExitError" };
                        Outcome::Error(ErrorDocument::new(
                            error_type,
                            format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                        ))
                    }
                    Err(_) => self.timed_out(),
                }
            }
        };
        // A caller still waiting for a stream (the runtime crashed or timed out before it wrote
        // one) reads the outcome instead.
        shared.update(|state| state.streams.remove(&request_id));
        if let Some(responded) = responded {
            let _ = responded.send(outcome.clone());
        }
        let status = match (&outcome, self.broken) {
            (_, Some(ShutdownReason::Timeout)) => "timeout",
            (_, Some(_)) => "failure",
            (Outcome::Error(_), None) => "error",
            (Outcome::Response(_), None) => "success",
        };
        let produced_bytes = match &outcome {
            Outcome::Response(body) => body.len(),
            Outcome::Error(_) => 0,
        };
        shared.telemetry.emit(
            "platform",
            "platform.runtimeDone",
            json!({
                "requestId": request_id, "status": status,
                "metrics": { "durationMs": milliseconds(started.elapsed()), "producedBytes": produced_bytes },
            }),
        );
        if self.broken.is_none() {
            // Extensions may work on until the deadline; the invoke phase ends when all called `next`.
            let _ = tokio::time::timeout(
                time_left(),
                shared.wait_for(|state| {
                    let all = extension_baselines.iter().all(|(id, baseline)| {
                        state.extensions.iter().find(|e| &e.id == id).is_none_or(|e| e.next_calls > *baseline)
                    });
                    all.then_some(())
                }),
            )
            .await;
        }
        let (duration, report_status) = match (self.broken, &outcome) {
            // Lambda reports a timed-out invocation as lasting exactly the timeout.
            (Some(ShutdownReason::Timeout), _) => {
                (started.elapsed().min(self.spec.timeout), Some(ReportStatus::Timeout))
            }
            (Some(_), Outcome::Error(error)) => {
                (started.elapsed(), Some(ReportStatus::Error(error.error_type.clone())))
            }
            _ => (started.elapsed(), None),
        };
        let peak_memory = peak_memory.unwrap_or_else(|| self.read_peak_memory());
        let report = Report {
            request_id: request_id.clone(),
            duration,
            memory_mb: self.spec.memory_mb,
            max_memory_used_mb: peak_memory.await.unwrap_or(0),
            init_duration: self.init_duration.take(),
            trace_header,
            status: report_status,
        };
        let mut metrics = json!({
            "durationMs": milliseconds(report.duration),
            "billedDurationMs": report.billed_ms(),
            "memorySizeMB": report.memory_mb,
            "maxMemoryUsedMB": report.max_memory_used_mb,
        });
        if let Some(init) = report.init_duration {
            metrics["initDurationMs"] = json!(milliseconds(init));
        }
        shared.telemetry.emit(
            "platform",
            "platform.report",
            json!({ "requestId": request_id, "status": status, "metrics": metrics }),
        );
        if self.broken == Some(ShutdownReason::Timeout) {
            let now = humantime::format_rfc3339_millis(SystemTime::now());
            shared.platform_line(&format!(
                "{now} {request_id} Task timed out after {:.2} seconds",
                self.spec.timeout.as_secs_f64()
            ));
        }
        shared.platform_line(&format!("END RequestId: {request_id}"));
        shared.platform_line(&report.to_string());
        shared.platform_line(&report.xray_line());
        self.freeze_if_asked().await;
        Invoked { outcome, report }
    }

    /// After an init phase that timed out, runs init again within `limit` (the time left of
    /// the invocation), as Lambda does; the invocation fails with what stopped it.
    async fn init_again_within(&mut self, limit: Duration) -> Result<(), Outcome> {
        if !std::mem::take(&mut self.init_again) {
            return Ok(());
        }
        let started = Instant::now();
        let (status, outcome) = match self.launch(started, limit).await {
            Ok(()) => return Ok(()),
            Err(InitFailure::TimedOut) => ("Status: timeout".to_owned(), self.timed_out()),
            Err(InitFailure::Failed(document)) => {
                self.broken = Some(ShutdownReason::Failure);
                (format!("Status: error\tError Type: {}", document.error_type), Outcome::Error(document))
            }
        };
        self.shared.platform_line(&format!(
            "INIT_REPORT Init Duration: {:.2} ms\tPhase: invoke\t{status}",
            milliseconds(started.elapsed())
        ));
        Err(outcome)
    }

    /// The log lines of the last invocation (its last 4 KB), for `X-Amz-Log-Type: Tail`.
    #[must_use]
    pub fn log_tail(&self) -> String {
        self.shared.take_log_tail()
    }

    fn timed_out(&mut self) -> Outcome {
        self.broken = Some(ShutdownReason::Timeout);
        Outcome::Error(ErrorDocument::new(
            "Sandbox.Timedout",
            format!("Task timed out after {:.2} seconds", self.spec.timeout.as_secs_f64()),
        ))
    }

    fn processes(&self) -> impl Iterator<Item = &Process> {
        self.runtime.iter().chain(&self.extensions)
    }

    /// Between invocations nothing runs, as in Lambda: the processes are stopped and telemetry
    /// delivery waits for the thaw.
    async fn freeze_if_asked(&mut self) {
        if self.spec.freeze && self.broken.is_none() && !self.frozen {
            self.shared.telemetry.set_thawed(false);
            self.shared.telemetry.settle(Duration::from_millis(250)).await;
            for process in self.processes() {
                process.freeze();
            }
            self.frozen = true;
        }
    }

    fn thaw(&mut self) {
        if self.frozen {
            for process in self.processes() {
                process.thaw();
            }
            self.shared.telemetry.set_thawed(true);
            self.frozen = false;
        }
    }

    /// Reads the environment's peak memory on a blocking thread: a `/proc` or cgroup read costs
    /// tens of microseconds, which the event loop spends on the next request instead.
    fn read_peak_memory(&self) -> tokio::task::JoinHandle<u64> {
        let cgroup_file = self.isolation.peak_memory_file();
        let pids: Vec<u32> = self.processes().map(|p| p.pid).collect();
        tokio::task::spawn_blocking(move || {
            let from_cgroup =
                cgroup_file.and_then(|file| std::fs::read_to_string(file).ok()?.trim().parse::<u64>().ok());
            let bytes = from_cgroup.unwrap_or_else(|| pids.into_iter().map(peak_memory_kb).sum::<u64>() * 1024);
            bytes.div_ceil(1024 * 1024)
        })
    }

    /// Ends the environment: the runtime gets SIGTERM (and SIGKILL after 300 ms), then the
    /// extensions get SHUTDOWN and the rest of the 2 s budget before SIGKILL.
    pub async fn shutdown(mut self, reason: ShutdownReason) {
        self.thaw();
        let shared = self.shared.clone();
        let started = Instant::now();
        let alive = |process: &Process| process.exit_status(&shared).is_none();
        if let Some(runtime) = self.runtime.as_ref().filter(|runtime| alive(runtime)) {
            runtime.terminate();
            let pid = runtime.pid;
            let exited =
                tokio::time::timeout(RUNTIME_SHUTDOWN, shared.wait_for(|s| s.exited.contains_key(&pid).then_some(())))
                    .await;
            if exited.is_err() {
                runtime.kill();
            }
        }
        // Extensions get the telemetry of the environment's last moments before SHUTDOWN.
        shared.telemetry.drain(Duration::from_millis(500)).await;
        let deadline_ms = epoch_ms(SystemTime::now() + SHUTDOWN_BUDGET.saturating_sub(started.elapsed()));
        let shutdown = json!({ "eventType": "SHUTDOWN", "shutdownReason": reason.as_str(), "deadlineMs": deadline_ms });
        shared.update(|state| {
            for extension in state.extensions.iter().filter(|e| e.events.iter().any(|t| t == "SHUTDOWN")) {
                let _ = extension.queue.send(shutdown.clone());
            }
        });
        let pids: Vec<u32> = self.extensions.iter().map(|p| p.pid).collect();
        let all_exited = tokio::time::timeout(
            SHUTDOWN_BUDGET.saturating_sub(started.elapsed()),
            shared.wait_for(|s| pids.iter().all(|pid| s.exited.contains_key(pid)).then_some(())),
        )
        .await;
        if all_exited.is_err() {
            for extension in self.extensions.iter().filter(|p| alive(p)) {
                eprintln!(
                    "intercept-sam: extension {} did not exit within the shutdown budget; killed",
                    extension.name
                );
                extension.kill();
            }
        }
        // Wait for every process to be gone, so the memory cgroup can be removed.
        let all: Vec<u32> = self.processes().map(|p| p.pid).collect();
        let _ = tokio::time::timeout(
            Duration::from_millis(500),
            shared.wait_for(|s| all.iter().all(|pid| s.exited.contains_key(pid)).then_some(())),
        )
        .await;
        self.server.abort();
    }
}
