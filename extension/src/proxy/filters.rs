//! Intercept's filters over the events the proxy fetches: the `intercept` core's
//! placement-neutral [`Interceptor::handle`], as the in-process layer runs it (same filters,
//! same server span, filter and handler child spans, metrics), built once per environment,
//! with the fail-open/closed policy for when they cannot be built.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::HeaderMap;
use intercept::{Config, Interceptor, InvocationMeta};
use lambda_runtime::Diagnostic;
use serde_json::value::RawValue;
use tokio::sync::{OnceCell, oneshot};

use super::settings::FailMode;

/// What the runtime answered for an invocation: its response document or its error.
pub(crate) type RuntimeAnswer = Result<Box<RawValue>, Diagnostic>;

/// What happens to one event.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Hand this event body to the runtime, with this `Lambda-Runtime-Trace-Id` when the
    /// invocation's handler span should be its parent.
    Deliver(Bytes, Option<String>),
    /// Answer upstream with this instead (a response document, or an invocation error); the
    /// runtime never sees the event.
    Answer(RuntimeAnswer),
}

/// Events the proxy handled, by what became of them (logged with each decision).
#[derive(Debug, Default)]
pub struct ProxyCounts {
    /// Admitted by the filters and handed to the runtime.
    pub admitted: AtomicU64,
    /// Answered by the proxy with a rejection.
    pub rejected: AtomicU64,
    /// Handed to the runtime unchecked because the filters could not run (fail-open).
    pub unchecked: AtomicU64,
    /// Failed because the filters could not run (fail-closed).
    pub failed: AtomicU64,
}

fn bump(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

/// The filters, or why there are none, and the invocations waiting for the runtime's answer.
#[derive(Debug)]
pub(crate) struct Filters {
    config: Result<Config, String>,
    fail: FailMode,
    built: OnceCell<Result<Arc<Interceptor>, String>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<RuntimeAnswer>>>,
    pub(crate) counts: ProxyCounts,
}

/// The `Lambda-Runtime-*` headers of one event, kept for the invocation's task and read by
/// the core's [`InvocationMeta::from_headers`].
struct Meta {
    headers: HeaderMap,
    client_context: Option<HashMap<String, String>>,
}

impl Meta {
    fn read(headers: &HeaderMap) -> Meta {
        Meta { headers: headers.clone(), client_context: InvocationMeta::client_context_in(headers) }
    }

    fn borrow(&self) -> InvocationMeta<'_> {
        InvocationMeta::from_headers(&self.headers, self.client_context.as_ref())
    }
}

impl Filters {
    /// Filters for a configuration read (or not) from the environment; nothing is fetched or
    /// connected until [`Filters::ready`].
    pub(crate) fn new(config: Result<Config, intercept::ConfigError>, fail: FailMode) -> Self {
        Filters {
            config: config.map_err(|error| error.to_string()),
            fail,
            built: OnceCell::new(),
            waiting: Mutex::new(HashMap::new()),
            counts: ProxyCounts::default(),
        }
    }

    /// Builds the filters on first use (keys fetched, the rate-limit store connected) and
    /// returns why they cannot run, if they cannot.
    pub(crate) async fn ready(&self) -> Result<&Interceptor, &str> {
        let built = self.built.get_or_init(|| self.build()).await;
        built.as_ref().map(|interceptor| &**interceptor).map_err(String::as_str)
    }

    /// The filters, watching the policy source as the in-process placement does: a remote
    /// `INTERCEPT_POLICY` (AppConfig, S3, SSM) is read here, at init, and polled after.
    async fn build(&self) -> Result<Arc<Interceptor>, String> {
        let env = |name: &str| std::env::var(name).ok();
        let remote = env("INTERCEPT_POLICY")
            .and_then(|value| intercept::policy::PolicySource::parse(&value).ok())
            .is_some_and(|source| !source.is_file());
        let config = match &self.config {
            // Config::from_env could not read a remote source synchronously: read it, then again.
            Err(_) if remote => {
                intercept::policy::prefetch(&env).await.map_err(|error| error.to_string())?;
                Config::from_env().map_err(|error| error.to_string())?
            }
            config => config.as_ref().map_err(Clone::clone)?.clone(),
        };
        let interceptor = Arc::new(Interceptor::connect(&config).await.map_err(|error| error.to_string())?);
        interceptor.watch_policy(env).map_err(|error| error.to_string())?;
        Ok(interceptor)
    }

    /// Between two invocations (the runtime asks for the next event): a watched policy file
    /// that changed applies to the next event.
    pub(crate) async fn check_policy_file(&self) {
        if let Some(Ok(interceptor)) = self.built.get() {
            interceptor.check_policy_file().await;
        }
    }

