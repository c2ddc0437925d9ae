//! Small builders for the OTLP messages the extension makes from platform events.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric::Data,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// The instrumentation scope of everything the extension makes itself.
const SCOPE: &str = "intercept-extension";

pub(crate) fn string_attribute(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..KeyValue::default()
    }
}

pub(crate) fn int_attribute(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
        ..KeyValue::default()
    }
}

/// The resource every platform signal is attributed to.
pub(crate) fn resource(service_name: &str, function_name: &str) -> Resource {
    Resource {
        attributes: vec![
            string_attribute("service.name", service_name),
            string_attribute("cloud.provider", "aws"),
            string_attribute("cloud.platform", "aws_lambda"),
            string_attribute("faas.name", function_name),
        ],
        ..Resource::default()
    }
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: SCOPE.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..InstrumentationScope::default()
    })
}

pub(crate) fn traces(resource: &Resource, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans { scope: scope(), spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
}

pub(crate) fn metrics(resource: &Resource, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics { scope: scope(), metrics, ..ScopeMetrics::default() }],
            ..ResourceMetrics::default()
        }],
    }
}

pub(crate) fn logs(resource: &Resource, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs { scope: scope(), log_records: records, ..ScopeLogs::default() }],
            ..ResourceLogs::default()
        }],
    }
}

fn point(time_ns: u64, value: number_data_point::Value, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint { attributes, time_unix_nano: time_ns, value: Some(value), ..NumberDataPoint::default() }
}

/// One measurement of a gauge (durations, memory): each invocation's own value.
pub(crate) fn gauge(name: &str, unit: &str, time_ns: u64, value: f64, attributes: Vec<KeyValue>) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![point(time_ns, number_data_point::Value::AsDouble(value), attributes)],
        })),
        ..Metric::default()
    }
}

/// A delta counter (timeouts, errors, dropped items) since `start_ns`.
pub(crate) fn counter(
    name: &str,
    unit: &str,
    start_ns: u64,
    time_ns: u64,
    value: i64,
    attributes: Vec<KeyValue>,
) -> Metric {
    let mut data_point = point(time_ns, number_data_point::Value::AsInt(value), attributes);
    data_point.start_time_unix_nano = start_ns;
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        data: Some(Data::Sum(Sum {
            data_points: vec![data_point],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Metric::default()
    }
}

/// Decodes lowercase or uppercase hex of exactly `len` bytes.
pub(crate) fn hex_bytes(text: &str, len: usize) -> Option<Vec<u8>> {
    if text.len() != len * 2 {
        return None;
    }
    hex::decode(text).ok()
}

/// A random, non-zero span id.
pub(crate) fn new_span_id() -> Vec<u8> {
    let id: u64 = rand::random::<u64>() | 1;
    id.to_be_bytes().to_vec()
}

/// The W3C trace id and parent span id inside an X-Ray header
/// (`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1`).
pub(crate) fn xray_context(header: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut trace = None;
    let mut parent = None;
    for part in header.split(';') {
        if let Some(root) = part.trim().strip_prefix("Root=1-") {
            trace = hex_bytes(&root.replace('-', ""), 16);
        } else if let Some(id) = part.trim().strip_prefix("Parent=") {
            parent = hex_bytes(id, 8);
        }
    }
    (trace, parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_header_gives_the_w3c_ids() {
        let (trace, parent) =
            xray_context("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(trace.as_deref().map(<[u8]>::len), Some(16));
        assert_eq!(trace.as_deref().map(|t| t[0]), Some(0x57));
        assert_eq!(parent, hex_bytes("53995c3f42cd8ad8", 8));
        assert_eq!(xray_context("garbage"), (None, None));
        assert_eq!(hex_bytes("zz", 1), None);
        // Either case (X-Ray headers and log lines), exactly `len` bytes.
        assert_eq!(hex_bytes("53995C3F42CD8AD8", 8), parent);
        assert_eq!(hex_bytes("53995c3f42cd8ad8", 4), None);
        assert_eq!(hex_bytes("53995c3f42cd8ad", 8), None);
        assert_eq!(hex_bytes("+3995c3f42cd8ad8", 8), None);
    }
}
