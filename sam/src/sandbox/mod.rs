//! One Lambda execution environment: the Runtime, Extensions and Telemetry APIs on a local
//! port, the extensions and the runtime as processes, and the init/invoke/shutdown lifecycle.

mod extensions_api;
mod process;
mod runtime_api;
mod state;
mod telemetry_api;

use std::collections::BTreeMap;
use std::fmt;
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt as _;
use bytes::Bytes;
use rand::Rng as _;
use serde_json::json;
use tokio::net::TcpListener;

pub use runtime_api::MAX_RESPONSE_BYTES;
pub use state::{ErrorDocument, Outcome};

use process::{Process, Role};
use state::{FunctionInfo, PendingInvoke, Shared};

/// Lambda's limit on the init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);
/// Shutdown budget with external extensions, and the runtime's share of it.
const SHUTDOWN_BUDGET: Duration = Duration::from_millis(2000);
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(300);

/// Everything needed to start a function's environment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FunctionSpec {
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: String,
    /// `_HANDLER`.
    pub handler: String,
    /// The `Runtime` identifier (`provided.al2023`).
    pub runtime: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    pub memory_mb: u32,
    /// The invocation timeout.
    pub timeout: Duration,
    /// The executable that starts the runtime (`bootstrap`).
    pub bootstrap: PathBuf,
    /// The function's code (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    /// Layer folders, in order; together they are `/opt`.
    pub layer_dirs: Vec<PathBuf>,
    /// The function's own variables.
    pub environment: BTreeMap<String, String>,
    /// `AWS_REGION`.
    pub region: String,
    /// The account id in ARNs.
    pub account_id: String,
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

/// The `REPORT` line's figures for one invocation.
#[derive(Debug, Clone)]
pub struct Report {
    /// The request id.
    pub request_id: String,
    /// The invoke phase's duration.
    pub duration: Duration,
    /// `MemorySize`.
    pub memory_mb: u32,
    /// Peak resident memory of the environment's processes.
    pub max_memory_used_mb: u64,
    /// Set on the environment's first invocation.
    pub init_duration: Option<Duration>,
    /// The X-Ray trace header the invocation carried.
    pub trace_header: String,
}

impl Report {
    /// Billed duration: the duration rounded up to the millisecond.
    #[must_use]
    pub fn billed_ms(&self) -> u128 {
        self.duration.as_micros().div_ceil(1000).max(1)
    }
}

impl Report {
    /// The `XRAY TraceId: … SegmentId: … Sampled: true` line Lambda prints after REPORT.
    #[must_use]
    pub fn xray_line(&self) -> String {
        let field = |name: &str| {
            self.trace_header
                .split(';')
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or_default()
                .to_owned()
        };
        format!(
            "XRAY TraceId: {} SegmentId: {} Sampled: true",
            field("Root="),
            field("Parent=")
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REPORT RequestId: {} Duration: {:.2} ms Billed Duration: {} ms Memory Size: {} MB Max Memory Used: {} MB",
            self.request_id,
            self.duration.as_secs_f64() * 1000.0,
            self.billed_ms(),
            self.memory_mb,
            self.max_memory_used_mb
        )?;
        if let Some(init) = self.init_duration {
            write!(f, " Init Duration: {:.2} ms", init.as_secs_f64() * 1000.0)?;
        }
        Ok(())
    }
}

/// One invocation's outcome and report.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// What the function answered.
    pub outcome: Outcome,
    /// The REPORT figures.
    pub report: Report,
}

/// A running execution environment.
#[derive(Debug)]
pub struct Environment {
    shared: Arc<Shared>,
    spec: FunctionSpec,
    api_addr: SocketAddr,
    runtime: Process,
    extensions: Vec<Process>,
    init_duration: Option<Duration>,
    broken: Option<ShutdownReason>,
    server: tokio::task::JoinHandle<()>,
}

fn new_uuid() -> String {
    let b: [u8; 16] = rand::rng().random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0x0f,
        b[7],
        8 | (b[8] & 0x03),
        b[8] >> 4,
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An error body as the Lambda APIs send them.
fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errorType": error_type, "errorMessage": message })),
    )
        .into_response()
}

