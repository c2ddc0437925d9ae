//! The placement-neutral path of one invocation: extract the context, open the server span,
//! run the filters as child spans, shape a rejection or run the handler in its own child span,
//! close the spans and record the metrics. The tower layer and the Runtime API proxy both use
//! [`Interceptor::handle`], so every placement gets the same telemetry.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt as _;
use lambda_runtime::Diagnostic;
use serde_json::value::RawValue;
use tracing::Instrument as _;

use super::context::{Carriers, TraceContext};
use super::export::OtlpExporter;
use super::links::event_trigger;
use super::metrics::{Measurement, Outcome as MetricOutcome};
use super::redact::{Redactor, with_secrets};
use super::settings::TelemetryConfig;
use super::span::{SpanData, Value, unix_nanos};
use crate::interceptor::{Admitted, BuildError, Interceptor};
use crate::invocation::Invocation;
use crate::policy::filters::RouteFilters;
use crate::rejection::Rejection;

/// What the Runtime API's `/next` answer says about one invocation besides its event.
///
/// The in-process layer takes it from `lambda_runtime::Context`; the Runtime API proxy
/// from the `Lambda-Runtime-*` headers (see [`InvocationMeta::client_context_custom`] for the
/// client context header).
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationMeta<'a> {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: &'a str,
    /// `Lambda-Runtime-Deadline-Ms`: the deadline in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_function_arn: &'a str,
    /// `Lambda-Runtime-Trace-Id`: Lambda's X-Ray trace header for this invocation.
    pub xray_trace_id: Option<&'a str>,
    /// The `custom` fields of `Lambda-Runtime-Client-Context` (the Invoke API's client context),
    /// where callers put W3C `traceparent`, `tracestate` and `baggage`.
    pub client_context: Option<&'a HashMap<String, String>>,
}

impl InvocationMeta<'_> {
    /// The `custom` fields of a `Lambda-Runtime-Client-Context` header (JSON); `None` when the
    /// header is not a client context, which is then ignored with a debug log.
    #[must_use]
    pub fn client_context_custom(header: &str) -> Option<HashMap<String, String>> {
        #[derive(serde::Deserialize)]
        struct ClientContext {
            #[serde(default)]
            custom: HashMap<String, String>,
        }
        match serde_json::from_str::<ClientContext>(header) {
            Ok(context) => Some(context.custom),
            Err(error) => {
                tracing::debug!(%error, "ignoring a malformed client context");
                None
            }
        }
    }
}

impl<'a> From<&'a lambda_runtime::Context> for InvocationMeta<'a> {
    fn from(context: &'a lambda_runtime::Context) -> Self {
        InvocationMeta {
            request_id: &context.request_id,
            deadline_ms: context.deadline,
            invoked_function_arn: &context.invoked_function_arn,
            xray_trace_id: context.xray_trace_id.as_deref(),
            client_context: context.client_context.as_ref().map(|client| &client.custom),
        }
    }
}

/// How an invocation ended: the handler's answer, or a filter's rejection shaped for the trigger.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The filters admitted the invocation and the handler answered.
    Handled(Result<Box<RawValue>, Diagnostic>),
    /// A filter refused it; the handler never ran.
    Rejected {
        /// Why.
        rejection: Rejection,
        /// The answer to give instead: an HTTP response for HTTP triggers, an invocation
        /// error (`Intercept.*`) for the others.
        answer: Result<Box<RawValue>, Diagnostic>,
    },
}

impl Outcome {
    /// The answer to post to the Runtime API.
    ///
    /// # Errors
    /// The invocation error to post instead of a response.
    pub fn into_result(self) -> Result<Box<RawValue>, Diagnostic> {
        match self {
            Outcome::Handled(answer) | Outcome::Rejected { answer, .. } => answer,
        }
    }

    /// The rejection, when a filter refused the invocation.
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Outcome::Handled(_) => None,
            Outcome::Rejected { rejection, .. } => Some(rejection),
        }
    }
}

