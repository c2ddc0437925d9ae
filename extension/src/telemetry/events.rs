//! Turns Telemetry API events into OTLP: platform events into spans and metrics, function log
//! lines into log records, scrubbed of credentials.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};
use serde::Deserialize;
use serde_json::Value as Json;

use super::otlp::{self, hex_bytes, int_attribute, string_attribute};
use crate::secrets::LogSecrets;

/// One Telemetry API event.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    #[serde(default)]
    time: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    record: Json,
}

/// What one batch of events became.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    pub(crate) spans: Vec<Span>,
    pub(crate) metrics: Vec<Metric>,
    pub(crate) logs: Vec<LogRecord>,
    /// Request ids whose `platform.runtimeDone` was in the batch.
    pub(crate) runtime_done: Vec<String>,
}

#[derive(Debug, Clone)]
struct Started {
    time_ns: u64,
    trace_id: Vec<u8>,
    parent: Vec<u8>,
    span_id: Vec<u8>,
}

/// The state that links events of one invocation (start → runtimeDone → report).
#[derive(Debug)]
pub(crate) struct Converter {
    pub(crate) resource: Resource,
    init_start_ns: Option<u64>,
    started: HashMap<String, Started>,
    current_request: Option<String>,
    secrets: Arc<LogSecrets>,
}