    /// The problem to report as the init error, when the filters cannot run and the proxy fails closed.
    pub(crate) async fn init_failure(&self) -> Option<String> {
        match (self.ready().await, self.fail) {
            (Err(problem), FailMode::Closed) => Some(problem.to_owned()),
            _ => None,
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<RuntimeAnswer>>> {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The runtime answered `request_id`: its invocation's handler span ends with this.
    pub(crate) fn answered(&self, request_id: &str, answer: RuntimeAnswer) {
        if let Some(waiting) = self.waiting().remove(request_id) {
            let _ = waiting.send(answer);
        }
    }

    /// The runtime asks for another event, so it will not answer the ones it had any more.
    pub(crate) fn runtime_moved_on(&self) {
        for (_, waiting) in self.waiting().drain() {
            let _ = waiting.send(Err(Diagnostic {
                error_type: "Runtime.NoAnswer".to_owned(),
                error_message: "the runtime asked for the next event without answering this one".to_owned(),
            }));
        }
    }

    /// Runs the filters over one event (its raw body and headers, as the Runtime API gave them).
    /// The invocation's telemetry stays open until the runtime answers (see [`Filters::answered`]).
    pub(crate) async fn decide(self: &Arc<Self>, request_id: &str, headers: &HeaderMap, event: Bytes) -> Verdict {
        if let Err(problem) = self.ready().await {
            return match self.fail {
                FailMode::Open => {
                    let count = bump(&self.counts.unchecked);
                    tracing::error!(
                        request_id,
                        unchecked = count,
                        "proxy: Intercept's filters cannot run ({problem}); INTERCEPT_PROXY_FAIL=open passes the event to the runtime UNCHECKED"
                    );
                    Verdict::Deliver(event, None)
                }
                FailMode::Closed => {
                    let count = bump(&self.counts.failed);
                    tracing::error!(
                        request_id,
                        failed = count,
                        "proxy: Intercept's filters cannot run ({problem}); the invocation fails (INTERCEPT_PROXY_FAIL=closed)"
                    );
                    Verdict::Answer(Err(Diagnostic {
                        error_type: intercept::ConfigError::ERROR_TYPE.to_owned(),
                        error_message: problem.to_owned(),
                    }))
                }
            };
        }
        // A body that is not JSON is judged as an event of no known trigger (it has no token).
        let raw: Box<RawValue> = serde_json::from_slice::<&RawValue>(&event).unwrap_or(RawValue::NULL).to_owned();
        let meta = Meta::read(headers);
        let (admitted_tx, admitted_rx) = oneshot::channel();
        let (answer_tx, answer_rx) = oneshot::channel();
        self.waiting().insert(request_id.to_owned(), answer_tx);
        let filters = self.clone();
        let invocation = tokio::spawn(async move {
            let Ok(interceptor) = filters.ready().await else { return None };
            let handler = |admitted: intercept::Admitted| async move {
                let _ = admitted_tx.send((admitted.principal, admitted.trace));
                answer_rx.await.unwrap_or_else(|_| {
                    Err(Diagnostic {
                        error_type: "Runtime.NoAnswer".to_owned(),
                        error_message: "the runtime never answered".to_owned(),
                    })
                })
            };
            let outcome = Box::pin(interceptor.handle(&raw, meta.borrow(), handler)).await;
            if let Some(exporter) = interceptor.exporter() {
                // Admitted: the runtime's answer is already upstream; the spans reach the
                // extension's buffer within the Telemetry API's buffering delay (25 ms at least)
                // before `runtimeDone` triggers its end-of-invocation flush. Rejected: `next`
                // flushes them before it posts the answer.
                if outcome.rejection().is_none() {
                    exporter.flush().await;
                }
            }
            Some(outcome)
        });
        match admitted_rx.await {
            Ok((principal, trace)) => {
                bump(&self.counts.admitted);
                let trace_header = trace.map(|trace| trace.xray_header());
                // An HTTP event's headers carry the handler span as `traceparent`, for SDKs that
                // read the trace from the request rather than from `_X_AMZN_TRACE_ID`.
                let traceparent =
                    trace.filter(|_| event.windows(9).any(|w| w == br#""headers""#)).map(|t| t.traceparent());
                // The principal goes into the event as API Gateway's JWT authorizer writes it,
                // spliced into the bytes Lambda delivered: every other byte reaches the runtime.
                match intercept::auth::splice_event(&event, principal.as_deref(), traceparent.as_deref()) {
                    Ok(None) => Verdict::Deliver(event, trace_header),
                    Ok(Some(body)) => Verdict::Deliver(Bytes::from(body), trace_header),
                    Err(error) => {
                        let diagnostic = intercept::Rejection::MalformedEvent(error.to_string()).to_diagnostic();
                        tracing::warn!(request_id, %error, "proxy: the principal cannot be added to the event; the invocation fails");
                        self.answered(request_id, Err(diagnostic.clone()));
                        Verdict::Answer(Err(diagnostic))
                    }
                }
            }
            Err(_) => {
                // The handler never ran: a filter refused the event.
                self.waiting().remove(request_id);
                let outcome = match invocation.await {
                    Ok(Some(outcome)) => outcome,
                    _ => {
                        return Verdict::Answer(Err(Diagnostic {
                            error_type: "Intercept.ProxyError".to_owned(),
                            error_message: "the filters stopped before deciding".to_owned(),
                        }));
                    }
                };
                if let Some(rejection) = outcome.rejection() {
                    let count = bump(&self.counts.rejected);
                    tracing::info!(
                        request_id,
                        reason = rejection.reason(),
                        status = rejection.status(),
                        rejected = count,
                        "request rejected by the proxy; the runtime never sees it"
                    );
                }
                Verdict::Answer(outcome.into_result())
            }
        }
    }

    /// Sends the rejected invocations' spans, before their answers go upstream.
    pub(crate) async fn flush(&self) {
        if let Ok(interceptor) = self.ready().await
            && let Some(exporter) = interceptor.exporter()
        {
            exporter.flush().await;
        }
    }
}