/// Telemetry of one execution environment: the settings and the exporter.
#[derive(Debug)]
pub(crate) struct Telemetry {
    config: TelemetryConfig,
    exporter: Arc<OtlpExporter>,
    function_name: Option<Arc<str>>,
    function_version: Option<Arc<str>>,
    region: Option<Arc<str>>,
    /// The first invoked ARN with its account, so every invocation of it shares them.
    arn: std::sync::OnceLock<(Arc<str>, Option<Arc<str>>)>,
}

impl Telemetry {
    pub(crate) fn new(config: &TelemetryConfig) -> Result<Self, BuildError> {
        let shared = |value: &Option<String>| value.as_deref().map(Arc::from);
        Ok(Telemetry {
            exporter: Arc::new(OtlpExporter::new(config)?),
            function_name: shared(&config.function.name),
            function_version: shared(&config.function.version),
            region: shared(&config.function.region),
            arn: std::sync::OnceLock::new(),
            config: config.clone(),
        })
    }

    pub(crate) fn exporter(&self) -> &Arc<OtlpExporter> {
        &self.exporter
    }
}

/// Where the filters record their child spans.
#[derive(Debug)]
pub(crate) struct FilterTrace<'a> {
    context: &'a TraceContext,
    root: &'a SpanData,
    spans: &'a mut Vec<SpanData>,
}

impl FilterTrace<'_> {
    pub(crate) fn now(&self) -> u64 {
        unix_nanos()
    }

    /// A child of the invocation's span, starting now.
    pub(crate) fn child(&self, name: &'static str) -> SpanData {
        SpanData::start(self.context, Some(self.root), name)
    }

    /// A child of the invocation's span that started at `start_unix_nanos`.
    pub(crate) fn child_from(&self, name: String, start_unix_nanos: u64) -> SpanData {
        let mut span = SpanData::start(self.context, Some(self.root), name);
        span.start_unix_nanos = start_unix_nanos;
        span
    }

    /// Closes a child span and keeps it.
    pub(crate) fn finish(&mut self, mut span: SpanData) {
        span.end();
        self.spans.push(span);
    }
}

#[derive(serde::Deserialize)]
struct StatusProbe {
    #[serde(rename = "statusCode")]
    status_code: Option<u16>,
}

