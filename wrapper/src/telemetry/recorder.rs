//! The telemetry of one invocation, as [`Interceptor::handle`](crate::Interceptor::handle)
//! reports to it: extract the context, open the server span, record the filters as child
//! spans and the handler in its own, close the spans and record the metrics. The tower layer
//! and the Runtime API proxy both use `handle`, so every placement gets the same telemetry.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::Diagnostic;
use serde_json::value::RawValue;

use super::context::{Carriers, TraceContext};
use super::export::OtlpExporter;
use super::links::event_trigger;
use super::metrics::{Measurement, Outcome as MetricOutcome};
use super::redact::Redactor;
use super::settings::TelemetryConfig;
use super::span::{SpanData, Value, unix_nanos};
use crate::interceptor::{Admitted, BuildError, Detection};
use crate::invocation::{Invocation, InvocationMeta};
use crate::policy::filters::RouteFilters;
use crate::rejection::Rejection;

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

/// The telemetry of one invocation, as the interceptor's flow reports to it: the server span
/// continuing the caller's trace, a child span per filter and for the handler, the metrics,
/// and the log spans carrying the request, trace and span ids. When telemetry is off it is a
/// no-op ([`Recorder::off`]): every method returns at once and the flow is the same.
#[derive(Debug)]
pub(crate) struct Recorder<'a> {
    active: Option<Recording<'a>>,
}

/// One invocation's telemetry while it runs.
#[derive(Debug)]
struct Recording<'a> {
    telemetry: &'a Telemetry,
    invocation: &'a Invocation,
    route: &'a RouteFilters,
    started: Instant,
    context: TraceContext,
    trigger: &'static str,
    http_route: Option<&'a str>,
    cold_start: bool,
    policy_digest: &'a str,
    deadline_ms: u64,
    request_id: String,
    root: SpanData,
    spans: Vec<SpanData>,
    handler_span: Option<SpanData>,
    log_span: tracing::Span,
    outcome: MetricOutcome,
    reason: Option<&'static str>,
    /// Set once the spans were closed and sent at the timeout margin.
    timed_out: bool,
}

impl<'a> Recorder<'a> {
    /// The no-op recorder, for telemetry off.
    pub(crate) fn off() -> Self {
        Recorder { active: None }
    }

    /// Opens the server span of an invocation (a no-op recorder when `telemetry` is `None`).
    pub(crate) fn start(
        telemetry: Option<&'a Telemetry>,
        raw: &RawValue,
        invocation: &'a Invocation,
        route: &'a RouteFilters,
        meta: InvocationMeta<'_>,
        cold_start: bool,
        policy_digest: &'a str,
    ) -> Self {
        let Some(telemetry) = telemetry else { return Recorder::off() };
        let started = Instant::now();
        let config = &telemetry.config;
        let carriers = Carriers { client_context: meta.client_context, lambda_trace_id: meta.xray_trace_id };
        let context = TraceContext::extract(config.propagators, invocation, carriers);
        let event = if invocation.kind.is_http() { None } else { event_trigger(raw, config.propagators) };
        let trigger = match &event {
            None if invocation.kind.is_http() => "http",
            None => "other",
            Some(event) => event.trigger,
        };
        let http_route = http_route(invocation, route);
        let mut root = SpanData::start(&context, None, span_name(invocation, http_route, telemetry));
        root.set("faas.trigger", trigger);
        root.set("faas.invocation_id", meta.request_id.to_owned());
        root.set("faas.coldstart", cold_start);
        // The policy version that decided, so a rollout can be watched.
        root.set("intercept.policy.digest", policy_digest.to_owned());
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
        let log_span = tracing::info_span!(
            "invocation",
            requestId = meta.request_id,
            traceId = %Hex(&context.trace_id),
            spanId = %Hex(&root.span_id),
        );
        Recorder {
            active: Some(Recording {
                telemetry,
                invocation,
                route,
                started,
                context,
                trigger,
                http_route,
                cold_start,
                policy_digest,
                deadline_ms: meta.deadline_ms,
                request_id: meta.request_id.to_owned(),
                root,
                spans: Vec::with_capacity(4),
                handler_span: None,
                log_span,
                outcome: MetricOutcome::Success,
                reason: None,
                timed_out: false,
            }),
        }
    }