impl Environment {
    /// Runs the init phase: starts the APIs, the extensions (and waits for them to register),
    /// then the runtime (and waits for its first `next`).
    ///
    /// # Errors
    /// The init error as Lambda would report it (`Runtime.ExitError`, the runtime's own
    /// `/init/error`, `Extension.*`, or an init timeout).
    pub async fn start(spec: FunctionSpec) -> Result<Environment, ErrorDocument> {
        let started = Instant::now();
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
            ErrorDocument::new(
                "Sandbox.Failure",
                format!("cannot bind the Runtime API: {e}"),
            )
        })?;
        let api_addr = listener
            .local_addr()
            .map_err(|e| ErrorDocument::new("Sandbox.Failure", e.to_string()))?;
        let shared = Shared::new(FunctionInfo {
            name: spec.name.clone(),
            version: "$LATEST".to_owned(),
            handler: spec.handler.clone(),
            arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                spec.region, spec.account_id, spec.name
            ),
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
        let environment = lambda_environment(&spec, api_addr);

        let mut extensions = Vec::new();
        for program in extension_programs(&spec.layer_dirs) {
            let cwd = program
                .parent()
                .and_then(|p| p.parent())
                .unwrap_or(&spec.code_dir)
                .to_owned();
            let process = Process::spawn(&shared, Role::Extension, &program, &cwd, &environment)
                .map_err(|e| {
                    ErrorDocument::new(
                        "Extension.LaunchError",
                        format!("{}: {e}", program.display()),
                    )
                })?;
            extensions.push(process);
        }
        let launched = extensions.len();
        let registered = tokio::time::timeout(
            INIT_LIMIT,
            shared.wait_for(|state| {
                if let Some(gone) = extensions
                    .iter()
                    .find(|p| state.exited.contains_key(&p.pid))
                {
                    return Some(Err(ErrorDocument::new(
                        "Extension.Crash",
                        format!(
                            "extension {} exited during init: {}",
                            gone.name, state.exited[&gone.pid]
                        ),
                    )));
                }
                if let Some(failed) = state.extensions.iter().find_map(|e| e.error.clone()) {
                    return Some(Err(failed));
                }
                let ready = state.extensions.len() >= launched
                    && state.extensions.iter().all(|e| e.next_calls >= 1);
                ready.then_some(Ok(()))
            }),
        )
        .await;
        let fail = |document: ErrorDocument, extensions: &[Process]| {
            for process in extensions {
                process.kill();
            }
            document
        };
        match registered {
            Ok(Ok(())) => {}
            Ok(Err(document)) => return Err(fail(document, &extensions)),
            Err(_) => {
                return Err(fail(
                    ErrorDocument::new(
                        "Extension.InitTimeout",
                        "extensions did not register within the 10 s init limit",
                    ),
                    &extensions,
                ));
            }
        }

        let runtime = Process::spawn(
            &shared,
            Role::Runtime,
            &spec.bootstrap,
            &spec.code_dir,
            &environment,
        )
        .map_err(|e| {
            fail(
                ErrorDocument::new(
                    "Runtime.InvalidEntrypoint",
                    format!("{}: {e}", spec.bootstrap.display()),
                ),
                &extensions,
            )
        })?;
        let remaining = INIT_LIMIT.saturating_sub(started.elapsed());
        let ready = tokio::time::timeout(
            remaining,
            shared.wait_for(|state| {
                if let Some(error) = &state.init_error {
                    return Some(Err(error.clone()));
                }
                if let Some(status) = state.exited.get(&runtime.pid) {
                    return Some(Err(ErrorDocument::new(
                        "Runtime.ExitError",
                        format!("Runtime exited during init: {status}"),
                    )));
                }
                let extensions_ready = state.extensions.iter().all(|e| e.next_calls >= 1);
                (state.runtime_next_calls >= 1 && extensions_ready).then_some(Ok(()))
            }),
        )
        .await;
        let environment = Environment {
            shared,
            spec,
            api_addr,
            runtime,
            extensions,
            init_duration: Some(started.elapsed()),
            broken: None,
            server,
        };
        match ready {
            Ok(Ok(())) => {
                let init_ms = started.elapsed().as_secs_f64() * 1000.0;
                environment.shared.telemetry.emit(
                    "platform",
                    "platform.initReport",
                    json!({
                        "initializationType": "on-demand", "phase": "init", "status": "success",
                        "metrics": { "durationMs": init_ms },
                    }),
                );
                Ok(environment)
            }
            Ok(Err(document)) => {
                environment.shutdown(ShutdownReason::Failure).await;
                Err(document)
            }
            Err(_) => {
                environment.shutdown(ShutdownReason::Failure).await;
                Err(ErrorDocument::new(
                    "Runtime.InitTimeout",
                    "init did not finish within the 10 s limit",
                ))
            }
        }
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

    /// Runs one invocation: INVOKE to the extensions, the event to the runtime, the response
    /// back, and the end of the invoke phase (the runtime and every extension called `next`).
    pub async fn invoke(&mut self, event: Bytes) -> Invoked {
        let started = Instant::now();
        let request_id = new_uuid();
        let deadline = SystemTime::now() + self.spec.timeout;
        let deadline_ms = epoch_ms(deadline);
        let ids: [u8; 20] = rand::rng().random();
        let trace_header = format!(
            "Root=1-{:08x}-{};Parent={};Sampled=1",
            epoch_ms(SystemTime::now()) / 1000,
            hex(&ids[..12]),
            hex(&ids[12..])
        );
        let shared = self.shared.clone();
        let (runtime_baseline, extension_baselines) = shared.update(|state| {
            state.invocations.insert(request_id.clone(), None);
            let baselines: Vec<(String, u64)> = state
                .extensions
                .iter()
                .filter(|e| e.events.iter().any(|t| t == "INVOKE"))
                .map(|e| {
                    let _ = e.queue.send(json!({
                        "eventType": "INVOKE",
                        "deadlineMs": deadline_ms,
                        "requestId": request_id,
                        "invokedFunctionArn": shared.function.arn,
                        "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_header },
                    }));
                    (e.id.clone(), e.next_calls)
                })
                .collect();
            (state.runtime_next_calls, baselines)
        });
        shared.telemetry.emit(
            "platform",
            "platform.start",
            json!({
                "requestId": request_id, "version": "$LATEST",
                "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_header },
            }),
        );
        let produced_bytes = event.len();
        let _ = shared.runtime_queue.send(PendingInvoke {
            request_id: request_id.clone(),
            body: event,
            deadline_ms,
            trace_header: trace_header.clone(),
        });

        let time_left = || {
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        };
        let runtime_pid = self.runtime.pid;
        let answered = tokio::time::timeout(
            time_left(),
            shared.wait_for(|state| {
                if let Some(Some(outcome)) = state.invocations.get(&request_id) {
                    return Some(Ok(outcome.clone()));
                }
                state
                    .exited
                    .get(&runtime_pid)
                    .map(|status| Err(status.clone()))
            }),
        )
        .await;
        let timed_out = || {
            ErrorDocument::new(
                "Sandbox.Timedout",
                format!(
                    "Task timed out after {:.2} seconds",
                    self.spec.timeout.as_secs_f64()
                ),
            )
        };
        let outcome = match answered {
            Ok(Ok(outcome)) => {
                // The runtime is done with this invocation when it asks for the next one.
                let done = tokio::time::timeout(
                    time_left(),
                    shared.wait_for(|state| {
                        (state.runtime_next_calls > runtime_baseline
                            || state.exited.contains_key(&runtime_pid))
                        .then_some(())
                    }),
                )
                .await;
                if done.is_err() {
                    self.broken = Some(ShutdownReason::Timeout);
                    Outcome::Error(timed_out())
                } else {
                    outcome
                }
            }
            Ok(Err(status)) => {
                self.broken = Some(ShutdownReason::Failure);
                Outcome::Error(ErrorDocument::new(
                    "Runtime.ExitError",
                    format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                ))
            }
            Err(_) => {
                self.broken = Some(ShutdownReason::Timeout);
                Outcome::Error(timed_out())
            }
        };
        let status = match (&outcome, self.broken) {
            (_, Some(ShutdownReason::Timeout)) => "timeout",
            (_, Some(_)) => "failure",
            (Outcome::Error(_), None) => "error",
            (Outcome::Response(_), None) => "success",
        };
        shared.telemetry.emit("platform", "platform.runtimeDone", json!({
            "requestId": request_id, "status": status,
            "metrics": { "durationMs": started.elapsed().as_secs_f64() * 1000.0, "producedBytes": produced_bytes },
        }));
        if self.broken.is_none() {
            // Extensions may work on until the deadline; the invoke phase ends when all called `next`.
            let _ = tokio::time::timeout(
                time_left(),
                shared.wait_for(|state| {
                    let all = extension_baselines.iter().all(|(id, baseline)| {
                        state
                            .extensions
                            .iter()
                            .find(|e| &e.id == id)
                            .is_none_or(|e| e.next_calls > *baseline)
                    });
                    all.then_some(())
                }),
            )
            .await;
        }
        let report = Report {
            request_id: request_id.clone(),
            duration: started.elapsed(),
            memory_mb: self.spec.memory_mb,
            max_memory_used_mb: self.max_memory_used_mb(),
            init_duration: self.init_duration.take(),
            trace_header,
        };
        let mut metrics = json!({
            "durationMs": report.duration.as_secs_f64() * 1000.0,
            "billedDurationMs": report.billed_ms(),
            "memorySizeMB": report.memory_mb,
            "maxMemoryUsedMB": report.max_memory_used_mb,
        });
        if let Some(init) = report.init_duration {
            metrics["initDurationMs"] = json!(init.as_secs_f64() * 1000.0);
        }
        shared.telemetry.emit(
            "platform",
            "platform.report",
            json!({ "requestId": request_id, "status": status, "metrics": metrics }),
        );
        Invoked { outcome, report }
    }

    fn max_memory_used_mb(&self) -> u64 {
        let kb: u64 = std::iter::once(&self.runtime)
            .chain(&self.extensions)
            .map(Process::peak_memory_kb)
            .sum();
        kb.div_ceil(1024)
    }

    /// Ends the environment: the runtime gets SIGTERM (and SIGKILL after 300 ms), then the
    /// extensions get SHUTDOWN and the rest of the 2 s budget before SIGKILL.
    pub async fn shutdown(self, reason: ShutdownReason) {
        let shared = self.shared.clone();
        let started = Instant::now();
        let alive = |process: &Process| process.exit_status(&shared).is_none();
        if alive(&self.runtime) {
            self.runtime.terminate();
            let pid = self.runtime.pid;
            let exited = tokio::time::timeout(
                RUNTIME_SHUTDOWN,
                shared.wait_for(|s| s.exited.contains_key(&pid).then_some(())),
            )
            .await;
            if exited.is_err() {
                self.runtime.kill();
            }
        }
        let deadline_ms =
            epoch_ms(SystemTime::now() + SHUTDOWN_BUDGET.saturating_sub(started.elapsed()));
        shared.update(|state| {
            for extension in state.extensions.iter().filter(|e| e.events.iter().any(|t| t == "SHUTDOWN")) {
                let _ = extension.queue.send(json!({
                    "eventType": "SHUTDOWN", "shutdownReason": reason.as_str(), "deadlineMs": deadline_ms,
                }));
            }
        });
        let pids: Vec<u32> = self.extensions.iter().map(|p| p.pid).collect();
        let all_exited = tokio::time::timeout(
            SHUTDOWN_BUDGET.saturating_sub(started.elapsed()),
            shared.wait_for(|s| {
                pids.iter()
                    .all(|pid| s.exited.contains_key(pid))
                    .then_some(())
            }),
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
        self.server.abort();
    }
}

/// Executables in each layer's `extensions/` folder, in name order (as Lambda starts them).
fn extension_programs(layer_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut programs: Vec<PathBuf> = layer_dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir.join("extensions")).ok())
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    programs.sort_by_key(|p| p.file_name().map(std::ffi::OsStr::to_owned));
    programs
}