impl Interceptor {
    /// Runs one invocation through the filters and, when they admit it, `handler`, with the
    /// telemetry around both: the server span continuing the caller's trace, a child span per
    /// filter and for the handler, the metrics, and the handler's logs carrying the request,
    /// trace and span ids. The spans wait in the exporter for [`OtlpExporter::flush`].
    ///
    /// `raw` is the event as the Runtime API delivered it; `handler` gets what the filters
    /// decided (the principal) and answers with the response document or an invocation error.
    ///
    /// ```
    /// use intercept::{Config, InvocationMeta, Interceptor, Outcome};
    /// use serde_json::value::RawValue;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let vars = [("INTERCEPT_AUTH", "jwt"), ("INTERCEPT_JWT_SECRET", "s3cret"), ("INTERCEPT_OTLP_LISTEN", "127.0.0.1:9")];
    /// let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))?;
    /// let interceptor = Interceptor::new(&config)?;
    /// let event = RawValue::from_string(
    ///     r#"{"version":"2.0","routeKey":"GET /hello","rawPath":"/hello","headers":{},
    ///     "requestContext":{"http":{"method":"GET","path":"/hello","sourceIp":"192.0.2.1"}}}"#.to_owned(),
    /// )?;
    /// let meta = InvocationMeta {
    ///     request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    ///     invoked_function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:hello",
    ///     ..InvocationMeta::default()
    /// };
    /// let outcome = interceptor
    ///     .handle(&event, meta, |_admitted| async { Ok(RawValue::from_string("{}".to_owned()).expect("json")) })
    ///     .await;
    /// // No bearer token: a 401 for this HTTP API event, and the handler never ran.
    /// assert_eq!(outcome.rejection().map(|r| r.status()), Some(401));
    /// let response = outcome.into_result().expect("an HTTP response, not an invocation error");
    /// assert!(response.get().contains(r#""statusCode":401"#));
    /// # Ok(()) }
    /// ```
    pub async fn handle<F, Fut>(&self, raw: &RawValue, meta: InvocationMeta<'_>, handler: F) -> Outcome
    where
        F: FnOnce(Admitted) -> Fut,
        Fut: Future<Output = Result<Box<RawValue>, Diagnostic>>,
    {
        let invocation = Invocation::from_raw(raw);
        let cold_start = self.take_cold_start();
        let Some(telemetry) = self.telemetry() else {
            return match self.admit(&invocation).await {
                Ok(admitted) => Outcome::Handled(handler(admitted).await),
                Err(rejection) => shape(rejection, &invocation),
            };
        };
        let started = Instant::now();
        let config = &telemetry.config;
        let carriers = Carriers { client_context: meta.client_context, lambda_trace_id: meta.xray_trace_id };
        let context = TraceContext::extract(config.propagators, &invocation, carriers);
        let event = if invocation.kind.is_http() { None } else { event_trigger(raw, config.propagators) };
        let trigger = match &event {
            None if invocation.kind.is_http() => "http",
            None => "other",
            Some(event) => event.trigger,
        };
        let route = self.route(&invocation);
        let http_route = http_route(&invocation, route);
        let mut root = SpanData::start(&context, None, span_name(&invocation, http_route, telemetry));
        root.set("faas.trigger", trigger);
        root.set("faas.invocation_id", meta.request_id.to_owned());
        root.set("faas.coldstart", cold_start);
        set_function_attributes(&mut root, telemetry, meta.invoked_function_arn);
        if let Some(event) = event {
            if let Some(system) = event.system {
                root.set("messaging.system", system);
                root.set("messaging.operation.type", "process");
            }
            if event.records > 1 {
                root.set("messaging.batch.message_count", i64::try_from(event.records).unwrap_or(i64::MAX));
            }
            root.links = event.links;
        }

        let redactor = route.redactor.as_ref().unwrap_or(&config.redactor);
        let log_span = tracing::info_span!(
            "invocation",
            requestId = meta.request_id,
            traceId = %Hex(&context.trace_id),
            spanId = %Hex(&root.span_id),
        );
        let mut spans = Vec::with_capacity(4);
        let mut detections = Vec::new();
        let admitted = {
            let mut trace = FilterTrace { context: &context, root: &root, spans: &mut spans };
            let filters = self.run_filters(&invocation, route, self.now(), Some(&mut trace), &mut detections);
            filters.instrument(log_span.clone()).await
        };
        match detections.as_slice() {
            [] => {}
            // The invocation goes on; the server span says what detect mode would have refused.
            [one] => root.set("intercept.would_reject", one.reason),
            several => {
                let mut reasons: Vec<&str> = Vec::with_capacity(several.len());
                for detection in several {
                    if !reasons.contains(&detection.reason) {
                        reasons.push(detection.reason);
                    }
                }
                root.set("intercept.would_reject", reasons.join(","));
            }
        }
        // Only a log subscriber could write the credentials anywhere.
        let secrets = tracing::dispatcher::has_been_set().then(|| Arc::from(redactor.secrets_of(&invocation)));
        let mut panicked = None;
        let mut timed_out = false;
        let (outcome, metric_outcome, reason) = match admitted {
            Err(rejection) => {
                let _entered = log_span.enter();
                tracing::info!(reason = rejection.reason(), status = rejection.status(), "request rejected");
                root.set("intercept.decision", "rejected");
                root.set("intercept.reason", rejection.reason());
                if invocation.kind.is_http() {
                    // A 4xx leaves a server span's status unset (HTTP semantic conventions).
                    root.set("http.response.status_code", i64::from(rejection.status()));
                } else {
                    root.set("error.type", rejection.error_type());
                    root.set_error(rejection.error_type());
                }
                let reason = rejection.reason();
                (shape(rejection, &invocation), MetricOutcome::Rejected, Some(reason))
            }
            Ok(mut admitted) => {
                root.set("intercept.decision", "allowed");
                let mut handler_span = SpanData::start(&context, Some(&root), "handler");
                let sampler = route.sampler.as_ref().unwrap_or(&config.sampler);
                admitted.trace = Some(HandlerTrace {
                    trace_id: context.trace_id,
                    span_id: handler_span.span_id,
                    sampled: !detections.is_empty() || sampler.should_sample(&context.trace_id, context.sampled),
                });
                let handler_log_span = tracing::info_span!(
                    parent: &log_span,
                    "handler",
                    requestId = meta.request_id,
                    traceId = %Hex(&context.trace_id),
                    spanId = %Hex(&handler_span.span_id),
                );
                if let Some(principal) = &admitted.principal {
                    // Who called, by name (never a credential): X-Ray's `principal` annotation.
                    root.set("enduser.id", principal.subject.clone());
                }
                let handled = with_secrets(secrets, handler(admitted)).instrument(handler_log_span);
                // A panicking handler still leaves its spans and metrics; the panic goes on
                // (to `lambda_runtime`, which reports it) once they are recorded.
                let caught = AssertUnwindSafe(handled).catch_unwind();
                let caught = match time_to_deadline(meta.deadline_ms) {
                    None => caught.await,
                    Some(left) => {
                        let mut caught = std::pin::pin!(caught);
                        tokio::select! {
                            biased;
                            caught = &mut caught => caught,
                            () = tokio::time::sleep(left) => {
                                // Close the spans with a timeout status and send them now: Lambda
                                // may stop the environment at the deadline, and the trace that
                                // explains a timeout must not go with it.
                                let timeout = TimedOut { started, trigger, http_route, cold_start, sampled: true };
                                self.record_timeout(telemetry, &timeout, &root, &handler_span, &spans, &invocation, redactor, &detections, meta.deadline_ms);
                                timed_out = true;
                                let flushed = telemetry.exporter.flush();
                                futures_util::future::join(&mut caught, flushed).await.0
                            }
                        }
                    }
                };
                let result = match caught {
                    Ok(result) => result,
                    Err(payload) => {
                        panicked = Some(payload);
                        Err(Diagnostic {
                            error_type: "Runtime.Panic".to_owned(),
                            error_message: "the handler panicked".to_owned(),
                        })
                    }
                };
                let mut failed = None;
                match &result {
                    Ok(response) => {
                        if invocation.kind.is_http()
                            && let Some(status) =
                                serde_json::from_str::<StatusProbe>(response.get()).ok().and_then(|p| p.status_code)
                        {
                            root.set("http.response.status_code", i64::from(status));
                            if status >= 500 {
                                failed = Some(status.to_string());
                            }
                        }
                    }
                    Err(diagnostic) => {
                        handler_span.set("error.type", diagnostic.error_type.clone());
                        handler_span.set_error(diagnostic.error_type.clone());
                        failed = Some(diagnostic.error_type.clone());
                    }
                }
                handler_span.end();
                spans.push(handler_span);
                let metric_outcome = match failed {
                    Some(error_type) => {
                        root.set("error.type", error_type.clone());
                        root.set_error(error_type);
                        MetricOutcome::Error
                    }
                    None => MetricOutcome::Success,
                };
                (Outcome::Handled(result), metric_outcome, None)
            }
        };
        if timed_out {
            // Recorded and sent at the timeout; the late answer still goes to the runtime.
            if let Some(payload) = panicked {
                std::panic::resume_unwind(payload);
            }
            return outcome;
        }
        root.end();
        // Rejections, and what detect mode would have rejected, are kept whatever the sampler says.
        let sampler = route.sampler.as_ref().unwrap_or(&config.sampler);
        let sampled = metric_outcome == MetricOutcome::Rejected
            || !detections.is_empty()
            || sampler.should_sample(&context.trace_id, context.sampled);
        let exporter = &telemetry.exporter;
        exporter.measure(&Measurement {
            trigger,
            route: http_route,
            outcome: metric_outcome,
            reason,
            cold_start,
            duration: started.elapsed(),
            detections: &detections,
        });
        set_http_attributes(&mut root, &invocation, http_route, redactor);
        spans.insert(0, root);
        exporter.record(spans, sampled);
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
        outcome
    }
}

/// How long before the deadline an invocation that is still running has its spans closed with a
/// timeout status and sent (both placements; the extension flushes them 100 ms before the
/// deadline). Sending to the extension on localhost takes about a millisecond; the rest is
/// room for a loaded machine.
pub const TIMEOUT_MARGIN: std::time::Duration = std::time::Duration::from_millis(150);

/// Time until [`TIMEOUT_MARGIN`] before `deadline_ms` (epoch milliseconds); `None` when there
/// is no deadline, or no time left to wait.
fn time_to_deadline(deadline_ms: u64) -> Option<std::time::Duration> {
    if deadline_ms == 0 {
        return None;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    let left = std::time::Duration::from_millis(deadline_ms).checked_sub(now)?.checked_sub(TIMEOUT_MARGIN)?;
    Some(left)
}

/// What a timeout record needs of the invocation besides its spans.
struct TimedOut<'a> {
    started: Instant,
    trigger: &'static str,
    http_route: Option<&'a str>,
    cold_start: bool,
    sampled: bool,
}

impl Interceptor {
    /// Records copies of the invocation's spans closed now with a timeout status, and its
    /// metrics as an error, for an invocation still running [`TIMEOUT_MARGIN`] before its
    /// deadline.
    #[allow(clippy::too_many_arguments)]
    fn record_timeout(
        &self,
        telemetry: &Telemetry,
        timeout: &TimedOut<'_>,
        root: &SpanData,
        handler_span: &SpanData,
        spans: &[SpanData],
        invocation: &Invocation,
        redactor: &Redactor,
        detections: &[crate::interceptor::Detection],
        deadline_ms: u64,
    ) {
        let message = format!("the invocation was still running {} ms before its deadline", TIMEOUT_MARGIN.as_millis());
        let mut handler_span = handler_span.clone();
        handler_span.set("error.type", "timeout");
        handler_span.set_error(message.clone());
        handler_span.end();
        let mut root = root.clone();
        root.set("error.type", "timeout");
        root.set("faas.timeout", true);
        root.set("faas.deadline_ms", i64::try_from(deadline_ms).unwrap_or(i64::MAX));
        root.set_error(message);
        root.end();
        set_http_attributes(&mut root, invocation, timeout.http_route, redactor);
        let mut all = Vec::with_capacity(spans.len() + 2);
        all.push(root);
        all.extend(spans.iter().cloned());
        all.push(handler_span);
        telemetry.exporter.measure(&Measurement {
            trigger: timeout.trigger,
            route: timeout.http_route,
            outcome: MetricOutcome::Error,
            reason: None,
            cold_start: timeout.cold_start,
            duration: timeout.started.elapsed(),
            detections,
        });
        telemetry.exporter.record(all, timeout.sampled);
    }
}

fn shape(rejection: Rejection, invocation: &Invocation) -> Outcome {
    let answer = if invocation.kind.is_http() {
        serde_json::value::to_raw_value(&rejection.to_http_response(invocation.kind)).map_err(|error| Diagnostic {
            error_type: "Runtime.SerializationError".to_owned(),
            error_message: format!("the rejection cannot be serialized: {error}"),
        })
    } else {
        Err(rejection.to_diagnostic())
    };
    Outcome::Rejected { rejection, answer }
}

/// The route template of an HTTP request: the trigger's (API Gateway's route), else the policy
/// route that matched its canonical path; never a raw path, so names and metrics stay few.
fn http_route<'a>(invocation: &'a Invocation, route: &'a RouteFilters) -> Option<&'a str> {
    invocation.route().or_else(|| route.route.as_deref().and_then(|key| key.split_once(' ')).map(|(_, path)| path))
}

/// `METHOD /route` for HTTP triggers (the template, never a raw path, so names stay few),
/// the function's name otherwise, as the FaaS conventions say.
fn span_name(invocation: &Invocation, http_route: Option<&str>, telemetry: &Telemetry) -> Cow<'static, str> {
    match (invocation.method(), http_route) {
        (Some(method), Some(route)) => Cow::Owned(format!("{method} {route}")),
        (Some(method), None) => Cow::Owned(method.to_owned()),
        _ => telemetry.config.function.name.clone().map_or(Cow::Borrowed("invoke"), Cow::Owned),
    }
}

