//! The state the Lambda APIs share with the environment's lifecycle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value as Json;
use tokio::sync::{mpsc, watch};

use super::stream::StreamSink;
use super::telemetry_api::TelemetryHub;

/// An error as Lambda reports it: `errorType`, `errorMessage`, and the document the runtime sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDocument {
    /// `errorType`.
    pub error_type: String,
    /// `errorMessage`.
    pub error_message: String,
    /// The whole document, as returned to the caller.
    pub body: Json,
}

impl ErrorDocument {
    /// An error document made by the platform itself.
    #[must_use]
    pub fn new(error_type: &str, error_message: impl Into<String>) -> Self {
        let error_message = error_message.into();
        let body = serde_json::json!({ "errorType": error_type, "errorMessage": error_message });
        ErrorDocument { error_type: error_type.to_owned(), error_message, body }
    }

    /// Reads what a runtime posted: the header's type wins, then the body's `errorType`.
    #[must_use]
    pub fn from_runtime(header_type: Option<&str>, body: &[u8]) -> Self {
        let parsed: Option<Json> = serde_json::from_slice(body).ok().filter(Json::is_object);
        let body_type = parsed.as_ref().and_then(|b| b["errorType"].as_str()).map(str::to_owned);
        let error_type = header_type.map(str::to_owned).or(body_type).unwrap_or_else(|| "Unhandled".to_owned());
        match parsed {
            Some(body) => {
                let error_message = body["errorMessage"].as_str().unwrap_or_default().to_owned();
                ErrorDocument { error_type, error_message, body }
            }
            None => ErrorDocument::new(&error_type, String::from_utf8_lossy(body).into_owned()),
        }
    }
}

/// How an invocation ended, as far as the runtime said.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The response body.
    Response(Bytes),
    /// A function error.
    Error(ErrorDocument),
}

/// An event waiting for the runtime's `next`.
#[derive(Debug)]
pub(crate) struct PendingInvoke {
    pub(crate) request_id: String,
    pub(crate) body: Bytes,
    pub(crate) deadline_ms: u64,
    pub(crate) trace_header: String,
    pub(crate) client_context: Option<String>,
}

/// One registered extension.
#[derive(Debug)]
pub(crate) struct ExtensionState {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) events: Vec<String>,
    pub(crate) next_calls: u64,
    pub(crate) queue: mpsc::UnboundedSender<Json>,
    pub(crate) inbox: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Json>>>,
    pub(crate) error: Option<ErrorDocument>,
}

/// Mutable state behind one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) registration_open: bool,
    /// Set once the runtime process is started: later registrations are internal extensions.
    pub(crate) runtime_started: bool,
    pub(crate) extensions: Vec<ExtensionState>,
    pub(crate) runtime_next_calls: u64,
    pub(crate) invocations: HashMap<String, Option<Outcome>>,
    /// Callers that read a streamed response as it is written, by request id.
    pub(crate) streams: HashMap<String, StreamSink>,
    pub(crate) init_error: Option<ErrorDocument>,
    /// Processes of the environment that have exited: pid → how.
    pub(crate) exited: HashMap<u32, String>,
}

/// What the function looks like to the APIs.
#[derive(Debug, Clone)]
pub(crate) struct FunctionInfo {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) handler: String,
    pub(crate) arn: String,
    pub(crate) account_id: String,
}

/// Shared by the API handlers and the lifecycle.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    pub(crate) runtime_queue: mpsc::UnboundedSender<PendingInvoke>,
    pub(crate) runtime_inbox: tokio::sync::Mutex<mpsc::UnboundedReceiver<PendingInvoke>>,
    pub(crate) function: FunctionInfo,
    pub(crate) telemetry: TelemetryHub,
    /// The environment's last log lines, for `X-Amz-Log-Type: Tail`.
    log_tail: Mutex<String>,
}

/// How much of the log `X-Amz-Log-Type: Tail` returns.
pub(crate) const LOG_TAIL_BYTES: usize = 4096;

impl Shared {
    pub(crate) fn new(function: FunctionInfo) -> Arc<Self> {
        let (runtime_queue, inbox) = mpsc::unbounded_channel();
        Arc::new(Shared {
            state: Mutex::new(State { registration_open: true, ..State::default() }),
            changed: watch::channel(0).0,
            runtime_queue,
            runtime_inbox: tokio::sync::Mutex::new(inbox),
            function,
            telemetry: TelemetryHub::default(),
            log_tail: Mutex::new(String::new()),
        })
    }

    /// Appends a log line to the tail, keeping its last [`LOG_TAIL_BYTES`].
    pub(crate) fn log(&self, line: &str) {
        let mut tail = self.log_tail.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tail.push_str(line);
        tail.push('\n');
        if tail.len() > LOG_TAIL_BYTES {
            let mut cut = tail.len() - LOG_TAIL_BYTES;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
    }

    /// A line of the platform's own (`START`, `END`, `REPORT`): on stderr and in the log tail,
    /// as Lambda writes them to the function's log stream.
    pub(crate) fn platform_line(&self, line: &str) {
        eprintln!("{line}");
        self.log(line);
    }

    /// Forgets the processes of an init that did not finish, so that init can run again: the
    /// APIs take registrations and subscriptions anew.
    pub(crate) fn reset_for_init(&self) {
        self.update(|state| {
            let exited = std::mem::take(&mut state.exited);
            *state = State { registration_open: true, exited, ..State::default() };
        });
        self.telemetry.restart_init();
    }

    /// Takes the log tail, leaving it empty.
    pub(crate) fn take_log_tail(&self) -> String {
        std::mem::take(&mut *self.log_tail.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the state and wakes whoever waits on it.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let result = change(&mut self.lock());
        self.changed.send_modify(|version| *version += 1);
        result
    }

    /// Waits until `check` returns a value. Changes made after the call are never missed.
    pub(crate) async fn wait_for<T>(&self, mut check: impl FnMut(&State) -> Option<T>) -> T {
        let mut changes = self.changed.subscribe();
        loop {
            if let Some(value) = check(&self.lock()) {
                return value;
            }
            if changes.changed().await.is_err() {
                // The sender lives in `self`, so this cannot happen while we hold `&self`.
                std::future::pending::<()>().await;
            }
        }
    }
}