/// The variables Lambda sets, then the function's own (which may not override Lambda's reserved ones).
fn lambda_environment(spec: &FunctionSpec, api_addr: SocketAddr) -> Vec<(String, String)> {
    let host_path = std::env::var("PATH").unwrap_or_default();
    let opt = spec
        .layer_dirs
        .first()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "/opt".to_owned());
    let stream_id: [u8; 16] = rand::rng().random();
    let mut vars: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), spec.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
            spec.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            format!("/aws/lambda/{}", spec.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME".into(),
            format!(
                "{}/[$LATEST]{}",
                humantime::format_rfc3339(SystemTime::now())
                    .to_string()
                    .get(..10)
                    .unwrap_or("")
                    .replace('-', "/"),
                hex(&stream_id)
            ),
        ),
        ("AWS_REGION".into(), spec.region.clone()),
        ("AWS_DEFAULT_REGION".into(), spec.region.clone()),
        (
            "AWS_EXECUTION_ENV".into(),
            format!("AWS_Lambda_{}", spec.runtime),
        ),
        ("AWS_LAMBDA_RUNTIME_API".into(), api_addr.to_string()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        (
            "LAMBDA_TASK_ROOT".into(),
            spec.code_dir.display().to_string(),
        ),
        (
            "LAMBDA_RUNTIME_DIR".into(),
            spec.code_dir.display().to_string(),
        ),
        ("_HANDLER".into(), spec.handler.clone()),
        ("TZ".into(), ":UTC".into()),
        ("LANG".into(), "en_US.UTF-8".into()),
        ("PATH".into(), format!("{opt}/bin:{host_path}")),
        ("LD_LIBRARY_PATH".into(), format!("{opt}/lib")),
    ];
    for credential in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ] {
        if let Ok(value) = std::env::var(credential) {
            vars.push((credential.into(), value));
        }
    }
    for (key, value) in &spec.environment {
        if !vars.iter().any(|(reserved, _)| reserved == key) {
            vars.push((key.clone(), value.clone()));
        }
    }
    vars
}