fn set_function_attributes(span: &mut SpanData, telemetry: &Telemetry, arn: &str) {
    span.set("cloud.provider", "aws");
    if let Some(name) = &telemetry.function_name {
        span.set("faas.name", Value::Shared(name.clone()));
    }
    if let Some(version) = &telemetry.function_version {
        span.set("faas.version", Value::Shared(version.clone()));
    }
    if let Some(region) = &telemetry.region {
        span.set("cloud.region", Value::Shared(region.clone()));
    }
    if arn.is_empty() {
        return;
    }
    let parse = || {
        // arn:aws:lambda:<region>:<account>:function:<name>[:<alias or version>]
        let mut parts = arn.split(':');
        let account = (parts.next() == Some("arn")).then(|| parts.nth(3)).flatten().filter(|a| !a.is_empty());
        (Arc::<str>::from(arn), account.map(Arc::from))
    };
    let cached = telemetry.arn.get_or_init(parse);
    let (arn, account) = if cached.0.as_ref() == arn { cached.clone() } else { parse() };
    span.set("cloud.resource_id", Value::Shared(arn));
    if let Some(account) = account {
        span.set("cloud.account.id", Value::Shared(account));
    }
}

/// The HTTP attributes.
fn set_http_attributes(span: &mut SpanData, invocation: &Invocation, http_route: Option<&str>, redactor: &Redactor) {
    if let Some(agent) = invocation.header("user-agent") {
        span.set("user_agent.original", redactor.value("user-agent", agent).to_owned());
    }
    let strings = [
        ("http.request.method", invocation.method()),
        ("http.route", http_route),
        ("url.path", invocation.path()),
        ("client.address", invocation.source_ip()),
    ];
    for (key, value) in strings {
        if let Some(value) = value {
            span.set(key, value.to_owned());
        }
    }
}

