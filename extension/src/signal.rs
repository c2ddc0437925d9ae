//! The three OTLP signals and what the extension needs to know about each encoding.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message as _;

/// Traces, metrics or logs: what an OTLP export request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `ExportTraceServiceRequest`, counted in spans.
    Traces,
    /// `ExportMetricsServiceRequest`, counted in data points.
    Metrics,
    /// `ExportLogsServiceRequest`, counted in log records.
    Logs,
}

/// A payload that is not an export request of its signal.
#[derive(Debug, thiserror::Error)]
#[error("malformed {signal} export request: {problem}")]
pub struct MalformedPayload {
    signal: &'static str,
    problem: String,
}

impl Signal {
    /// Every signal, in flush order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The OTLP/HTTP path (`/v1/traces`, ...).
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// The signal's name (`traces`, `metrics`, `logs`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// Index into per-signal arrays.
    #[must_use]
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn malformed(self, problem: impl ToString) -> MalformedPayload {
        MalformedPayload { signal: self.name(), problem: problem.to_string() }
    }

    /// Checks a protobuf export request and counts its items (spans, data points, records).
    ///
    /// # Errors
    /// [`MalformedPayload`] when the bytes do not decode.
    pub fn count_protobuf(self, body: &[u8]) -> Result<u64, MalformedPayload> {
        match self {
            Signal::Traces => {
                ExportTraceServiceRequest::decode(body).map(|r| count_traces(&r)).map_err(|e| self.malformed(e))
            }
            Signal::Metrics => {
                ExportMetricsServiceRequest::decode(body).map(|r| count_metrics(&r)).map_err(|e| self.malformed(e))
            }
            Signal::Logs => {
                ExportLogsServiceRequest::decode(body).map(|r| count_logs(&r)).map_err(|e| self.malformed(e))
            }
        }
    }

    /// Decodes a protobuf export request: its item count, and the request itself for traces and
    /// metrics (which the AWS-native exporters read, so the extension decodes it once).
    ///
    /// # Errors
    /// [`MalformedPayload`] when the bytes do not decode.
    pub(crate) fn decode_protobuf(self, body: &[u8]) -> Result<(u64, Option<Decoded>), MalformedPayload> {
        match self {
            Signal::Traces => ExportTraceServiceRequest::decode(body)
                .map(|r| (count_traces(&r), Some(Decoded::Traces(r))))
                .map_err(|e| self.malformed(e)),
            Signal::Metrics => ExportMetricsServiceRequest::decode(body)
                .map(|r| (count_metrics(&r), Some(Decoded::Metrics(r))))
                .map_err(|e| self.malformed(e)),
            Signal::Logs => self.count_protobuf(body).map(|items| (items, None)),
        }
    }

    /// [`Signal::json_to_protobuf`], keeping the decoded request as [`Signal::decode_protobuf`] does.
    ///
    /// # Errors
    /// [`MalformedPayload`] when the JSON is not an export request.
    pub(crate) fn decode_json(self, body: &[u8]) -> Result<(Vec<u8>, u64, Option<Decoded>), MalformedPayload> {
        match self {
            Signal::Traces => serde_json::from_slice::<ExportTraceServiceRequest>(body)
                .map(|r| (r.encode_to_vec(), count_traces(&r), Some(Decoded::Traces(r))))
                .map_err(|e| self.malformed(e)),
            Signal::Metrics => serde_json::from_slice::<ExportMetricsServiceRequest>(body)
                .map(|r| (r.encode_to_vec(), count_metrics(&r), Some(Decoded::Metrics(r))))
                .map_err(|e| self.malformed(e)),
            Signal::Logs => self.json_to_protobuf(body).map(|(bytes, items)| (bytes, items, None)),
        }
    }

    /// Turns an OTLP/JSON export request into protobuf, counting its items.
    ///
    /// # Errors
    /// [`MalformedPayload`] when the JSON is not an export request.
    pub fn json_to_protobuf(self, body: &[u8]) -> Result<(Vec<u8>, u64), MalformedPayload> {
        match self {
            Signal::Traces => serde_json::from_slice::<ExportTraceServiceRequest>(body)
                .map(|r| (r.encode_to_vec(), count_traces(&r)))
                .map_err(|e| self.malformed(e)),
            Signal::Metrics => serde_json::from_slice::<ExportMetricsServiceRequest>(body)
                .map(|r| (r.encode_to_vec(), count_metrics(&r)))
                .map_err(|e| self.malformed(e)),
            Signal::Logs => serde_json::from_slice::<ExportLogsServiceRequest>(body)
                .map(|r| (r.encode_to_vec(), count_logs(&r)))
                .map_err(|e| self.malformed(e)),
        }
    }

    /// Decodes a logs export request, protobuf or OTLP/JSON, as [`Signal::count_protobuf`] and
    /// [`Signal::json_to_protobuf`] read it (the same errors).
    pub(crate) fn decode_logs(body: &[u8], json: bool) -> Result<ExportLogsServiceRequest, MalformedPayload> {
        if json {
            serde_json::from_slice::<ExportLogsServiceRequest>(body).map_err(|e| Signal::Logs.malformed(e))
        } else {
            ExportLogsServiceRequest::decode(body).map_err(|e| Signal::Logs.malformed(e))
        }
    }
}

/// A decoded export request, handed along with its bytes so nothing decodes it twice.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Data points.
    Metrics(ExportMetricsServiceRequest),
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) fn count_traces(request: &ExportTraceServiceRequest) -> u64 {
    let spans = request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len());
    spans.sum::<usize>() as u64
}

pub(crate) fn count_metrics(request: &ExportMetricsServiceRequest) -> u64 {
    let points = request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).map(|m| {
        match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
            None => 0,
        }
    });
    points.sum::<usize>() as u64
}

pub(crate) fn count_logs(request: &ExportLogsServiceRequest) -> u64 {
    let records = request.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len());
    records.sum::<usize>() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_protobuf_agree_and_garbage_is_refused() {
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a",
             "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000"},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"b"}]}]}]}"#;
        let (protobuf, count) = Signal::Traces.json_to_protobuf(json).expect("valid JSON");
        assert_eq!(count, 2);
        assert_eq!(Signal::Traces.count_protobuf(&protobuf).expect("valid"), 2);
        assert!(Signal::Traces.count_protobuf(b"\xff\xff\xff").is_err());
        assert!(Signal::Logs.json_to_protobuf(b"{\"resourceLogs\": 3}").is_err());
    }
}