    /// The log span the filters run in (none when telemetry is off).
    pub(crate) fn log_span(&self) -> tracing::Span {
        self.active.as_ref().map_or_else(tracing::Span::none, |active| active.log_span.clone())
    }

    /// Where the filters record their child spans.
    pub(crate) fn filter_trace(&mut self) -> Option<FilterTrace<'_>> {
        let active = self.active.as_mut()?;
        Some(FilterTrace { context: &active.context, root: &active.root, spans: &mut active.spans })
    }

    /// What detect mode would have refused: the server span says so; the invocation goes on.
    pub(crate) fn detected(&mut self, detections: &[Detection]) {
        let Some(active) = self.active.as_mut() else { return };
        match detections {
            [] => {}
            [one] => active.root.set("intercept.would_reject", one.reason),
            several => {
                let mut reasons: Vec<&str> = Vec::with_capacity(several.len());
                for detection in several {
                    if !reasons.contains(&detection.reason) {
                        reasons.push(detection.reason);
                    }
                }
                active.root.set("intercept.would_reject", reasons.join(","));
            }
        }
    }

    /// A filter refused the invocation.
    pub(crate) fn rejected(&mut self, rejection: &Rejection) {
        let Some(active) = self.active.as_mut() else { return };
        let _entered = active.log_span.enter();
        tracing::info!(reason = rejection.reason(), status = rejection.status(), "request rejected");
        let root = &mut active.root;
        root.set("intercept.decision", "rejected");
        root.set("intercept.reason", rejection.reason());
        if active.invocation.kind.is_http() {
            // A 4xx leaves a server span's status unset (HTTP semantic conventions).
            root.set("http.response.status_code", i64::from(rejection.status()));
        } else {
            root.set("error.type", rejection.error_type());
            root.set_error(rejection.error_type());
        }
        active.outcome = MetricOutcome::Rejected;
        active.reason = Some(rejection.reason());
    }

    /// The filters admitted the invocation: opens the handler's span and hands it to the
    /// handler in `admitted.trace`; returns the log span the handler runs in and the
    /// invocation's secrets for the log redaction (none when telemetry is off).
    pub(crate) fn admitted(
        &mut self,
        admitted: &mut Admitted,
        detected: bool,
    ) -> (tracing::Span, Option<Arc<[String]>>) {
        let Some(active) = self.active.as_mut() else { return (tracing::Span::none(), None) };
        active.root.set("intercept.decision", "allowed");
        let context = &active.context;
        let handler_span = SpanData::start(context, Some(&active.root), "handler");
        let sampler = active.route.sampler.as_ref().unwrap_or(&active.telemetry.config.sampler);
        admitted.trace = Some(HandlerTrace {
            trace_id: context.trace_id,
            span_id: handler_span.span_id,
            sampled: detected || sampler.should_sample(&context.trace_id, context.sampled),
        });
        let log_span = tracing::info_span!(
            parent: &active.log_span,
            "handler",
            requestId = active.request_id.as_str(),
            traceId = %Hex(&context.trace_id),
            spanId = %Hex(&handler_span.span_id),
        );
        active.handler_span = Some(handler_span);
        if let Some(principal) = &admitted.principal {
            // Who called, by name (never a credential): X-Ray's `principal` annotation.
            active.root.set("enduser.id", principal.subject.clone());
        }
        // Only a log subscriber could write the credentials anywhere.
        let secrets =
            tracing::dispatcher::has_been_set().then(|| Arc::from(active.redactor().secrets_of(active.invocation)));
        (log_span, secrets)
    }

    /// How long the handler may run before its spans are closed with a timeout status and
    /// sent ([`TIMEOUT_MARGIN`] before the deadline); `None` when telemetry is off or there is
    /// no deadline.
    pub(crate) fn time_to_deadline(&self) -> Option<std::time::Duration> {
        self.active.as_ref().and_then(|active| time_to_deadline(active.deadline_ms))
    }

    /// The handler is still running at the timeout margin: records copies of the spans closed
    /// now with a timeout status, and the metrics as an error, and sends them. Lambda may stop
    /// the environment at the deadline, and the trace that explains a timeout must not go with it.
    pub(crate) async fn timed_out(&mut self, detections: &[Detection]) {
        let Some(active) = self.active.as_mut() else { return };
        active.record_timeout(detections);
        active.timed_out = true;
        active.telemetry.exporter.flush().await;
    }

    /// The handler answered (or panicked, as `Runtime.Panic`).
    pub(crate) fn handled(&mut self, result: &Result<Box<RawValue>, Diagnostic>) {
        let Some(active) = self.active.as_mut() else { return };
        let Some(mut handler_span) = active.handler_span.take() else { return };
        let mut failed = None;
        match result {
            Ok(response) => {
                if active.invocation.kind.is_http()
                    && let Some(status) =
                        serde_json::from_str::<StatusProbe>(response.get()).ok().and_then(|p| p.status_code)
                {
                    active.root.set("http.response.status_code", i64::from(status));
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
        active.spans.push(handler_span);
        if let Some(error_type) = failed {
            active.root.set("error.type", error_type.clone());
            active.root.set_error(error_type);
            active.outcome = MetricOutcome::Error;
        }
    }

    /// Closes the server span and records the spans and metrics (unless they were sent at the
    /// timeout margin already).
    pub(crate) fn finish(self, detections: &[Detection]) {
        let Some(mut active) = self.active else { return };
        if active.timed_out {
            // Recorded and sent at the timeout; the late answer still goes to the runtime.
            return;
        }
        active.root.end();
        // Rejections, and what detect mode would have rejected, are kept whatever the sampler says.
        let context = &active.context;
        let sampler = active.route.sampler.as_ref().unwrap_or(&active.telemetry.config.sampler);
        let sampled = active.outcome == MetricOutcome::Rejected
            || !detections.is_empty()
            || sampler.should_sample(&context.trace_id, context.sampled);
        let exporter = &active.telemetry.exporter;
        exporter.measure(&Measurement {
            trigger: active.trigger,
            route: active.http_route,
            outcome: active.outcome,
            reason: active.reason,
            cold_start: active.cold_start,
            duration: active.started.elapsed(),
            policy: active.policy_digest,
            detections,
        });
        let redactor = active.route.redactor.as_ref().unwrap_or(&active.telemetry.config.redactor);
        set_http_attributes(&mut active.root, active.invocation, active.http_route, redactor);
        let mut spans = active.spans;
        for span in &mut spans {
            span.set("intercept.policy.digest", active.policy_digest.to_owned());
        }
        spans.insert(0, active.root);
        exporter.record(spans, sampled);
    }
}

impl Recording<'_> {
    /// The route's redactor, else the environment's.
    fn redactor(&self) -> &Redactor {
        self.route.redactor.as_ref().unwrap_or(&self.telemetry.config.redactor)
    }

    /// Records copies of the invocation's spans closed now with a timeout status, and its
    /// metrics as an error, for an invocation still running [`TIMEOUT_MARGIN`] before its
    /// deadline.
    fn record_timeout(&self, detections: &[Detection]) {
        let message = format!("the invocation was still running {} ms before its deadline", TIMEOUT_MARGIN.as_millis());
        let mut root = self.root.clone();
        root.set("error.type", "timeout");
        root.set("faas.timeout", true);
        root.set("faas.deadline_ms", i64::try_from(self.deadline_ms).unwrap_or(i64::MAX));
        root.set_error(message.clone());
        root.end();
        set_http_attributes(&mut root, self.invocation, self.http_route, self.redactor());
        let mut all = Vec::with_capacity(self.spans.len() + 2);
        all.push(root);
        all.extend(self.spans.iter().cloned());
        if let Some(handler_span) = &self.handler_span {
            let mut handler_span = handler_span.clone();
            handler_span.set("error.type", "timeout");
            handler_span.set_error(message);
            handler_span.end();
            all.push(handler_span);
        }
        self.telemetry.exporter.measure(&Measurement {
            trigger: self.trigger,
            route: self.http_route,
            outcome: MetricOutcome::Error,
            reason: None,
            cold_start: self.cold_start,
            duration: self.started.elapsed(),
            policy: self.policy_digest,
            detections,
        });
        // Sampled: a timeout is always kept.
        self.telemetry.exporter.record(all, true);
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
    /// # use intercept::telemetry::HandlerTrace;
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