/// Lower-case hex, written only when a subscriber records the field.
/// The handler's span as the handler should continue it: its trace and span ids and whether the
/// trace is sampled. The Runtime API proxy hands it to the runtime as the invocation's
/// `Lambda-Runtime-Trace-Id` (so `_X_AMZN_TRACE_ID`) and, in HTTP events, a `traceparent`
/// header, so an OpenTelemetry SDK in the function continues the same trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerTrace {
    /// The trace id.
    pub trace_id: [u8; 16],
    /// The handler span's id, the parent of whatever the handler records.
    pub span_id: [u8; 8],
    /// Whether the trace is sampled (exported).
    pub sampled: bool,
}

impl HandlerTrace {
    /// The W3C `traceparent` header: `00-<trace id>-<span id>-<flags>`.
    ///
    /// ```
    /// # use intercept::HandlerTrace;
    /// # fn show(trace: HandlerTrace) {
    /// let header = trace.traceparent(); // "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    /// # }
    /// ```
    #[must_use]
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", Hex(&self.trace_id), Hex(&self.span_id), if self.sampled { "01" } else { "00" })
    }

    /// The X-Ray trace header: `Root=1-<8 hex>-<24 hex>;Parent=<span id>;Sampled=<0|1>`.
    #[must_use]
    pub fn xray_header(&self) -> String {
        let (epoch, unique) = self.trace_id.split_at(4);
        format!(
            "Root=1-{}-{};Parent={};Sampled={}",
            Hex(epoch),
            Hex(unique),
            Hex(&self.span_id),
            u8::from(self.sampled)
        )
    }
}

struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}
