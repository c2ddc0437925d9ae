//! Entry points for the fuzz targets in `fuzz/` (not part of the API).

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use crate::emf::{Emf, MAX_DIMENSIONS, MAX_METRICS, MAX_VALUES};
use crate::xray::{HEADER, MAX_DATAGRAM, datagram};

/// Whatever a function sends as OTLP metrics or spans, the EMF lines and X-Ray documents made
/// of it are valid JSON within the formats' limits, and nothing panics.
///
/// # Panics
/// When an output breaks those rules (that is the finding).
pub fn native_exporters(data: &[u8]) {
    if let Ok(request) = ExportMetricsServiceRequest::decode(data) {
        let mut emf = Emf::new("Fuzz", "fuzz");
        // Twice: the second export of the same cumulative series goes through the delta path.
        for _ in 0..2 {
            emf.add(&request);
            let mut out = Vec::new();
            emf.write(&mut out, 1).expect("writing to a Vec");
            for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let line: serde_json::Value = serde_json::from_slice(line).expect("an EMF line is JSON");
                let directive = &line["_aws"]["CloudWatchMetrics"][0];
                let dimensions = directive["Dimensions"][0].as_array().expect("a dimension set");
                assert!(dimensions.len() <= MAX_DIMENSIONS);
                for name in dimensions {
                    assert!(line[name.as_str().expect("a name")].is_string(), "dimension {name} is a string member");
                }
                let metrics = directive["Metrics"].as_array().expect("metrics");
                assert!(!metrics.is_empty() && metrics.len() <= MAX_METRICS);
                for metric in metrics {
                    let value = &line[metric["Name"].as_str().expect("a name")];
                    match value {
                        serde_json::Value::Number(_) => {}
                        serde_json::Value::Array(values) => {
                            assert!(values.len() <= MAX_VALUES && values.iter().all(serde_json::Value::is_number));
                        }
                        other => panic!("metric value {other}"),
                    }
                }
            }
        }
    }
    if let Ok(request) = ExportTraceServiceRequest::decode(data) {
        for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
            if let Some(bytes) = datagram(span) {
                assert!(bytes.len() <= MAX_DATAGRAM);
                assert!(bytes.starts_with(HEADER.as_bytes()));
                let document: serde_json::Value =
                    serde_json::from_slice(&bytes[HEADER.len()..]).expect("an X-Ray document is JSON");
                assert!(document["trace_id"].as_str().is_some_and(|t| t.len() == 35));
            }
        }
    }
}
