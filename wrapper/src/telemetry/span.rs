//! Spans recorded by hand: cheap to fill on the request path (static keys, no protobuf), turned
//! into OTLP spans only when the exporter flushes, after the response has been sent.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};
use rand::Rng as _;

use super::TraceContext;

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(Cow<'static, str>),
    /// A value shared by every invocation (the function's name), not copied per span.
    Shared(Arc<str>),
    Int(i64),
    Bool(bool),
}

impl From<&'static str> for Value {
    fn from(value: &'static str) -> Self {
        Value::Str(Cow::Borrowed(value))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Str(Cow::Owned(value))
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

/// A span's data as recorded; see [`SpanData::into_proto`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanData {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) parent_span_id: Option<[u8; 8]>,
    /// Whether the parent came from another process (OTLP span flags bit 9).
    pub(crate) remote_parent: bool,
    /// W3C `tracestate`, shared by the invocation's spans.
    pub(crate) trace_state: Option<Arc<str>>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: span::SpanKind,
    pub(crate) start_unix_nanos: u64,
    pub(crate) end_unix_nanos: u64,
    pub(crate) attributes: Vec<(&'static str, Value)>,
    pub(crate) links: Vec<span::Link>,
    /// An error status and its message; `None` leaves the status unset.
    pub(crate) error: Option<String>,
}

impl SpanData {
    /// A span starting now: the root of `context` (a server span) or a child of `parent`.
    pub(crate) fn start(context: &TraceContext, parent: Option<&SpanData>, name: impl Into<Cow<'static, str>>) -> Self {
        let (parent_span_id, kind, remote_parent, trace_state) = match parent {
            Some(parent) => (Some(parent.span_id), span::SpanKind::Internal, false, parent.trace_state.clone()),
            None => (
                context.parent_span_id,
                span::SpanKind::Server,
                context.parent_span_id.is_some(),
                (!context.trace_state.is_empty()).then(|| Arc::from(context.trace_state.as_str())),
            ),
        };
        SpanData {
            trace_id: context.trace_id,
            span_id: new_span_id(),
            parent_span_id,
            remote_parent,
            trace_state,
            name: name.into(),
            kind,
            start_unix_nanos: unix_nanos(),
            end_unix_nanos: 0,
            attributes: Vec::with_capacity(if parent.is_some() { 4 } else { 20 }),
            links: Vec::new(),
            error: None,
        }
    }

    /// Adds an attribute.
    pub(crate) fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.attributes.push((key, value.into()));
    }

    /// Marks the span as failed.
    pub(crate) fn set_error(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }

    /// Closes the span now.
    pub(crate) fn end(&mut self) {
        self.end_unix_nanos = unix_nanos().max(self.start_unix_nanos);
    }

    /// The OTLP span; `sampled` sets the W3C sampled flag in `flags`.
    pub(crate) fn into_proto(self, sampled: bool) -> Span {
        // OTLP span flags: the W3C trace flags in bits 0-7, bit 8 "has remote-parent info", bit 9 "is remote".
        let flags = u32::from(sampled) | 0x100 | if self.remote_parent { 0x200 } else { 0 };
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            trace_state: self.trace_state.map(|state| state.as_ref().to_owned()).unwrap_or_default(),
            parent_span_id: self.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
            flags,
            name: self.name.into_owned(),
            kind: self.kind as i32,
            start_time_unix_nano: self.start_unix_nanos,
            end_time_unix_nano: self.end_unix_nanos,
            attributes: self.attributes.into_iter().map(|(key, value)| key_value(key, value)).collect(),
            links: self.links,
            status: self.error.map(|message| Status { code: status::StatusCode::Error as i32, message }),
            ..Span::default()
        }
    }
}

fn new_span_id() -> [u8; 8] {
    let mut rng = rand::rng();
    loop {
        let id: [u8; 8] = rng.random();
        if id != [0; 8] {
            return id;
        }
    }
}

pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

pub(crate) fn key_value(key: &str, value: Value) -> KeyValue {
    let value = match value {
        Value::Str(text) => any_value::Value::StringValue(text.into_owned()),
        Value::Shared(text) => any_value::Value::StringValue(text.as_ref().to_owned()),
        Value::Int(number) => any_value::Value::IntValue(number),
        Value::Bool(flag) => any_value::Value::BoolValue(flag),
    };
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..KeyValue::default() }
}

pub(crate) fn string(key: &str, value: &str) -> KeyValue {
    key_value(key, Value::Str(Cow::Owned(value.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::ParentSource;

    #[test]
    fn root_and_child_spans_convert_to_otlp() {
        let context = TraceContext {
            trace_id: [1; 16],
            parent_span_id: Some([2; 8]),
            sampled: Some(true),
            trace_state: "k=v".to_owned(),
            baggage: Vec::new(),
            source: ParentSource::HttpHeaders,
        };
        let mut root = SpanData::start(&context, None, "GET /x");
        root.set("faas.coldstart", true);
        let mut child = SpanData::start(&context, Some(&root), "authentication");
        child.set("intercept.decision", "allowed");
        child.end();
        root.set_error("Handler.Failed");
        root.end();
        let (root_id, root) = (root.span_id, root.into_proto(true));
        assert_eq!((root.parent_span_id, root.kind, root.flags), (vec![2; 8], span::SpanKind::Server as i32, 0x301));
        assert_eq!(root.trace_state, "k=v");
        assert_eq!(
            root.status.map(|s| (s.code, s.message)),
            Some((status::StatusCode::Error as i32, "Handler.Failed".to_owned()))
        );
        let child = child.into_proto(false);
        assert_eq!(
            (child.parent_span_id, child.kind, child.flags),
            (root_id.to_vec(), span::SpanKind::Internal as i32, 0x100)
        );
        assert!(child.end_time_unix_nano >= child.start_time_unix_nano);
        assert_eq!(hex::encode([0x0a, 0xff]), "0aff");
    }
}
