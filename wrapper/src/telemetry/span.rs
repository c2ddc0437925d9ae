//! The invocation span: FaaS and HTTP semantic-convention attributes on an OTLP span.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};
use rand::Rng as _;

use super::TraceContext;
use crate::invocation::Invocation;

/// A server span being recorded for one invocation.
#[derive(Debug)]
pub struct InvocationSpan {
    span: Span,
}

impl InvocationSpan {
    /// Opens the span for an invocation, continuing `context`.
    #[must_use]
    pub fn start(invocation: &Invocation, context: TraceContext, request_id: &str, cold_start: bool) -> Self {
        let name = match (&invocation.method, invocation.route_or_path()) {
            (Some(method), Some(route)) => format!("{method} {route}"),
            _ => "invoke".to_owned(),
        };
        let mut attributes = vec![
            string("faas.trigger", invocation.kind.faas_trigger()),
            string("faas.invocation_id", request_id),
            bool_attr("faas.coldstart", cold_start),
            string("cloud.provider", "aws"),
        ];
        let optional = [
            ("http.request.method", invocation.method.as_deref()),
            ("http.route", invocation.route.as_deref()),
            ("url.path", invocation.path.as_deref()),
            ("client.address", invocation.source_ip.as_deref()),
            ("user_agent.original", invocation.header("user-agent")),
        ];
        attributes.extend(optional.into_iter().filter_map(|(key, value)| Some(string(key, value?))));
        let span = Span {
            trace_id: context.trace_id.to_vec(),
            span_id: rand::rng().random::<[u8; 8]>().to_vec(),
            parent_span_id: context.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
            name,
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: unix_nanos(),
            attributes,
            ..Span::default()
        };
        InvocationSpan { span }
    }

    /// Adds a string attribute.
    pub fn set(&mut self, key: &str, value: &str) {
        self.span.attributes.push(string(key, value));
    }

    /// Records the HTTP status the invocation answered with.
    pub fn set_status_code(&mut self, status: u16) {
        self.span
            .attributes
            .push(attribute("http.response.status_code", any_value::Value::IntValue(i64::from(status))));
    }

    /// Marks the span as failed.
    pub fn set_error(&mut self, message: &str) {
        self.span.status = Some(Status { code: status::StatusCode::Error as i32, message: message.to_owned() });
    }

    /// Closes the span.
    #[must_use]
    pub fn end(mut self) -> Span {
        self.span.end_time_unix_nano = unix_nanos();
        self.span
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

pub(crate) fn string(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.to_owned()))
}

fn bool_attr(key: &str, value: bool) -> KeyValue {
    attribute(key, any_value::Value::BoolValue(value))
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..KeyValue::default() }
}