fn time_ns(text: &str) -> u64 {
    let time = humantime::parse_rfc3339_weak(text).unwrap_or_else(|_| SystemTime::now());
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn ms_to_ns(ms: f64) -> u64 {
    (ms.max(0.0) * 1_000_000.0) as u64
}

fn new_trace_id() -> Vec<u8> {
    let id: u128 = rand::random::<u128>() | 1;
    id.to_be_bytes().to_vec()
}

impl Converter {
    pub(crate) fn new(resource: Resource, secrets: Arc<LogSecrets>) -> Self {
        Converter { resource, init_start_ns: None, started: HashMap::new(), current_request: None, secrets }
    }

    pub(crate) fn convert(&mut self, events: Vec<Event>) -> Converted {
        let mut out = Converted::default();
        for event in events {
            let at = time_ns(&event.time);
            let record = &event.record;
            match event.kind.as_str() {
                "platform.initStart" => self.init_start_ns = Some(at),
                "platform.initRuntimeDone" => {
                    let start = self.init_start_ns.unwrap_or(at);
                    let mut init = span("init", new_trace_id(), Vec::new(), start, at);
                    init.attributes.push(string_attribute("faas.trigger", "other"));
                    init.attributes
                        .push(string_attribute("lambda.status", record["status"].as_str().unwrap_or("success")));
                    out.spans.push(init);
                }
                "platform.start" => self.start(record, at),
                "platform.runtimeDone" => self.runtime_done(record, at, &mut out),
                "platform.report" => self.report(record, at, &mut out),
                "function" => out.logs.push(self.log_record(record, at)),
                _ => {}
            }
        }
        out
    }

    fn start(&mut self, record: &Json, at: u64) {
        let Some(request_id) = record["requestId"].as_str() else {
            return;
        };
        let (trace, parent) = otlp::xray_context(record["tracing"]["value"].as_str().unwrap_or(""));
        // Bounded: an invocation whose runtimeDone never came must not keep its entry forever.
        if self.started.len() > 64 {
            self.started.clear();
        }
        self.started.insert(
            request_id.to_owned(),
            Started {
                time_ns: at,
                trace_id: trace.unwrap_or_else(new_trace_id),
                parent: parent.unwrap_or_default(),
                span_id: otlp::new_span_id(),
            },
        );
        self.current_request = Some(request_id.to_owned());
    }

    fn runtime_done(&mut self, record: &Json, at: u64, out: &mut Converted) {
        let Some(request_id) = record["requestId"].as_str() else {
            return;
        };
        out.runtime_done.push(request_id.to_owned());
        // Its log lines came before it (the batch's earlier events); later ones are still
        // scrubbed until the next invocation finishes.
        self.secrets.finished(request_id);
        let duration = ms_to_ns(record["metrics"]["durationMs"].as_f64().unwrap_or(0.0));
        let started = self.started.remove(request_id).unwrap_or_else(|| Started {
            time_ns: at.saturating_sub(duration),
            trace_id: new_trace_id(),
            parent: Vec::new(),
            span_id: otlp::new_span_id(),
        });
        let status = record["status"].as_str().unwrap_or("success");
        let mut invoke = span("invoke", started.trace_id.clone(), started.parent, started.time_ns, at);
        invoke.span_id = started.span_id.clone();
        invoke.attributes.push(string_attribute("faas.invocation_id", request_id));
        invoke.attributes.push(string_attribute("lambda.status", status));
        if let Some(bytes) = record["metrics"]["producedBytes"].as_i64() {
            invoke.attributes.push(int_attribute("lambda.produced_bytes", bytes));
        }
        if status != "success" {
            invoke.status = Some(Status { message: status.to_owned(), code: status::StatusCode::Error as i32 });
        }
        // responseLatency and responseDuration, when the platform measured them.
        for phase in record["spans"].as_array().into_iter().flatten() {
            let Some(name) = phase["name"].as_str() else {
                continue;
            };
            let start = phase["start"].as_str().map_or(started.time_ns, time_ns);
            let end = start + ms_to_ns(phase["durationMs"].as_f64().unwrap_or(0.0));
            out.spans.push(span(name, started.trace_id.clone(), started.span_id.clone(), start, end));
        }
        out.spans.push(invoke);
    }

    fn report(&mut self, record: &Json, at: u64, out: &mut Converted) {
        let request_id = record["requestId"].as_str().unwrap_or_default();
        let attributes = || vec![string_attribute("faas.invocation_id", request_id)];
        let metrics = &record["metrics"];
        for (field, name, unit) in [
            ("durationMs", "aws.lambda.duration", "ms"),
            ("billedDurationMs", "aws.lambda.billed_duration", "ms"),
            ("maxMemoryUsedMB", "aws.lambda.max_memory_used", "MBy"),
            ("initDurationMs", "aws.lambda.init_duration", "ms"),
        ] {
            if let Some(value) = metrics[field].as_f64() {
                out.metrics.push(otlp::gauge(name, unit, at, value, attributes()));
            }
        }
        let status = record["status"].as_str().unwrap_or("success");
        let start = self.started.get(request_id).map_or(at, |s| s.time_ns);
        let count = |name: &str, out: &mut Converted| {
            out.metrics.push(otlp::counter(name, "{invocation}", start, at, 1, attributes()));
        };
        match status {
            "timeout" => count("aws.lambda.timeouts", out),
            "error" | "failure" => count("aws.lambda.errors", out),
            _ => {}
        }
    }

    fn log_record(&self, record: &Json, at: u64) -> LogRecord {
        let (body, fields) = match record {
            Json::String(line) => (line.clone(), None),
            Json::Object(fields) => (
                fields.get("message").and_then(Json::as_str).map_or_else(|| record.to_string(), str::to_owned),
                Some(record),
            ),
            other => (other.to_string(), None),
        };
        let field = |names: &[&str]| fields.and_then(|f| names.iter().find_map(|n| f[*n].as_str().map(str::to_owned)));
        let request_id = field(&["requestId", "request_id", "AWSRequestId"]).or_else(|| self.current_request.clone());
        let trace_id = field(&["traceId", "trace_id"])
            .and_then(|t| hex_bytes(&t, 16))
            .or_else(|| hex_after(&body, &["trace_id=", "traceId=", "\"trace_id\":\"", "\"traceId\":\""], 16));
        let span_id = field(&["spanId", "span_id"])
            .and_then(|s| hex_bytes(&s, 8))
            .or_else(|| hex_after(&body, &["span_id=", "spanId=", "\"span_id\":\"", "\"spanId\":\""], 8));
        // The ids above are read first: a scrubbed value cannot be one of them.
        let scrubbed = match self.secrets.scrub(&body) {
            Cow::Owned(scrubbed) => Some(scrubbed),
            Cow::Borrowed(_) => None,
        };
        let body = scrubbed.unwrap_or(body);
        let mut attributes: Vec<KeyValue> = Vec::new();
        if let Some(request_id) = request_id {
            attributes.push(string_attribute("faas.invocation_id", request_id));
        }
        LogRecord {
            time_unix_nano: at,
            observed_time_unix_nano: at,
            severity_text: field(&["level", "severity"]).unwrap_or_default(),
            body: Some(AnyValue { value: Some(any_value::Value::StringValue(body)) }),
            attributes,
            trace_id: trace_id.unwrap_or_default(),
            span_id: span_id.unwrap_or_default(),
            ..LogRecord::default()
        }
    }
}

/// The hex id of `len` bytes that follows one of `markers` in a text log line.
fn hex_after(line: &str, markers: &[&str], len: usize) -> Option<Vec<u8>> {
    markers.iter().find_map(|marker| {
        let start = line.find(marker)? + marker.len();
        hex_bytes(line.get(start..start + len * 2)?, len)
    })
}

fn span(name: &str, trace_id: Vec<u8>, parent: Vec<u8>, start_ns: u64, end_ns: u64) -> Span {
    Span {
        trace_id,
        span_id: otlp::new_span_id(),
        parent_span_id: parent,
        name: name.to_owned(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: end_ns.max(start_ns),
        ..Span::default()
    }
}

#[cfg(test)]
mod tests;
